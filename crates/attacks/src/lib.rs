#![doc = include_str!("../README.md")]

mod error;
pub use error::{Error, Result};

// -- attribute inference (issue 2): collateral adversaries and classic baselines --
pub mod classic;
pub mod collateral;

// -- input reconstruction (issue 4): metrics, c-GAN, inverse network, rMLE, partition sweep --
pub mod cgan;
pub mod decoder;
pub mod inverse;
pub mod metrics;
pub mod natural;
pub mod rmle;
pub mod sweep;
pub mod victim;

// -- tabular workload (TON_IoT): row reconstruction, per-feature metrics, partition sweep --
pub mod tabular_inversion;
pub mod tabular_metrics;
pub mod tabular_sweep;
