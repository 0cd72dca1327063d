//! One module per subcommand: clap arguments and a `run` function.

pub mod bench;
pub mod collateral;
pub mod data;
pub mod defend;
pub mod fe;
pub mod infer;
pub mod plan;
pub mod predict;
pub mod run;
pub mod serve;
pub mod sweep;
pub mod tabular;

/// `--device` and `--threads`, flattened into every training command and `serve untrusted`.
pub use privsplit_models::device::DeviceArgs;
