#![doc = include_str!("../README.md")]

mod error;
pub use error::{Error, Result};

// Defences against attribute inference from `output(x)`.
pub mod adversarial_objective;
pub mod divergence;
pub mod mmd;
pub mod schedule;
pub mod semi_adversarial;

// Defences of the partition point against input reconstruction from the feature map at k.
pub mod dcor;
pub mod nopeek;
pub mod partition_defence;
pub mod reconstruction;

// A tiny seeded two-style dataset for tests and smoke runs of the defence.
pub mod synthetic;
