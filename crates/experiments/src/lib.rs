#![doc = include_str!("../README.md")]

mod error;
pub use error::{failure_class, Error, FailureClass, Result, StepContext, INSTALL_STEP};

// The main job: config -> run folder with the leakage report across both protections.
pub mod run;

// The experiments it is made of, each also a job of its own.
pub mod collateral;
pub mod defend;
pub mod encryption;
pub mod fe_jobs;
pub mod sweep;
pub mod tabular;

// Cluster plans (Slurm job arrays, Kubernetes Indexed Jobs) for sweeps and alpha grids.
pub mod plan;

// Dataset jobs, benchmarks, progress bars.
pub mod bench;
pub mod datasets;
pub mod progress;
pub mod timing;
