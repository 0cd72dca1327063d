//! The record layer under the frames: a 4-byte little-endian length prefix, then at most `max` bytes of
//! contents (`docs/WIRE.md`, §1 "Records"); the length is checked before anything is allocated for it.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::LengthDelimitedCodec;

use crate::error::{Error, Result};

/// The record layer: 4-byte little-endian length prefix, at most `max` bytes of contents.
pub fn record_codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .little_endian()
        .length_field_length(4)
        .max_frame_length(max)
        .new_codec()
}

pub(super) fn too_large(len: usize, max: usize) -> Error {
    Error::Frame {
        what: "record length",
        expected: format!("at most {max} bytes"),
        got: format!("{len} bytes"),
    }
}

/// Reads one length-prefixed record of at most `max` bytes; `Ok(None)` on a clean end of stream.
///
/// # Errors
/// [`Error::Frame`] when the announced length exceeds `max` (nothing is allocated for it), [`Error::Io`]
/// on a read failure or a stream cut inside a record.
pub async fn read_record<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    peer: &str,
) -> Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(crate::error::io(peer, e)),
    }
    read_contents(r, len, max, peer).await.map(Some)
}

/// The contents of a record whose 4-byte length prefix `len` has been read: refuses a length over `max`
/// before allocating, then reads exactly that many bytes.
async fn read_contents<R: AsyncRead + Unpin>(
    r: &mut R,
    len: [u8; 4],
    max: usize,
    peer: &str,
) -> Result<Vec<u8>> {
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(too_large(len, max));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)
        .await
        .map_err(|e| crate::error::io(peer, e))?;
    Ok(buf)
}

/// Time limits for reading one record: the first byte must come within `idle` (an idle connection is
/// closed after it), the rest of the record within `read` of that first byte (a slow sender cannot hold
/// a half-read frame open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadTimeouts {
    /// Longest wait for the first byte of the next record.
    pub idle: std::time::Duration,
    /// Longest time from the first byte to the last byte of a record.
    pub read: std::time::Duration,
}

/// As [`read_record`], within `t` (see [`ReadTimeouts`]). Cancel-safe while waiting for the first byte.
///
/// # Errors
/// As [`read_record`]; [`Error::Timeout`] naming `idle connection` or `reading a record`.
pub async fn read_record_timed<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    peer: &str,
    t: ReadTimeouts,
) -> Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let n = tokio::time::timeout(t.idle, r.read(&mut len[..1]))
        .await
        .map_err(|_| Error::Timeout {
            what: "idle connection (no request)",
            ms: t.idle.as_millis() as u64,
        })?
        .map_err(|e| crate::error::io(peer, e))?;
    if n == 0 {
        return Ok(None);
    }
    tokio::time::timeout(t.read, async {
        r.read_exact(&mut len[1..])
            .await
            .map_err(|e| crate::error::io(peer, e))?;
        read_contents(r, len, max, peer).await.map(Some)
    })
    .await
    .map_err(|_| Error::Timeout {
        what: "reading a record",
        ms: t.read.as_millis() as u64,
    })?
}
/// Writes one length-prefixed record (`bytes.len() <= u32::MAX` is the caller's duty; frames are bounded).
///
/// # Errors
/// [`Error::Io`] on a write failure, [`Error::Frame`] when `bytes` exceed `max`.
pub async fn write_record<W: AsyncWrite + Unpin>(
    w: &mut W,
    bytes: &[u8],
    max: usize,
    peer: &str,
) -> Result<()> {
    if bytes.len() > max {
        return Err(too_large(bytes.len(), max));
    }
    let mut out = Vec::with_capacity(4 + bytes.len());
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
    w.write_all(&out)
        .await
        .map_err(|e| crate::error::io(peer, e))?;
    w.flush().await.map_err(|e| crate::error::io(peer, e))
}
