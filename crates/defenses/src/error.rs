//! The error type of `privsplit-defenses`.

privsplit_io::error_enum! {
    /// Errors of defences.
    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        /// A model operation (training, evaluation, weight I/O) failed.
        #[error(transparent)]
        Model(#[from] privsplit_models::Error),
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
