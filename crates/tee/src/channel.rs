//! The client <-> trusted-service channel: Noise `NN_25519_ChaChaPoly_SHA256` via `snow`.
//!
//! Noise NN (Perrin, *The Noise Protocol Framework*, rev. 34, §7.4) gives confidentiality and integrity
//! against a passive network but no authentication of either side. Authentication of the server comes
//! from attestation: the trusted service binds the handshake hash `h` (Noise §5.2, `GetHandshakeHash`) into
//! the 64-byte report data of its attestation evidence as `SHA-512(REPORT_DATA_DOMAIN || h)`
//! ([`report_data_for`]), and the client checks that binding before it sends any input. A
//! man-in-the-middle runs two handshakes with two different `h`, so the enclave's evidence cannot match
//! the client's channel.
//!
//! Transport messages use Noise's implicit 64-bit nonce counter: a replayed, reordered, dropped-then-
//! resumed or modified message fails ChaCha20-Poly1305 authentication. Any failure ends the session
//! (the state is discarded; every later call returns an error).
//!
//! A channel message (of any size up to the frame limit) is split into chunks of at most
//! [`CHUNK_PLAINTEXT`] bytes, each sealed as one Noise transport message (at most 65,535 bytes), and
//! the ciphertexts are concatenated into one record (`docs/WIRE.md`).

use sha2::{Digest, Sha512};
use snow::{HandshakeState, TransportState};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{channel, ChannelReason, Error, Result};
use crate::wire::{read_record, read_record_timed, write_record, Frame, ReadTimeouts};

/// Noise protocol name.
pub const NOISE_PARAMS: &str = "Noise_NN_25519_ChaChaPoly_SHA256";
/// Noise prologue: binds the application protocol and its version into the handshake.
pub const PROLOGUE: &[u8] = b"privsplit-tee/channel/v1";
/// Domain separator for the report data: `SHA-512(REPORT_DATA_DOMAIN || handshake_hash)`.
pub const REPORT_DATA_DOMAIN: &[u8] = b"privsplit-tee/v1/report-data/noise-handshake-hash";
/// Largest Noise message (Noise §3).
pub const NOISE_MAX_MSG: usize = 65_535;
/// AEAD tag length, bytes.
pub const TAG_BYTES: usize = 16;
/// Plaintext bytes per Noise transport message.
pub const CHUNK_PLAINTEXT: usize = NOISE_MAX_MSG - TAG_BYTES;

/// The 64-byte report data that binds attestation evidence to a channel:
/// `SHA-512(REPORT_DATA_DOMAIN || handshake_hash)`.
pub fn report_data_for(handshake_hash: &[u8]) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(REPORT_DATA_DOMAIN);
    h.update(handshake_hash);
    h.finalize().into()
}

/// Ciphertext record size for a plaintext of `n` bytes.
pub fn sealed_len(n: usize) -> usize {
    let chunks = n.div_ceil(CHUNK_PLAINTEXT).max(1);
    n + chunks * TAG_BYTES
}

/// The record layout that [`Session::seal`] and the link's sealer share: `plaintext` in chunks of at most
/// [`CHUNK_PLAINTEXT`] bytes (one empty chunk for an empty plaintext), each sealed in order by
/// `seal_chunk(chunk, out)`, which writes the chunk's ciphertext (chunk + [`TAG_BYTES`] tag) at the
/// start of `out` and returns its length in bytes. The record is [`sealed_len`] bytes long.
///
/// # Errors
/// The first error of `seal_chunk`; the chunks after it are not sealed.
pub(crate) fn seal_record<E>(
    plaintext: &[u8],
    mut seal_chunk: impl FnMut(&[u8], &mut [u8]) -> std::result::Result<usize, E>,
) -> std::result::Result<Vec<u8>, E> {
    let mut out = vec![0u8; sealed_len(plaintext.len())];
    let mut off = 0;
    let mut chunks: Vec<&[u8]> = plaintext.chunks(CHUNK_PLAINTEXT).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    for c in chunks {
        off += seal_chunk(c, &mut out[off..])?;
    }
    out.truncate(off);
    Ok(out)
}

/// Opens a record of [`seal_record`]'s layout: each ciphertext chunk of at most [`NOISE_MAX_MSG`]
/// bytes, in order, goes to `open_chunk(chunk, out)`, which writes its plaintext at the start of `out`
/// and returns its length in bytes. `None` when the record is shorter than one tag ([`TAG_BYTES`]) or a
/// chunk fails to open (the chunks after it are not opened).
pub(crate) fn open_record<E>(
    record: &[u8],
    mut open_chunk: impl FnMut(&[u8], &mut [u8]) -> std::result::Result<usize, E>,
) -> Option<Vec<u8>> {
    if record.len() < TAG_BYTES {
        return None;
    }
    let mut out = vec![0u8; record.len()];
    let mut off = 0;
    for c in record.chunks(NOISE_MAX_MSG) {
        off += open_chunk(c, &mut out[off..]).ok()?;
    }
    out.truncate(off);
    Some(out)
}

/// An established Noise transport session (synchronous part: seal / open records).
pub struct Session {
    transport: Option<TransportState>,
    handshake_hash: Vec<u8>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("alive", &self.transport.is_some())
            .finish_non_exhaustive()
    }
}

fn hs_err(e: snow::Error) -> Error {
    channel(ChannelReason::Handshake(e.to_string()))
}

fn builder() -> Result<snow::Builder<'static>> {
    let params = NOISE_PARAMS.parse().map_err(hs_err)?;
    snow::Builder::new(params)
        .prologue(PROLOGUE)
        .map_err(hs_err)
}

impl Session {
    fn finish(hs: HandshakeState) -> Result<Self> {
        let handshake_hash = hs.get_handshake_hash().to_vec();
        let transport = hs.into_transport_mode().map_err(hs_err)?;
        Ok(Self {
            transport: Some(transport),
            handshake_hash,
        })
    }

    /// The Noise handshake hash `h` (32 bytes for SHA-256).
    pub fn handshake_hash(&self) -> &[u8] {
        &self.handshake_hash
    }

    /// The report data the peer's evidence must carry for this session.
    pub fn report_data(&self) -> [u8; 64] {
        report_data_for(&self.handshake_hash)
    }

    /// Seals `plaintext` into one record (chunks of [`CHUNK_PLAINTEXT`] bytes, each its own nonce).
    ///
    /// # Errors
    /// [`Error::Channel`] if the session has ended or the nonce space is exhausted (the session ends).
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let t = self
            .transport
            .as_mut()
            .ok_or_else(|| channel(ChannelReason::SessionEnded))?;
        seal_record(plaintext, |c, out| t.write_message(c, out)).map_err(|_| {
            self.transport = None;
            channel(ChannelReason::SessionEnded)
        })
    }

    /// Opens one record sealed by the peer's [`Session::seal`].
    ///
    /// # Errors
    /// [`Error::Channel`] when any chunk fails authentication (modified, replayed, reordered or
    /// truncated record); the session then ends and all later calls fail.
    pub fn open(&mut self, record: &[u8]) -> Result<Vec<u8>> {
        let t = self
            .transport
            .as_mut()
            .ok_or_else(|| channel(ChannelReason::SessionEnded))?;
        open_record(record, |c, out| t.read_message(c, out)).ok_or_else(|| {
            self.transport = None;
            channel(ChannelReason::Decrypt)
        })
    }

    /// False once any seal/open failed.
    pub fn is_alive(&self) -> bool {
        self.transport.is_some()
    }
}

/// Runs the initiator (client) side of the NN handshake over `stream`.
///
/// # Errors
/// [`Error::Channel`] on a handshake failure or a closed stream, [`Error::Io`] on I/O errors.
pub async fn handshake_initiator<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    peer: &str,
) -> Result<Session> {
    let mut hs = builder()?.build_initiator().map_err(hs_err)?;
    let mut buf = vec![0u8; NOISE_MAX_MSG];
    let n = hs.write_message(&[], &mut buf).map_err(hs_err)?;
    write_record(stream, &buf[..n], NOISE_MAX_MSG, peer).await?;
    let msg = read_record(stream, NOISE_MAX_MSG, peer)
        .await?
        .ok_or_else(|| channel(ChannelReason::Closed))?;
    hs.read_message(&msg, &mut buf).map_err(hs_err)?;
    Session::finish(hs)
}

/// Runs the responder (trusted service) side of the NN handshake over `stream`.
///
/// # Errors
/// As [`handshake_initiator`].
pub async fn handshake_responder<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    peer: &str,
) -> Result<Session> {
    let mut hs = builder()?.build_responder().map_err(hs_err)?;
    let mut buf = vec![0u8; NOISE_MAX_MSG];
    let msg = read_record(stream, NOISE_MAX_MSG, peer)
        .await?
        .ok_or_else(|| channel(ChannelReason::Closed))?;
    hs.read_message(&msg, &mut buf).map_err(hs_err)?;
    let n = hs.write_message(&[], &mut buf).map_err(hs_err)?;
    write_record(stream, &buf[..n], NOISE_MAX_MSG, peer).await?;
    Session::finish(hs)
}

/// A session plus its stream: send and receive whole [`Frame`]s encrypted.
#[derive(Debug)]
pub struct SecureChannel<S> {
    stream: S,
    session: Session,
    max_plaintext: usize,
    max_recv: usize,
    peer: String,
}

impl<S: AsyncRead + AsyncWrite + Unpin> SecureChannel<S> {
    /// Wraps an established session; frames up to `max_plaintext` bytes.
    pub fn new(stream: S, session: Session, max_plaintext: usize, peer: String) -> Self {
        Self {
            stream,
            session,
            max_plaintext,
            max_recv: max_plaintext,
            peer,
        }
    }

    /// The same channel accepting incoming frames of at most `max_recv` plaintext bytes (a server's
    /// per-model limit; what it sends, such as evidence, stays bounded by `max_plaintext`).
    pub fn with_recv_limit(mut self, max_recv: usize) -> Self {
        self.max_recv = max_recv;
        self
    }

    /// Closes gracefully after an error reply: shuts the write side, then reads and discards what the peer
    /// still sends (at most `within`), so the reply is not lost to a TCP reset.
    pub async fn linger(mut self, within: std::time::Duration) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _ = self.stream.shutdown().await;
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(within, async {
            while let Ok(n) = self.stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }

    /// As [`SecureChannel::recv`], within the idle and read time limits `t`.
    ///
    /// # Errors
    /// As [`SecureChannel::recv`]; [`Error::Timeout`] when the peer stays idle or sends too slowly.
    pub async fn recv_timed(&mut self, t: ReadTimeouts) -> Result<Option<Frame>> {
        let rec =
            match read_record_timed(&mut self.stream, sealed_len(self.max_recv), &self.peer, t)
                .await?
            {
                Some(r) => r,
                None => return Ok(None),
            };
        let plain = self.session.open(&rec)?;
        Frame::parse(&plain).map(Some)
    }

    /// The session (handshake hash, report data).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Encrypts and sends one frame.
    ///
    /// # Errors
    /// [`Error::Channel`] for an oversized frame or an ended session, [`Error::Io`] on write errors.
    pub async fn send(&mut self, f: &Frame) -> Result<()> {
        let plain = f.to_bytes();
        if plain.len() > self.max_plaintext {
            return Err(channel(ChannelReason::TooLarge {
                len: plain.len(),
                max: self.max_plaintext,
            }));
        }
        let rec = self.session.seal(&plain)?;
        write_record(
            &mut self.stream,
            &rec,
            sealed_len(self.max_plaintext),
            &self.peer,
        )
        .await
    }

    /// Receives and decrypts one frame; `Ok(None)` when the peer closed the stream cleanly.
    ///
    /// # Errors
    /// [`Error::Channel`] on authentication failure (the session ends), [`Error::Frame`] for a
    /// malformed plaintext frame, [`Error::Io`] on read errors.
    pub async fn recv(&mut self) -> Result<Option<Frame>> {
        let rec = match read_record(&mut self.stream, sealed_len(self.max_recv), &self.peer).await?
        {
            Some(r) => r,
            None => return Ok(None),
        };
        let plain = self.session.open(&rec)?;
        Frame::parse(&plain).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (Session, Session) {
        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        let (ia, rb) = tokio::join!(
            handshake_initiator(&mut a, "test"),
            handshake_responder(&mut b, "test")
        );
        (ia.unwrap(), rb.unwrap())
    }

    #[tokio::test]
    async fn both_sides_agree_on_hash_and_round_trip_large() {
        let (mut c, mut s) = pair().await;
        assert_eq!(c.handshake_hash(), s.handshake_hash());
        assert_eq!(c.handshake_hash().len(), 32);
        assert_eq!(c.report_data(), s.report_data());
        let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
        let rec = c.seal(&big).unwrap();
        assert_eq!(rec.len(), sealed_len(big.len()));
        assert_eq!(s.open(&rec).unwrap(), big);
        let empty = s.seal(&[]).unwrap();
        assert_eq!(c.open(&empty).unwrap(), Vec::<u8>::new());
    }

    #[tokio::test]
    async fn distinct_sessions_have_distinct_hashes() {
        let (c1, _) = pair().await;
        let (c2, _) = pair().await;
        assert_ne!(c1.handshake_hash(), c2.handshake_hash());
    }

    #[tokio::test]
    async fn replay_reorder_modify_are_rejected_and_end_the_session() {
        // Replay.
        let (mut c, mut s) = pair().await;
        let m1 = c.seal(b"one").unwrap();
        assert_eq!(s.open(&m1).unwrap(), b"one");
        assert!(s.open(&m1).is_err());
        assert!(!s.is_alive());
        let m2 = c.seal(b"two").unwrap();
        assert!(s.open(&m2).unwrap_err().to_string().contains("ended"));
        // Reorder.
        let (mut c, mut s) = pair().await;
        let m1 = c.seal(b"one").unwrap();
        let m2 = c.seal(b"two").unwrap();
        assert!(s.open(&m2).is_err());
        assert!(s.open(&m1).is_err());
        // Modify each byte position of a short record.
        for i in 0..(3 + TAG_BYTES) {
            let (mut c, mut s) = pair().await;
            let mut m = c.seal(b"abc").unwrap();
            m[i] ^= 0x01;
            let e = s.open(&m).unwrap_err().to_string();
            assert!(e.contains("authentication"), "{e}");
        }
        // Truncation.
        let (mut c, mut s) = pair().await;
        let m = c.seal(b"abc").unwrap();
        assert!(s.open(&m[..m.len() - 1]).is_err());
    }

    #[test]
    fn report_data_is_domain_separated_sha512() {
        let h = [7u8; 32];
        let mut d = Sha512::new();
        d.update(REPORT_DATA_DOMAIN);
        d.update(h);
        let want: [u8; 64] = d.finalize().into();
        assert_eq!(report_data_for(&h), want);
        assert_ne!(report_data_for(&h), report_data_for(&[8u8; 32]));
    }
}
