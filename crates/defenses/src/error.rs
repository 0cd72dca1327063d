//! The error type of `privsplit-defenses`.

/// Errors of defences.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument, tensor or file does not have the expected form.
    #[error("{what}: expected {expected}, got {got}")]
    Invalid {
        /// What was checked (an input name, a layer, a file).
        what: String,
        /// What was expected.
        expected: String,
        /// What was found.
        got: String,
    },
    /// An I/O operation on `path` failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder involved.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A model operation (training, evaluation, weight I/O) failed.
    #[error(transparent)]
    Model(#[from] privsplit_models::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
