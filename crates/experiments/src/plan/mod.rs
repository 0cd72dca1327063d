//! Cluster plans: a sweep cut into independent shards (one per partition point for a partition-point
//! sweep, one per alpha and seed for a collateral-learning alpha grid), written as a Slurm job array with a
//! merge job that depends on it, and as a Kubernetes Indexed Job; [`merge`] checks the finished shards
//! against the plan's manifest and joins them.
//!
//! Each shard runs the ordinary command line (`privsplit sweep --points K`, `privsplit collateral --alpha A
//! --seed S`) into its own folder. Shards are deterministic: every random step of a shard takes its seed
//! from the configuration, never from the node, the array index or the order in which shards ran, so a
//! shard's numbers equal those of the same command run in one process.
//!
//! By concern: [`spec`] (what to plan and the manifest `plan.json`), [`options`] (the command line's plan
//! folder, name, binary and resources), [`slurm`] (batch scripts), [`kube`]
//! (Kubernetes manifests), [`merge`] (checking and joining the shards).

pub mod kube;
pub mod merge;
pub mod options;
pub mod shards;
pub mod slurm;
pub mod spec;

pub use merge::{check_shards, merge_plan, MergedPlan, ShardOutput};
pub use options::PlanOptions;
pub use shards::{build_manifest, write_plan};
pub use spec::{
    config_sha256, file_sha256, CollateralGrid, GridData, PlanGrid, PlanManifest, PlanSpec,
    Resources, ShardParams, ShardSpec, SweepGrid, MANIFEST_FILE,
};
