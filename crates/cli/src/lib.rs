//! The `privsplit` command line: a thin clap front over the library crates.
//!
//! Every subcommand lives in [`cmd`], one module each, as a clap `Args` struct and a `run` function, so that
//! integration tests can call them without spawning the binary. The main job's pipeline and its config are
//! in [`experiment`].

pub mod cmd;
pub mod encryption_step;
pub mod experiment;
pub mod overrides;
