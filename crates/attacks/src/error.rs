//! The error type of `privsplit-attacks`.

privsplit_io::error_enum! {
    /// Errors of attacks and metrics.
    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        /// A model operation (training, evaluation, weight I/O) failed.
        #[error(transparent)]
        Model(#[from] privsplit_models::Error),
        /// A classic baseline (logistic regression, k-NN via linfa) failed.
        #[error("{method}: {detail}")]
        Classic {
            /// The baseline (`"logistic"`, `"knn"`).
            method: String,
            /// The library's message.
            detail: String,
        },
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
