//! The error type of `privsplit-models`.

privsplit_io::error_enum! {
    /// Errors of model construction, splitting, training and weight I/O.
    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        /// Saving or loading weights (safetensors) at `path` failed.
        #[error("weights {path}: {detail}")]
        Store {
            /// The weight file.
            path: std::path::PathBuf,
            /// What went wrong (the store's message).
            detail: String,
        },
        /// Training produced a non-finite loss (the learning rate is usually too high).
        #[error(
            "{phase}: training diverged (loss {loss}) in epoch {epoch}; try a lower learning rate"
        )]
        Diverged {
            /// The training phase.
            phase: String,
            /// The epoch, from 1.
            epoch: usize,
            /// The loss seen.
            loss: f32,
        },
        /// The compute device `device` (`--device`) cannot be used: not compiled in, or no driver.
        #[error("device {device}: {reason}")]
        Device {
            /// The device asked for (`flex`, `cpu`, `cuda`, `wgpu`).
            device: String,
            /// Why it cannot be used and how to fix it (the cargo feature or the driver).
            reason: String,
        },
        /// An atomic file write (weights) failed.
        #[error(transparent)]
        Write(#[from] privsplit_io::Error),
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
