//! The main job, `privsplit run`: one experiment config (TOML, embedded default, `--set` overrides) ->
//! one run folder with the leakage report across both protections.

pub mod config;
pub mod defence;
mod figures;
mod human;
pub mod overrides;
pub mod pipeline;
pub mod report;
mod tables;
mod write;

pub use config::{DefendStepConfig, RunConfig, RunFlags, SweepStepConfig, DEFAULT_CONFIG};
pub use pipeline::{run, RunSummary};
pub use report::RunReport;
pub use write::write_report;

/// A CSV table: file name, header, rows.
pub type CsvTable = (String, Vec<String>, Vec<Vec<String>>);
