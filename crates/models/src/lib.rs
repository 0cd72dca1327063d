#![doc = include_str!("../README.md")]

mod error;
pub use error::{Error, Result};

// -- collateral learning (issue 2): quadratic private net, public head, adversaries, training --
pub mod adversary;
pub mod quadratic;
pub mod tensor;
pub mod train;

// -- splittable zoo (issue 4): stages, partition points, zoo, weights --
pub mod stage;
pub mod tabular;
pub mod weights;
pub mod zoo;
