#![doc = include_str!("../README.md")]

mod cut;
mod error;
mod graph;

pub use cut::Cut;
pub use error::{Error, Result};
pub use graph::{CutNode, OnnxModel};

/// The pinned version of the ONNX runtime (`tract-onnx`), for messages and reports.
pub const TRACT_VERSION: &str = "0.23.9";
