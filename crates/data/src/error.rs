//! The error type of `privsplit-data`.

/// Errors of dataset generation, reading and writing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on `path` failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder involved.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An argument or a dataset does not have the expected form.
    #[error("{what}: expected {expected}, got {got}")]
    Invalid {
        /// What was checked (an input name or a file).
        what: String,
        /// What was expected.
        expected: String,
        /// What was found.
        got: String,
    },
    /// Installed data (a dataset or photographs) is missing or unreadable.
    #[error(
        "{what} not readable at {path} ({detail}); install it with `{}`",
        crate::installed::INSTALL_STEP
    )]
    NotInstalled {
        /// What is missing ("Fashion-MNIST", "scikit-image photographs").
        what: String,
        /// Where it was looked for.
        path: std::path::PathBuf,
        /// Why it could not be read.
        detail: String,
    },
    /// An atomic file write failed.
    #[error(transparent)]
    Write(#[from] privsplit_io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
