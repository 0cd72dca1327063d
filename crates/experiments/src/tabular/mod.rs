//! The tabular workload (TON_IoT network traffic, the seed paper's second workload; Rajasekar et al. 2024,
//! §4): train the intrusion-detection MLP, sweep its partition points with the inverse network, the c-GAN
//! and white-box rMLE on the preprocessed rows, and recommend a partition point. Data from a TON_IoT CSV
//! file or SYNTHETIC rows in its layout (`privsplit_data::tabular`); every report says which.
//!
//! By concern: [`config`] (data source, training and sweep settings, presets), [`data`] (table, stratified
//! split, preprocessing), [`run`] (training, the sweep, the recommendation rule [`recommend`]),
//! [`report`] (reports and their files) and [`job`] (one call from settings to a model folder or a run
//! folder: `privsplit tabular train` / `privsplit tabular sweep`).

pub mod config;
pub mod data;
pub mod job;
pub mod report;
pub mod run;

pub use config::{
    RowAttacks, TabularPreset, TabularSource, TabularSweepConfig, TabularSweepOverrides,
    TabularTrainConfig, DEFAULT_MARGIN,
};
pub use data::{load_table, TabularRows};
pub use job::{
    sweep_job, train_job, TabularSweepJob, TabularSweepOutcome, TabularTrainJob,
    TabularTrainOutcome, MODEL_FILE,
};
pub use report::{TabularSweepReport, TabularTrainReport};
pub use run::{recommend, run_tabular_sweep, train, TabularSweepData, TrainedTabular};
