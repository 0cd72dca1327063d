//! End-to-end tests of the `privsplit` binary, one module per command (small sizes; the real experiment
//! is `privsplit run`). They run the built binary (`CARGO_BIN_EXE_privsplit`), as a user would.
#![allow(clippy::unwrap_used)] // tests: a panic with the value is the failure report

mod cli;
mod defend;
mod device;
mod onnx;
mod plan;
mod predict;
mod run;
mod sweep;
mod tabular;
mod util;
