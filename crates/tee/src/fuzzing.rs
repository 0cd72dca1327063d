//! Fuzzing entry points (used by the fuzz test; a cargo-fuzz target would be a one-line shim).

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::wire::{encode_tensors, parse_tensors, Body, Frame, FrameCodec, FrameKind};

/// Feeds `data` to a fresh [`FrameCodec`] limited to `max` bytes and checks the properties every
/// input must satisfy: no panic; every frame that parses re-encodes to exactly the bytes it was parsed
/// from; the decoder never buffers a record longer than `max`. Returns the number of frames parsed.
///
/// # Panics
/// When a property is violated (that is the point of a fuzz target).
pub fn fuzz_frame_stream(data: &[u8], max: usize) -> usize {
    let mut codec = FrameCodec::new(max);
    let mut buf = BytesMut::from(data);
    let mut n = 0;
    loop {
        let before = buf.clone();
        match codec.decode(&mut buf) {
            Ok(Some(f)) => {
                let consumed = before.len() - buf.len();
                let rec = &before[4..consumed];
                assert!(rec.len() <= max, "record above the limit accepted");
                assert_eq!(f.to_bytes(), rec, "parse/encode round trip differs");
                n += 1;
            }
            Ok(None) | Err(_) => return n,
        }
    }
}

/// Parses one record's contents; on success re-encoding must reproduce it exactly.
///
/// # Panics
/// When the round trip differs.
pub fn fuzz_frame(rec: &[u8]) -> bool {
    match Frame::parse(rec) {
        Ok(f) => {
            assert_eq!(f.to_bytes(), rec, "parse/encode round trip differs");
            true
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

/// The plaintext of one channel or link message as a receiver sees it after decryption: a frame, and for
/// a [`crate::wire::FrameKind::Trace`] frame its tensor list (at most `max_trace` tensors). Accepted
/// inputs must re-encode to exactly their bytes. Returns whether the frame parsed.
///
/// # Panics
/// When a round trip differs.
pub fn fuzz_plaintext(plain: &[u8], max_trace: usize) -> bool {
    if !fuzz_frame(plain) {
        return false;
    }
    if let Ok(Frame {
        kind: FrameKind::Trace,
        body: Body::Bytes(b),
        ..
    }) = Frame::parse(plain)
    {
        if let Ok(ts) = parse_tensors(&b, max_trace) {
            assert_eq!(
                encode_tensors(&ts),
                b,
                "trace parse/encode round trip differs"
            );
        }
    }
    true
}
