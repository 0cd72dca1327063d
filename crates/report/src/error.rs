//! The error type of `privsplit-report`.

privsplit_io::error_enum! {
    /// Errors of report writing.
    #[derive(Debug, thiserror::Error)]
    pub enum Error {
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
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
