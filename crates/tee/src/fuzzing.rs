//! Fuzzing entry points (used by the fuzz test; a cargo-fuzz target would be a one-line shim).

use bytes::BytesMut;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio_util::codec::Decoder;

use crate::verify::{encode_tensors, parse_tensors};
use crate::wire::{Body, Frame, FrameCodec, FrameKind};

/// The seeded random source of the fuzz tests (ChaCha8): the same seed gives the same inputs.
#[derive(Clone, Debug)]
pub struct FuzzRng(ChaCha8Rng);

impl FuzzRng {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A uniform 64-bit value.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniform value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.0.gen_range(0..n)
        }
    }
}

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
