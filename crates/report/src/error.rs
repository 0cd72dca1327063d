//! The error type of `privsplit-report`.

/// Errors of report writing.
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
    /// Drawing or encoding a plot or an image grid for `path` failed.
    #[error("{path}: rendering failed: {message}")]
    Render {
        /// The output file.
        path: std::path::PathBuf,
        /// What the drawing or encoding library reported.
        message: String,
    },
    /// An atomic file write failed.
    #[error(transparent)]
    Write(#[from] privsplit_io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
