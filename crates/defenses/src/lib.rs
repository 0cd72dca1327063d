#![doc = include_str!("../README.md")]

mod error;
pub use error::{Error, Result};

pub mod adversarial_objective;
pub mod divergence;
pub mod experiment;
pub mod semi_adversarial;
pub mod synthetic;

pub use experiment::{
    run_collateral, run_main_task, AlphaOutcome, Attacker, CollateralConfig, CollateralOutcome,
    MainTaskOutcome, TrainedSplit,
};
