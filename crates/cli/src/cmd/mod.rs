//! One module per subcommand.

pub mod bench;
pub mod bench_serve;
pub mod bench_sweep;
pub mod bench_train;
pub mod collateral;
pub mod data;
pub mod fe;
pub mod infer;
pub mod run;
pub mod serve;
pub mod sweep;
