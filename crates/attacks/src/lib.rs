#![doc = include_str!("../README.md")]

mod error;
pub use error::{Error, Result};

// Which attacks exist: the reconstruction and the attribute-inference catalogues.
pub mod catalogue;
pub use catalogue::{attack_attribute, AttributeAttacker, ReconstructionAttack};

// Attribute inference: neural collateral adversaries and classic baselines on `output(x)`.
pub mod classic;
pub mod collateral;

// Input reconstruction from a feature map: c-GAN, inverse network (shared decoder), white-box rMLE.
pub mod cgan;
pub mod decoder;
pub mod inverse;
pub mod rmle;

// Scores: SSIM and PSNR.
pub mod metrics;

// Tabular workload (TON_IoT): row reconstruction and per-feature metrics (the sweep: privsplit_experiments::tabular).
pub mod tabular_inversion;
pub mod tabular_metrics;
