//! Fuzzing entry points (used by the fuzz test; a cargo-fuzz target would be a one-line shim).

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::wire::{Frame, FrameCodec};

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
