//! The error type of `privsplit-onnx`.

use std::path::PathBuf;

/// Errors of loading an ONNX model, choosing a cut node and running the model up to it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model file could not be read.
    #[error("ONNX model {path}: {source}")]
    Io {
        /// The model file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a decodable ONNX model (truncated, not protobuf, not an ONNX `ModelProto`) or its
    /// graph cannot be built (a malformed node).
    #[error("ONNX model {path}: not a readable ONNX model ({detail})")]
    Decode {
        /// The model file.
        path: PathBuf,
        /// The decoder's message chain.
        detail: String,
    },
    /// The graph uses ONNX operators the runtime does not implement, on the way to the requested output.
    #[error(
        "ONNX model {path}: unsupported operator(s) {ops} (nodes {nodes}); tract-onnx {} does not implement them",
        crate::TRACT_VERSION
    )]
    UnsupportedOps {
        /// The model file.
        path: PathBuf,
        /// The operator types, comma-separated.
        ops: String,
        /// The nodes using them, comma-separated.
        nodes: String,
    },
    /// An argument (cut node, input shape, images) does not have the expected form.
    #[error("{what}: expected {expected}, got {got}")]
    Invalid {
        /// What was checked (the cut node, the input shape, the images).
        what: String,
        /// What was expected.
        expected: String,
        /// What was found.
        got: String,
    },
    /// The graph does not accept the requested input shape, or the runtime failed on it.
    #[error("ONNX model {path}: {step} failed at input shape {input:?}: {detail}")]
    Runtime {
        /// The model file.
        path: PathBuf,
        /// What was being done (shape analysis of the prefix up to a cut node, optimisation, a run).
        step: String,
        /// The input shape `[batch, channels, height, width]`.
        input: [usize; 4],
        /// The runtime's message chain.
        detail: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The full message chain of a tract error (`anyhow`-style, outermost first).
pub(crate) fn chain(e: &tract_onnx::prelude::TractError) -> String {
    format!("{e:#}")
}
