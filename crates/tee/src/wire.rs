//! Wire format between client, trusted-partition service and untrusted-partition service.
//!
//! Specified in `docs/WIRE.md` (the normative text; this module implements it). In short: a record is a
//! 4-byte little-endian length `L` followed by `L` bytes (`tokio_util::codec::LengthDelimitedCodec`,
//! `L <= max_frame_bytes`, checked before any allocation). A *frame* is a record whose bytes are
//!
//! ```text
//! version u8 (=1) | kind u8 | flags u8 | dtype u8 | request_id u64 LE | ndim u8 | ndim x dim u32 LE | payload
//! ```
//!
//! with `dtype = 1` (f32): payload = `prod(dims) * 4` bytes of little-endian IEEE-754 values in row-major
//! order; `dtype = 0` (bytes): `ndim = 0` and the payload is UTF-8 text (errors) or JSON (evidence).
//! Between the two services frames travel in the clear (the feature map is exposed by design); between
//! client and trusted service each frame is the plaintext of one channel message ([`crate::channel`]).

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

use crate::error::{Error, Result};

mod record;
use record::too_large;
pub use record::{read_record, read_record_timed, record_codec, write_record, ReadTimeouts};

/// Wire-format version carried in every frame.
pub const WIRE_VERSION: u8 = 1;
/// Flag bit: the sender runs in insecure development mode (no TEE). Set on every reply of such a server.
pub const FLAG_INSECURE_DEV: u8 = 0b0000_0001;
/// Flag bit on a trusted -> untrusted request: answer with a [`FrameKind::Trace`] (every linear layer's
/// output, for verification by the trusted partition, [`crate::verify`]) instead of the logits.
pub const FLAG_TRACE: u8 = 0b0000_0010;
/// All defined flag bits.
pub const KNOWN_FLAGS: u8 = FLAG_INSECURE_DEV | FLAG_TRACE;
/// Largest number of tensor dimensions accepted.
pub const MAX_NDIM: usize = 8;
/// Default upper bound on one record, in bytes (64 MiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 << 20;
/// Fixed part of a frame after the length prefix, in bytes.
pub const HEADER_BYTES: usize = 13;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// An input tensor (client -> trusted) or a feature map (trusted -> untrusted).
    Request = 1,
    /// Logits (untrusted -> trusted, trusted -> client).
    Response = 2,
    /// An error message for the request id (UTF-8 payload).
    Error = 3,
    /// Attestation evidence (trusted -> client, JSON payload, request id 0).
    Evidence = 4,
    /// The outputs of every linear layer of the untrusted partition, in execution order (untrusted ->
    /// trusted, answer to a request with [`FLAG_TRACE`]; bytes payload encoded by [`encode_tensors`]).
    Trace = 5,
}

impl FrameKind {
    fn from_u8(b: u8) -> Result<Self> {
        Ok(match b {
            1 => Self::Request,
            2 => Self::Response,
            3 => Self::Error,
            4 => Self::Evidence,
            5 => Self::Trace,
            _ => {
                return Err(Error::Frame {
                    what: "kind",
                    expected: "1 (request), 2 (response), 3 (error), 4 (evidence) or 5 (trace)"
                        .into(),
                    got: b.to_string(),
                })
            }
        })
    }
}

/// A dense f32 tensor: `shape` (for images `[batch, channels, height, width]`) and row-major `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorMsg {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values, row-major.
    pub data: Vec<f32>,
}

impl TensorMsg {
    /// A tensor from shape and data.
    ///
    /// # Errors
    /// [`Error::Shape`] when `data.len() != prod(shape)` or `shape` has more than [`MAX_NDIM`] axes.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let n = checked_numel(&shape).ok_or_else(|| Error::Shape {
            what: "tensor (element count overflows)",
            expected: vec![],
            got: shape.clone(),
        })?;
        if n != data.len() || shape.len() > MAX_NDIM {
            return Err(Error::Shape {
                what: "tensor data length vs shape",
                expected: shape,
                got: vec![data.len()],
            });
        }
        Ok(Self { shape, data })
    }

    /// Size of the tensor on the wire (payload only), in bytes.
    pub fn payload_bytes(&self) -> usize {
        self.data.len() * 4
    }
}

/// Number of elements of `shape`; `None` when the product overflows `usize`.
pub(crate) fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// Body of a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `dtype = 1`: a tensor.
    Tensor(TensorMsg),
    /// `dtype = 0`: bytes (UTF-8 error text or JSON evidence).
    Bytes(Vec<u8>),
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// What it carries.
    pub kind: FrameKind,
    /// Flag bits ([`FLAG_INSECURE_DEV`]); unknown bits are rejected.
    pub flags: u8,
    /// Request id chosen by the requester, echoed in the reply.
    pub request_id: u64,
    /// Tensor or bytes.
    pub body: Body,
}

impl Frame {
    /// A tensor frame.
    pub fn tensor(kind: FrameKind, request_id: u64, t: TensorMsg) -> Self {
        Self {
            kind,
            flags: 0,
            request_id,
            body: Body::Tensor(t),
        }
    }

    /// An error frame carrying `message`.
    pub fn error(request_id: u64, message: &str) -> Self {
        Self {
            kind: FrameKind::Error,
            flags: 0,
            request_id,
            body: Body::Bytes(message.as_bytes().to_vec()),
        }
    }

    /// True when the sender marked itself as running in insecure development mode.
    pub fn insecure_dev(&self) -> bool {
        self.flags & FLAG_INSECURE_DEV != 0
    }

    /// Encodes the frame without the length prefix (the record contents), appending to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let (dtype, shape, payload_len): (u8, &[usize], usize) = match &self.body {
            Body::Tensor(t) => (1, &t.shape, t.data.len() * 4),
            Body::Bytes(b) => (0, &[], b.len()),
        };
        out.reserve(HEADER_BYTES + 4 * shape.len() + payload_len);
        out.push(WIRE_VERSION);
        out.push(self.kind as u8);
        out.push(self.flags);
        out.push(dtype);
        out.extend_from_slice(&self.request_id.to_le_bytes());
        out.push(shape.len() as u8);
        for &d in shape {
            out.extend_from_slice(&(d as u32).to_le_bytes());
        }
        match &self.body {
            Body::Tensor(t) => {
                for v in &t.data {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            Body::Bytes(b) => out.extend_from_slice(b),
        }
    }

    /// Encodes the frame without the length prefix.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_into(&mut v);
        v
    }

    /// Parses the record contents (everything after the length prefix).
    ///
    /// # Errors
    /// [`Error::Frame`] naming the offending field: wrong version, unknown kind, flags or dtype, more than
    /// [`MAX_NDIM`] axes, a dimension of 0 or above `u32`, a payload whose length is not `prod(dims) * 4`,
    /// truncated header. Never panics, allocates at most `bytes.len()`.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut b = bytes;
        if b.len() < HEADER_BYTES {
            return Err(Error::Frame {
                what: "header",
                expected: format!("at least {HEADER_BYTES} bytes"),
                got: format!("{} bytes", b.len()),
            });
        }
        let version = b.get_u8();
        if version != WIRE_VERSION {
            return Err(Error::Frame {
                what: "version",
                expected: WIRE_VERSION.to_string(),
                got: version.to_string(),
            });
        }
        let kind = FrameKind::from_u8(b.get_u8())?;
        let flags = b.get_u8();
        if flags & !KNOWN_FLAGS != 0 {
            return Err(Error::Frame {
                what: "flags",
                expected: "only bits 0 (insecure-dev) and 1 (trace) may be set".into(),
                got: format!("{flags:#010b}"),
            });
        }
        let dtype = b.get_u8();
        let request_id = b.get_u64_le();
        let ndim = b.get_u8() as usize;
        if ndim > MAX_NDIM {
            return Err(Error::Frame {
                what: "ndim",
                expected: format!("at most {MAX_NDIM}"),
                got: ndim.to_string(),
            });
        }
        if b.len() < 4 * ndim {
            return Err(Error::Frame {
                what: "shape",
                expected: format!("{} bytes of dimensions", 4 * ndim),
                got: format!("{} bytes left", b.len()),
            });
        }
        let mut shape = Vec::with_capacity(ndim);
        for _ in 0..ndim {
            let d = b.get_u32_le() as usize;
            if d == 0 {
                return Err(Error::Frame {
                    what: "dimension",
                    expected: "at least 1".into(),
                    got: "0".into(),
                });
            }
            shape.push(d);
        }
        let body = match dtype {
            0 => {
                if ndim != 0 {
                    return Err(Error::Frame {
                        what: "ndim of a bytes frame",
                        expected: "0".into(),
                        got: ndim.to_string(),
                    });
                }
                Body::Bytes(b.to_vec())
            }
            1 => {
                let expected = checked_numel(&shape).and_then(|n| n.checked_mul(4));
                if expected != Some(b.len()) {
                    return Err(Error::Frame {
                        what: "tensor payload",
                        expected: match expected {
                            Some(e) => format!("{e} bytes for shape {shape:?}"),
                            None => format!("a representable size for shape {shape:?}"),
                        },
                        got: format!("{} bytes", b.len()),
                    });
                }
                let data = b
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Body::Tensor(TensorMsg { shape, data })
            }
            _ => {
                return Err(Error::Frame {
                    what: "dtype",
                    expected: "0 (bytes) or 1 (f32)".into(),
                    got: dtype.to_string(),
                })
            }
        };
        match (kind, &body) {
            (FrameKind::Request | FrameKind::Response, Body::Tensor(_))
            | (FrameKind::Error | FrameKind::Evidence | FrameKind::Trace, Body::Bytes(_)) => {}
            _ => {
                return Err(Error::Frame {
                    what: "dtype for this kind",
                    expected: "f32 for request/response, bytes for error/evidence/trace".into(),
                    got: format!("{kind:?} with dtype {dtype}"),
                })
            }
        }
        Ok(Self {
            kind,
            flags,
            request_id,
            body,
        })
    }
}
/// `tokio_util` codec for [`Frame`]s: the record layer plus [`Frame::parse`].
#[derive(Debug)]
pub struct FrameCodec {
    inner: LengthDelimitedCodec,
    max: usize,
}

impl FrameCodec {
    /// A codec accepting records of at most `max_frame_bytes` bytes.
    pub fn new(max_frame_bytes: usize) -> Self {
        Self {
            inner: record_codec(max_frame_bytes),
            max: max_frame_bytes,
        }
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = Error;
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>> {
        if src.len() >= 4 {
            let len = u32::from_le_bytes([src[0], src[1], src[2], src[3]]) as usize;
            if len > self.max {
                return Err(too_large(len, self.max));
            }
        }
        match self.inner.decode(src) {
            Ok(Some(rec)) => Frame::parse(&rec).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(Error::Frame {
                what: "record",
                expected: "a length-prefixed record".into(),
                got: e.to_string(),
            }),
        }
    }
}

impl Encoder<&Frame> for FrameCodec {
    type Error = Error;
    fn encode(&mut self, item: &Frame, dst: &mut BytesMut) -> Result<()> {
        let body = item.to_bytes();
        if body.len() > self.max {
            return Err(too_large(body.len(), self.max));
        }
        dst.reserve(4 + body.len());
        dst.put_u32_le(body.len() as u32);
        dst.extend_from_slice(&body);
        Ok(())
    }
}

/// Bytes of one f32 frame carrying a tensor of `shape` with the batch axis (`shape[0]`, 0 = any) set to
/// `max_batch`: the per-model frame limit (header + dims + payload).
///
/// # Errors
/// [`Error::Config`] when the size overflows `usize` or `max_batch` is 0.
pub fn frame_limit(shape: &[usize], max_batch: usize) -> Result<usize> {
    if max_batch == 0 {
        return Err(Error::Config {
            what: "max batch",
            reason: "must be at least 1".into(),
        });
    }
    shape
        .iter()
        .skip(1)
        .try_fold(max_batch, |a, &d| a.checked_mul(d.max(1)))
        .and_then(|n| n.checked_mul(4))
        .and_then(|n| n.checked_add(HEADER_BYTES + 4 * shape.len()))
        .ok_or_else(|| Error::Config {
            what: "frame limit",
            reason: format!("{shape:?} x batch {max_batch} overflows"),
        })
}

/// Reads and parses one frame; `Ok(None)` on a clean end of stream.
///
/// # Errors
/// As [`read_record`] and [`Frame::parse`].
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    peer: &str,
) -> Result<Option<Frame>> {
    match read_record(r, max, peer).await? {
        Some(rec) => Frame::parse(&rec).map(Some),
        None => Ok(None),
    }
}

/// Encodes and writes one frame.
///
/// # Errors
/// As [`write_record`].
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    f: &Frame,
    max: usize,
    peer: &str,
) -> Result<()> {
    write_record(w, &f.to_bytes(), max, peer).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_tensor_and_bytes() {
        let t =
            TensorMsg::new(vec![2, 1, 2, 3], (0..12).map(|i| i as f32 - 5.5).collect()).unwrap();
        let f = Frame::tensor(FrameKind::Request, 0xDEAD_BEEF_0102, t);
        let b = f.to_bytes();
        assert_eq!(b.len(), HEADER_BYTES + 16 + 48);
        assert_eq!(&b[13..17], &2u32.to_le_bytes());
        assert_eq!(Frame::parse(&b).unwrap(), f);
        let e = Frame::error(7, "boom");
        assert_eq!(Frame::parse(&e.to_bytes()).unwrap(), e);
    }

    #[test]
    fn codec_rejects_oversized_length_before_buffering() {
        let mut c = FrameCodec::new(1024);
        let mut buf = BytesMut::new();
        buf.put_u32_le(1 << 30);
        let err = c.decode(&mut buf).unwrap_err().to_string();
        assert!(err.contains("record length"), "{err}");
    }

    #[test]
    fn codec_round_trip_in_pieces() {
        let mut c = FrameCodec::default();
        let f = Frame::tensor(
            FrameKind::Response,
            3,
            TensorMsg::new(vec![1, 10], vec![0.5; 10]).unwrap(),
        );
        let mut all = BytesMut::new();
        c.encode(&f, &mut all).unwrap();
        let mut buf = BytesMut::new();
        let mut got = None;
        for byte in all.iter() {
            buf.put_u8(*byte);
            if let Some(x) = c.decode(&mut buf).unwrap() {
                got = Some(x);
            }
        }
        assert_eq!(got, Some(f));
    }

    #[test]
    fn rejects_each_bad_field() {
        let f = Frame::tensor(
            FrameKind::Request,
            1,
            TensorMsg::new(vec![1, 2], vec![1.0, 2.0]).unwrap(),
        );
        let good = f.to_bytes();
        for (idx, val, field) in [
            (0usize, 9u8, "version"),
            (1, 77, "kind"),
            (2, 0x80, "flags"),
            (3, 5, "dtype"),
            (12, 9, "ndim"),
            (13, 0, "dimension"),
        ] {
            let mut b = good.clone();
            if idx == 13 {
                b[13..17].copy_from_slice(&0u32.to_le_bytes());
            } else {
                b[idx] = val;
            }
            let err = Frame::parse(&b).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
        let err = Frame::parse(&good[..good.len() - 1])
            .unwrap_err()
            .to_string();
        assert!(err.contains("tensor payload"), "{err}");
    }
}
