//! The crate's one error type.
//!
//! Failures of decryption, evidence verification and attestation are a single opaque public variant
//! each ([`Error::Channel`], [`Error::Attestation`]): the precise reason is kept in a private enum that
//! is printed (it never carries key material) but cannot be matched on, so callers cannot build logic
//! on "which check failed".

use std::path::PathBuf;

/// Errors of the split-inference services, the channel, attestation and the wire format.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame on the wire does not follow `docs/WIRE.md`.
    #[error("malformed frame: {what}: expected {expected}, got {got}")]
    Frame {
        /// Which field of the frame.
        what: &'static str,
        /// What the format requires.
        expected: String,
        /// What was received.
        got: String,
    },
    /// A tensor does not have the shape a partition expects.
    #[error("tensor {what}: expected shape {expected:?}, got {got:?}")]
    Shape {
        /// Which tensor.
        what: &'static str,
        /// Expected shape (`[batch, channels, height, width]` for images; 0 = any size).
        expected: Vec<usize>,
        /// Received shape.
        got: Vec<usize>,
    },
    /// The encrypted channel failed: handshake, decryption (modified, replayed or reordered message), or
    /// the session was already ended by an earlier failure.
    #[error("encrypted channel failure: {0}")]
    Channel(ChannelFailure),
    /// Attestation evidence could not be produced, or was rejected by the verifier / policy.
    #[error("attestation failure: {0}")]
    Attestation(AttestationFailure),
    /// The peer answered with an error message (its text, as sent).
    #[error("remote error from {peer}: {message}")]
    Remote {
        /// `trusted` or `untrusted`.
        peer: &'static str,
        /// The peer's message.
        message: String,
    },
    /// The untrusted-partition service cannot be reached or went away with the request in flight.
    #[error("untrusted-partition service {addr} unavailable: {reason}")]
    Upstream {
        /// Its address.
        addr: String,
        /// What happened (connect refused, connection lost, timeout after N ms).
        reason: String,
    },
    /// An operation ran past its time limit.
    #[error("{what} timed out after {ms} ms")]
    Timeout {
        /// What was waited for.
        what: &'static str,
        /// The limit, in milliseconds.
        ms: u64,
    },
    /// A partition executor failed.
    #[error("partition executor failed: {0}")]
    Exec(String),
    /// A bounded resource is exhausted (load shedding): the request is refused, not queued.
    #[error("overloaded: {what} is full (limit {limit})")]
    Overloaded {
        /// Which queue or pool.
        what: &'static str,
        /// Its configured bound.
        limit: usize,
    },
    /// The untrusted partition's result failed verification by the trusted partition
    /// ([`crate::verify`]): the untrusted service computed a wrong linear-layer output.
    #[error("untrusted result rejected by verification at {layer}: {reason}")]
    Verification {
        /// The layer (stage name and operation) whose claimed output is wrong.
        layer: String,
        /// What did not match (largest deviation and the tolerance, or a shape).
        reason: String,
    },
    /// Invalid configuration.
    #[error("invalid configuration: {what}: {reason}")]
    Config {
        /// Which setting.
        what: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// File or socket I/O.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file, device or address.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// JSON (de)serialisation of evidence or collateral.
    #[error("JSON error in {what}: {source}")]
    Json {
        /// What was being read or written.
        what: &'static str,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// Error from the models crate.
    #[cfg(feature = "staged")]
    #[error(transparent)]
    Models(#[from] privsplit_models::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Opaque reason for an encrypted-channel failure (printable, not matchable).
#[derive(Debug)]
pub struct ChannelFailure(pub(crate) ChannelReason);

#[derive(Debug)]
pub(crate) enum ChannelReason {
    Handshake(String),
    Decrypt,
    SessionEnded,
    Closed,
    TooLarge { len: usize, max: usize },
    PeerKey(String),
}

impl std::fmt::Display for ChannelFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            ChannelReason::Handshake(s) => write!(f, "Noise handshake failed: {s}"),
            ChannelReason::Decrypt => write!(
                f,
                "message failed authentication (modified, replayed or reordered); session ended"
            ),
            ChannelReason::SessionEnded => {
                write!(f, "session already ended by an earlier failure")
            }
            ChannelReason::Closed => write!(f, "peer closed the connection"),
            ChannelReason::TooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the limit of {max} bytes")
            }
            ChannelReason::PeerKey(s) => write!(
                f,
                "link handshake failed: the peer does not hold the pinned static key ({s})"
            ),
        }
    }
}

/// Opaque reason for an attestation failure (printable, not matchable).
#[derive(Debug)]
pub struct AttestationFailure(pub(crate) AttestReason);

#[derive(Debug)]
pub(crate) enum AttestReason {
    /// The signature chain / quote did not verify.
    Signature(String),
    /// Report data does not equal SHA-512(domain || handshake hash).
    ReportData,
    /// Measurement not in the policy's allowed list.
    Measurement(String),
    /// A pinned TDX register (RTMR, MRCONFIGID, MROWNER, ...) differs.
    Register {
        name: &'static str,
        expected: String,
        got: String,
    },
    /// TCB below the policy minimum.
    Tcb(String),
    /// Debug-enabled TEE.
    Debug,
    /// Insecure development evidence not explicitly accepted.
    InsecureDevRejected,
    /// The evidence source (device / file protocol) failed.
    Source(String),
    /// Evidence could not be parsed.
    Parse(String),
    /// Policy configuration problem (for example no allowed measurement).
    Policy(String),
}

impl std::fmt::Display for AttestationFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            AttestReason::Signature(s) => write!(f, "evidence signature rejected: {s}"),
            AttestReason::ReportData => write!(
                f,
                "report data does not bind this channel (expected SHA-512(domain || handshake hash))"
            ),
            AttestReason::Measurement(m) => write!(f, "measurement {m} is not allowed by the policy"),
            AttestReason::Register {
                name,
                expected,
                got,
            } => write!(f, "{name} {got} does not equal the pinned {expected}"),
            AttestReason::Tcb(s) => write!(f, "TCB below policy minimum: {s}"),
            AttestReason::Debug => write!(f, "debug-enabled TEE rejected by policy"),
            AttestReason::InsecureDevRejected => write!(
                f,
                "server sent insecure-dev evidence (no TEE) and the client did not opt in (--allow-insecure-dev)"
            ),
            AttestReason::Source(s) => write!(f, "evidence source failed: {s}"),
            AttestReason::Parse(s) => write!(f, "evidence unparsable: {s}"),
            AttestReason::Policy(s) => write!(f, "policy: {s}"),
        }
    }
}

pub(crate) fn attest(reason: AttestReason) -> Error {
    Error::Attestation(AttestationFailure(reason))
}

pub(crate) fn channel(reason: ChannelReason) -> Error {
    Error::Channel(ChannelFailure(reason))
}

pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
    Error::Io {
        path: path.into(),
        source,
    }
}

impl From<std::io::Error> for Error {
    /// Stream errors inside `tokio_util` codecs (no path known).
    fn from(source: std::io::Error) -> Self {
        Error::Io {
            path: PathBuf::from("<stream>"),
            source,
        }
    }
}
