//! One module per subcommand: clap arguments and a `run` function.

pub mod arch;
pub mod bench;
pub mod collateral;
pub mod data;
pub mod fe;
pub mod infer;
pub mod plan;
pub mod predict;
pub mod run;
pub mod serve;
pub mod sweep;
pub mod tabular;

/// A command-line value that is well formed for clap but wrong for the command (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
