//! The one error type of `privsplit-fe`.

use std::path::PathBuf;

/// Every failure of `privsplit-fe`.
///
/// Structural problems with inputs (lengths, dimensions, ranges, encodings, files) are reported precisely:
/// they carry no secret. Failures *of decryption itself* (the discrete logarithm was not found inside the
/// declared bound, which is what a ciphertext/key mismatch or a tampered ciphertext produces) are one
/// opaque variant, [`Error::Decryption`], whose reason ([`DecryptionFailure`]) says only which public check
/// failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A vector or matrix had the wrong number of entries.
    #[error("{what}: expected {expected} entries, got {got}")]
    Length {
        /// Which input.
        what: &'static str,
        /// Expected number of entries.
        expected: usize,
        /// Number of entries given.
        got: usize,
    },
    /// A dimension (vector length, number of hidden units or outputs) did not match the other party's.
    #[error("{what}: dimension mismatch, expected {expected}, got {got}")]
    Dimension {
        /// Which object.
        what: &'static str,
        /// Expected dimension.
        expected: usize,
        /// Dimension found.
        got: usize,
    },
    /// An input value (a pixel, a vector entry) lies outside the range the public key declares.
    #[error("{what}[{index}] = {value} is outside the declared range [{min}, {max}]")]
    InputOutOfRange {
        /// Which input.
        what: &'static str,
        /// Position of the offending value.
        index: usize,
        /// The value.
        value: i64,
        /// Lowest allowed value.
        min: i64,
        /// Highest allowed value.
        max: i64,
    },
    /// A parameter was invalid (zero dimension, table size, bit width, NaN weight ...).
    #[error("invalid parameter {what}: {reason}")]
    Parameter {
        /// Which parameter.
        what: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// A functional key or ciphertext belongs to another model or master key.
    #[error("{what} does not match: it was made for another {other}")]
    Mismatch {
        /// Which object does not match.
        what: &'static str,
        /// What it was made for ("model", "master public key").
        other: &'static str,
    },
    /// A serialised object was malformed: wrong magic, version, length, truncated data, a group element
    /// that is not a valid compressed point of the prime-order subgroup.
    #[error("malformed {what}: {reason}")]
    Format {
        /// Which object was being read.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The integer range of a model does not fit the exponent arithmetic (64-bit discrete-log bound).
    #[error("{what} overflows: {reason}")]
    Overflow {
        /// Which quantity.
        what: &'static str,
        /// Details.
        reason: String,
    },
    /// Decryption failed. The reason is public information only (no secret is ever included).
    #[error("decryption failed: {0}")]
    Decryption(DecryptionFailure),
    /// File input/output failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Why a decryption failed; deliberately coarse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecryptionFailure {
    /// The decrypted group element is not `g_T^v` for any `v` with `|v| <= bound`: the value lies outside
    /// the declared discrete-log bound, or the key and ciphertext do not belong together.
    OutOfBound {
        /// The bound that was searched, `[-bound, bound]`.
        bound: u64,
    },
    /// The declared bound needs more giant steps than the table's cap allows; the search stopped at
    /// `[-searched, searched]` without finding the value (use a larger table, or a model / input range
    /// with a smaller bound).
    SearchCapped {
        /// The declared bound.
        bound: u64,
        /// The bound actually searched.
        searched: u64,
    },
}

impl std::fmt::Display for DecryptionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecryptionFailure::OutOfBound { bound } => write!(
                f,
                "no discrete logarithm in [-{bound}, {bound}] (value outside the bound, or key and ciphertext do not belong together)"
            ),
            DecryptionFailure::SearchCapped { bound, searched } => write!(
                f,
                "no discrete logarithm in [-{searched}, {searched}]; the declared bound {bound} needs more giant steps than the table's cap (use a larger discrete-log table)"
            ),
        }
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn format(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Format {
            what,
            reason: reason.into(),
        }
    }
    pub(crate) fn param(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Parameter {
            what,
            reason: reason.into(),
        }
    }
}
