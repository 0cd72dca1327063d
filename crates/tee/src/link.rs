//! The trusted <-> untrusted link: Noise `KK_25519_ChaChaPoly_SHA256` with static keys pinned on both sides.
//!
//! Noise KK (Perrin, *The Noise Protocol Framework*, rev. 34, §7.5): each side knows the other's static
//! X25519 public key before the handshake (`-> s`, `<- s`), and the two handshake messages
//! (`-> e, es, ss`; `<- e, ee, se`) mix both static keys into the session keys. A peer that does not
//! hold the private key matching the pinned public key cannot complete the handshake: the responder
//! rejects the first message (its payload fails authentication), the initiator the second. So only the
//! configured untrusted service receives feature maps, only the configured trusted service can send them,
//! and a relaying man-in-the-middle sees ciphertext only.
//!
//! Records after the handshake are as on the client channel ([`crate::channel`]): a frame is split into
//! chunks of at most [`CHUNK_PLAINTEXT`](crate::channel::CHUNK_PLAINTEXT) bytes, each sealed with ChaCha20-Poly1305 under the implicit
//! per-direction nonce counter (snow's stateless transport, so the reader and writer tasks each own one
//! direction). A failed authentication ends the connection.
//!
//! Key files ([`StaticKeypair::write_file`]) are TOML with the private and public key in hex, created
//! with mode 0600 and written atomically (temporary file, fsync, rename); the public key alone is written
//! to `FILE.pub` for the peer's configuration.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use snow::StatelessTransportState;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::attestation::{decode_hex, encode_hex};
use crate::channel::{open_record, seal_record, sealed_len, NOISE_MAX_MSG};
use crate::error::{channel, io, ChannelReason, Error, Result};
use crate::wire::{read_record, read_record_timed, write_record, Frame, ReadTimeouts};

/// Noise protocol name of the link.
pub const LINK_NOISE_PARAMS: &str = "Noise_KK_25519_ChaChaPoly_SHA256";
/// Noise prologue of the link (distinct from the client channel's).
pub const LINK_PROLOGUE: &[u8] = b"privsplit-tee/link/v1";
/// X25519 key length, bytes.
pub const KEY_BYTES: usize = 32;

/// An X25519 static key pair for the link. The private key is overwritten with zeros on drop.
#[derive(Clone)]
pub struct StaticKeypair {
    private: [u8; KEY_BYTES],
    public: [u8; KEY_BYTES],
}

impl std::fmt::Debug for StaticKeypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticKeypair")
            .field("public", &encode_hex(&self.public))
            .finish_non_exhaustive()
    }
}

impl Drop for StaticKeypair {
    fn drop(&mut self) {
        // Plain overwrite; `zeroize` would also keep the compiler from eliding it.
        for b in self.private.iter_mut() {
            *b = 0;
        }
        std::hint::black_box(&self.private);
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private: Option<String>,
    public: String,
}

fn key_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Config {
        what: "link key file",
        reason: format!("{}: {}", path.display(), reason.into()),
    }
}

fn parse_key(path: &Path, field: &str, hex: &str) -> Result<[u8; KEY_BYTES]> {
    let b = decode_hex(hex).map_err(|e| key_err(path, format!("{field}: {e}")))?;
    b.try_into().map_err(|b: Vec<u8>| {
        key_err(
            path,
            format!("{field}: expected {KEY_BYTES} bytes, got {}", b.len()),
        )
    })
}

fn params() -> Result<snow::params::NoiseParams> {
    LINK_NOISE_PARAMS
        .parse()
        .map_err(|e: snow::Error| channel(ChannelReason::Handshake(e.to_string())))
}

/// Writes `bytes` to `path` atomically with `mode` ([`privsplit_io::write_atomic_with_mode`]: unique
/// temporary file in the same folder created with the mode, fsync, rename).
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    privsplit_io::write_atomic_with_mode(path, bytes, Some(mode))
        .map_err(|e| io(path, std::io::Error::other(e)))
}

impl StaticKeypair {
    /// A fresh key pair from snow's resolver (X25519, OS randomness).
    ///
    /// # Errors
    /// [`Error::Channel`] when the crypto resolver fails.
    pub fn generate() -> Result<Self> {
        let kp = snow::Builder::new(params()?)
            .generate_keypair()
            .map_err(|e| channel(ChannelReason::Handshake(e.to_string())))?;
        let private: [u8; KEY_BYTES] = kp.private.as_slice().try_into().map_err(|_| {
            channel(ChannelReason::Handshake(
                "unexpected X25519 key length".into(),
            ))
        })?;
        let public: [u8; KEY_BYTES] = kp.public.as_slice().try_into().map_err(|_| {
            channel(ChannelReason::Handshake(
                "unexpected X25519 key length".into(),
            ))
        })?;
        Ok(Self { private, public })
    }

    /// The public key (to pin in the peer's configuration).
    pub fn public(&self) -> [u8; KEY_BYTES] {
        self.public
    }

    /// Writes the key pair to `path` (mode 0600, atomically) and the public key to `path.pub`
    /// (mode 0644). Returns the path of the public-key file.
    ///
    /// # Errors
    /// [`Error::Io`] when a file cannot be written.
    pub fn write_file(&self, path: &Path) -> Result<std::path::PathBuf> {
        let full = KeyFile {
            private: Some(encode_hex(&self.private)),
            public: encode_hex(&self.public),
        };
        let text = format!(
            "# privsplit link static key (X25519, {LINK_NOISE_PARAMS}). SECRET: keep mode 0600.\n{}",
            toml::to_string(&full).map_err(|e| key_err(path, e.to_string()))?
        );
        write_atomic(path, text.as_bytes(), 0o600)?;
        let mut pub_path = path.as_os_str().to_owned();
        pub_path.push(".pub");
        let pub_path = std::path::PathBuf::from(pub_path);
        let pubtext = format!(
            "# privsplit link public key: pin it in the peer's configuration.\npublic = \"{}\"\n",
            encode_hex(&self.public)
        );
        write_atomic(&pub_path, pubtext.as_bytes(), 0o644)?;
        Ok(pub_path)
    }

    /// Reads a key file written by [`StaticKeypair::write_file`].
    ///
    /// # Errors
    /// [`Error::Io`] when unreadable; [`Error::Config`] when it is readable by group or others (unix),
    /// lacks the private key, is not TOML, or the public key does not belong to the private key.
    pub fn read_file(path: &Path) -> Result<Self> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(path).map_err(|e| io(path, e))?;
            if m.permissions().mode() & 0o077 != 0 {
                return Err(key_err(
                    path,
                    format!(
                        "mode {:o} lets group or others read the private key; expected 0600",
                        m.permissions().mode() & 0o777
                    ),
                ));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        let kf: KeyFile = toml::from_str(&text).map_err(|e| key_err(path, e.to_string()))?;
        let private_hex = kf
            .private
            .ok_or_else(|| key_err(path, "no `private` key (is this a .pub file?)"))?;
        let private = parse_key(path, "private", &private_hex)?;
        let public = parse_key(path, "public", &kf.public)?;
        let derived = public_of(&private)?;
        if derived != public {
            return Err(key_err(path, "`public` is not the public key of `private`"));
        }
        Ok(Self { private, public })
    }
}

/// X25519 public key of `private` (snow's resolver: `Dh::set` derives it).
fn public_of(private: &[u8; KEY_BYTES]) -> Result<[u8; KEY_BYTES]> {
    use snow::resolvers::{CryptoResolver, DefaultResolver};
    let p = params()?;
    let mut dh = DefaultResolver
        .resolve_dh(&p.dh)
        .ok_or_else(|| channel(ChannelReason::Handshake("no X25519 implementation".into())))?;
    dh.set(private);
    dh.pubkey().try_into().map_err(|_| {
        channel(ChannelReason::Handshake(
            "unexpected X25519 key length".into(),
        ))
    })
}

/// Reads a peer's public key from a `.pub` file (or a full key file: only `public` is used).
///
/// # Errors
/// [`Error::Io`] when unreadable, [`Error::Config`] when it has no 32-byte hex `public`.
pub fn read_public_key(path: &Path) -> Result<[u8; KEY_BYTES]> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    let kf: KeyFile = toml::from_str(&text).map_err(|e| key_err(path, e.to_string()))?;
    parse_key(path, "public", &kf.public)
}

/// This side's key pair and the pinned public key of the peer.
#[derive(Debug, Clone)]
pub struct LinkKeys {
    /// Own static key pair.
    pub local: StaticKeypair,
    /// The only peer static public key accepted.
    pub peer: [u8; KEY_BYTES],
}

impl LinkKeys {
    /// Loads the own key file and the peer's public-key file.
    ///
    /// # Errors
    /// As [`StaticKeypair::read_file`] and [`read_public_key`].
    pub fn load(own_key: &Path, peer_public: &Path) -> Result<Self> {
        Ok(Self {
            local: StaticKeypair::read_file(own_key)?,
            peer: read_public_key(peer_public)?,
        })
    }
}

/// The sending half of an established link.
pub struct LinkSealer {
    state: Arc<StatelessTransportState>,
    nonce: u64,
}

/// The receiving half of an established link.
pub struct LinkOpener {
    state: Arc<StatelessTransportState>,
    nonce: u64,
    dead: bool,
}

impl std::fmt::Debug for LinkSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSealer").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for LinkOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkOpener").finish_non_exhaustive()
    }
}

impl LinkSealer {
    /// Seals `plaintext` into one record (chunks of [`CHUNK_PLAINTEXT`](crate::channel::CHUNK_PLAINTEXT) bytes, one nonce each).
    ///
    /// # Errors
    /// [`Error::Channel`] when sealing fails (nonce space exhausted).
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let (state, nonce) = (&self.state, &mut self.nonce);
        seal_record(plaintext, |c, out| {
            let n = state.write_message(*nonce, c, out)?;
            *nonce += 1;
            Ok(n)
        })
        .map_err(|_: snow::Error| channel(ChannelReason::SessionEnded))
    }
}

impl LinkOpener {
    /// Opens one record sealed by the peer's [`LinkSealer::seal`].
    ///
    /// # Errors
    /// [`Error::Channel`] when a chunk fails authentication (modified, replayed, reordered, truncated);
    /// the link then stays dead.
    pub fn open(&mut self, record: &[u8]) -> Result<Vec<u8>> {
        if self.dead {
            return Err(channel(ChannelReason::SessionEnded));
        }
        let (state, nonce) = (&self.state, &mut self.nonce);
        let opened = open_record(record, |c, out| {
            let n = state.read_message(*nonce, c, out)?;
            *nonce += 1;
            Ok::<_, snow::Error>(n)
        });
        opened.ok_or_else(|| {
            self.dead = true;
            channel(ChannelReason::Decrypt)
        })
    }
}

fn hs(keys: &LinkKeys, initiator: bool) -> Result<snow::HandshakeState> {
    let hs_err = |e: snow::Error| channel(ChannelReason::Handshake(e.to_string()));
    let b = snow::Builder::new(params()?)
        .prologue(LINK_PROLOGUE)
        .map_err(hs_err)?
        .local_private_key(&keys.local.private)
        .map_err(hs_err)?
        .remote_public_key(&keys.peer)
        .map_err(hs_err)?;
    if initiator {
        b.build_initiator().map_err(hs_err)
    } else {
        b.build_responder().map_err(hs_err)
    }
}

fn split(hs: snow::HandshakeState) -> Result<(LinkSealer, LinkOpener)> {
    let st = Arc::new(
        hs.into_stateless_transport_mode()
            .map_err(|e| channel(ChannelReason::Handshake(e.to_string())))?,
    );
    Ok((
        LinkSealer {
            state: st.clone(),
            nonce: 0,
        },
        LinkOpener {
            state: st,
            nonce: 0,
            dead: false,
        },
    ))
}

/// Runs the KK handshake as initiator (the trusted service) over `stream`, pinned to `keys.peer`.
///
/// # Errors
/// [`Error::Channel`] naming the pinned-key failure when the peer does not hold the pinned key (or the
/// connection closes during the handshake), [`Error::Io`] on I/O errors.
pub async fn link_initiator<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    keys: &LinkKeys,
    peer: &str,
) -> Result<(LinkSealer, LinkOpener)> {
    let mut hs = hs(keys, true)?;
    let mut buf = vec![0u8; NOISE_MAX_MSG];
    let n = hs
        .write_message(&[], &mut buf)
        .map_err(|e| channel(ChannelReason::Handshake(e.to_string())))?;
    write_record(stream, &buf[..n], NOISE_MAX_MSG, peer).await?;
    let msg = read_record(stream, NOISE_MAX_MSG, peer)
        .await?
        .ok_or_else(|| {
            channel(ChannelReason::PeerKey(format!(
                "{peer} closed the connection during the handshake: it does not hold the pinned key \
                 {} or does not pin ours",
                encode_hex(&keys.peer)
            )))
        })?;
    hs.read_message(&msg, &mut buf).map_err(|_| {
        channel(ChannelReason::PeerKey(format!(
            "{peer}'s reply does not authenticate under the pinned key {}",
            encode_hex(&keys.peer)
        )))
    })?;
    split(hs)
}

/// Runs the KK handshake as responder (the untrusted service) over `stream`, pinned to `keys.peer`.
///
/// # Errors
/// As [`link_initiator`].
pub async fn link_responder<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    keys: &LinkKeys,
    peer: &str,
) -> Result<(LinkSealer, LinkOpener)> {
    let mut hs = hs(keys, false)?;
    let mut buf = vec![0u8; NOISE_MAX_MSG];
    let msg = read_record(stream, NOISE_MAX_MSG, peer)
        .await?
        .ok_or_else(|| channel(ChannelReason::Closed))?;
    hs.read_message(&msg, &mut buf).map_err(|_| {
        channel(ChannelReason::PeerKey(format!(
            "{peer}'s first message does not authenticate: it is not the trusted service whose key \
             {} is pinned here, or it does not pin our key",
            encode_hex(&keys.peer)
        )))
    })?;
    let n = hs
        .write_message(&[], &mut buf)
        .map_err(|e| channel(ChannelReason::Handshake(e.to_string())))?;
    write_record(stream, &buf[..n], NOISE_MAX_MSG, peer).await?;
    split(hs)
}

/// One direction of a link connection for writing: sealed (KK) or, when no keys are configured, in the
/// clear (an explicit insecure mode).
#[derive(Debug)]
pub enum LinkTx {
    /// Frames in the clear (`insecure-plain-link`: anyone on the path reads and changes them).
    Plain,
    /// Frames sealed with the link's Noise session.
    Sealed(LinkSealer),
}

/// One direction of a link connection for reading (see [`LinkTx`]).
#[derive(Debug)]
pub enum LinkRx {
    /// Frames in the clear.
    Plain,
    /// Frames sealed with the link's Noise session.
    Sealed(LinkOpener),
}

impl LinkTx {
    /// Encodes, seals (when sealed) and writes `f`; frames above `max` plaintext bytes are refused.
    ///
    /// # Errors
    /// [`Error::Frame`] for an oversized frame, [`Error::Channel`], [`Error::Io`].
    pub async fn send<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        f: &Frame,
        max: usize,
        peer: &str,
    ) -> Result<()> {
        let plain = f.to_bytes();
        match self {
            LinkTx::Plain => write_record(w, &plain, max, peer).await,
            LinkTx::Sealed(s) => {
                if plain.len() > max {
                    return Err(channel(ChannelReason::TooLarge {
                        len: plain.len(),
                        max,
                    }));
                }
                let rec = s.seal(&plain)?;
                write_record(w, &rec, sealed_len(max), peer).await
            }
        }
    }
}

impl LinkRx {
    /// Reads, opens (when sealed) and parses one frame of at most `max` plaintext bytes; `Ok(None)` on a
    /// clean end of stream. With `t`, the idle and read time limits apply ([`ReadTimeouts`]).
    ///
    /// # Errors
    /// As [`read_record_timed`], [`LinkOpener::open`] and [`Frame::parse`].
    pub async fn recv<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        max: usize,
        peer: &str,
        t: Option<ReadTimeouts>,
    ) -> Result<Option<Frame>> {
        let limit = match self {
            LinkRx::Plain => max,
            LinkRx::Sealed(_) => sealed_len(max),
        };
        let rec = match t {
            Some(t) => read_record_timed(r, limit, peer, t).await?,
            None => read_record(r, limit, peer).await?,
        };
        let Some(rec) = rec else { return Ok(None) };
        let plain = match self {
            LinkRx::Plain => rec,
            LinkRx::Sealed(o) => o.open(&rec)?,
        };
        Frame::parse(&plain).map(Some)
    }
}
