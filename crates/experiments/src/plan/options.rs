//! The command line's options of a plan (`privsplit plan sweep|collateral`): where it goes, its name, the
//! binary and the per-task resources.

use std::path::PathBuf;

use super::spec::{PlanGrid, PlanSpec, Resources};
use crate::Result;

/// Where a plan goes and what each task gets: the options shared by `privsplit plan sweep` and `plan
/// collateral` ([`PlanOptions::spec`]).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct PlanOptions {
    /// Plan folder, on storage every node sees (created; scripts, plan.json, shards/, logs/).
    #[cfg_attr(feature = "clap", arg(long))]
    pub dir: PathBuf,
    /// Plan name (job names): lower-case letters, digits, '-'.
    #[cfg_attr(feature = "clap", arg(long, default_value = "privsplit"))]
    pub name: String,
    /// The privsplit binary as the nodes see it (default: this binary).
    #[cfg_attr(feature = "clap", arg(long))]
    pub bin: Option<String>,
    /// Per-task resources.
    #[cfg_attr(feature = "clap", command(flatten))]
    pub resources: Resources,
}

impl PlanOptions {
    /// The plan of `grid` with these options ([`PlanSpec::new`]); empty GPU arguments (from repeated
    /// spaces) are dropped.
    ///
    /// # Errors
    /// As [`PlanSpec::new`].
    pub fn spec(mut self, grid: PlanGrid) -> Result<PlanSpec> {
        self.resources.gpu_args.retain(|a| !a.is_empty());
        PlanSpec::new(&self.name, &self.dir, self.bin, grid, self.resources)
    }
}
