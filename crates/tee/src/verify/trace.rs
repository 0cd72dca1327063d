//! The trace payload: the outputs of every linear layer of `[k, n)` that the untrusted service returns in a
//! [`FrameKind::Trace`](crate::wire::FrameKind::Trace) frame (a bytes body) when the trusted service sets
//! [`FLAG_TRACE`](crate::wire::FLAG_TRACE); checked by [`StagedVerifier`](super::StagedVerifier).

use bytes::Buf;

use crate::error::{Error, Result};
use crate::wire::{checked_numel, TensorMsg, MAX_NDIM};

/// Encodes a list of tensors as a bytes payload (the body of a [`FrameKind::Trace`](crate::wire::FrameKind::Trace) frame):
/// `count u32 LE | per tensor: ndim u8 | ndim x dim u32 LE | prod(dims) x f32 LE`.
pub fn encode_tensors(ts: &[TensorMsg]) -> Vec<u8> {
    let total: usize = ts
        .iter()
        .map(|t| 1 + 4 * t.shape.len() + 4 * t.data.len())
        .sum();
    let mut out = Vec::with_capacity(4 + total);
    out.extend_from_slice(&(ts.len() as u32).to_le_bytes());
    for t in ts {
        out.push(t.shape.len() as u8);
        for &d in &t.shape {
            out.extend_from_slice(&(d as u32).to_le_bytes());
        }
        for v in &t.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Parses what [`encode_tensors`] wrote; at most `max_tensors` tensors.
///
/// # Errors
/// [`Error::Frame`] naming the field (count, ndim, dimension, payload, trailing bytes). Never panics and
/// allocates at most `bytes.len()`.
pub fn parse_tensors(bytes: &[u8], max_tensors: usize) -> Result<Vec<TensorMsg>> {
    let bad = |what: &'static str, expected: String, got: String| Error::Frame {
        what,
        expected,
        got,
    };
    let mut b = bytes;
    if b.len() < 4 {
        return Err(bad(
            "trace count",
            "4 bytes".into(),
            format!("{} bytes", b.len()),
        ));
    }
    let count = b.get_u32_le() as usize;
    if count > max_tensors {
        return Err(bad(
            "trace count",
            format!("at most {max_tensors} tensors"),
            count.to_string(),
        ));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        if b.is_empty() {
            return Err(bad("trace ndim", "1 byte".into(), "end of payload".into()));
        }
        let ndim = b.get_u8() as usize;
        if ndim == 0 || ndim > MAX_NDIM || b.len() < 4 * ndim {
            return Err(bad(
                "trace ndim",
                format!("1..={MAX_NDIM} axes with their dimensions"),
                format!("{ndim} axes, {} bytes left", b.len()),
            ));
        }
        let shape: Vec<usize> = (0..ndim).map(|_| b.get_u32_le() as usize).collect();
        if shape.contains(&0) {
            return Err(bad("trace dimension", "at least 1".into(), "0".into()));
        }
        let n = checked_numel(&shape)
            .and_then(|n| n.checked_mul(4))
            .filter(|&n| n <= b.len())
            .ok_or_else(|| {
                bad(
                    "trace payload",
                    format!("4 bytes per value of shape {shape:?}"),
                    format!("{} bytes left", b.len()),
                )
            })?;
        let data = b[..n]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        b.advance(n);
        out.push(TensorMsg { shape, data });
    }
    if !b.is_empty() {
        return Err(bad(
            "trace payload",
            "no trailing bytes".into(),
            format!("{} trailing bytes", b.len()),
        ));
    }
    Ok(out)
}
