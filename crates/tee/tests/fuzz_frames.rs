//! 10^5+ random and mutated frames through the parser: clear errors, no panic, bounded memory, and
//! every accepted frame re-encodes to the bytes it came from.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use privsplit_tee::fuzzing::{fuzz_frame, fuzz_frame_stream, FuzzRng};
use privsplit_tee::wire::{Frame, FrameKind, TensorMsg};

fn valid(r: &mut FuzzRng) -> Vec<u8> {
    let f = match r.below(3) {
        0 => {
            let ndim = 1 + r.below(4);
            let shape: Vec<usize> = (0..ndim).map(|_| 1 + r.below(4)).collect();
            let n: usize = shape.iter().product();
            let data = (0..n)
                .map(|_| f32::from_bits(r.next_u64() as u32))
                .collect();
            let kind = if r.below(2) == 0 {
                FrameKind::Request
            } else {
                FrameKind::Response
            };
            let mut f = Frame::tensor(kind, r.next_u64(), TensorMsg::new(shape, data).unwrap());
            f.flags = (r.below(2)) as u8;
            f
        }
        1 => Frame::error(r.next_u64(), "some error text"),
        _ => Frame {
            kind: FrameKind::Evidence,
            flags: 1,
            request_id: 0,
            body: privsplit_tee::wire::Body::Bytes(b"{\"kind\":\"insecure-dev\"}".to_vec()),
        },
    };
    f.to_bytes()
}

#[test]
fn fuzz_100k_frames() {
    const MAX: usize = 4096;
    let mut r = FuzzRng::new(0x5eed);
    let (mut parsed, mut rejected) = (0usize, 0usize);
    let t0 = std::time::Instant::now();
    for i in 0..120_000usize {
        let mut rec = valid(&mut r);
        match i % 6 {
            0 => {} // valid
            1 => {
                for _ in 0..1 + r.below(4) {
                    let p = r.below(rec.len());
                    rec[p] ^= 1 << r.below(8);
                }
            }
            2 => rec.truncate(r.below(rec.len())),
            3 => rec.extend((0..1 + r.below(16)).map(|_| r.next_u64() as u8)),
            4 => {
                let p = r.below(rec.len());
                rec[p] = r.next_u64() as u8;
                if rec.len() > 13 {
                    rec[12] = r.below(12) as u8; // ndim, sometimes > 8
                }
            }
            _ => rec = (0..r.below(64)).map(|_| r.next_u64() as u8).collect(),
        }
        if fuzz_frame(&rec) {
            parsed += 1;
        } else {
            rejected += 1;
        }
        // The same record behind a length prefix, sometimes a lying one, in a stream.
        let mut stream = Vec::new();
        let len = if i % 7 == 0 {
            r.next_u64() as u32
        } else {
            rec.len() as u32
        };
        stream.extend_from_slice(&len.to_le_bytes());
        stream.extend_from_slice(&rec);
        stream.extend_from_slice(&(valid(&mut r).len() as u32).to_le_bytes());
        fuzz_frame_stream(&stream, MAX);
    }
    eprintln!(
        "fuzz: {parsed} parsed, {rejected} rejected in {:?}",
        t0.elapsed()
    );
    assert!(parsed > 20_000, "valid frames must parse ({parsed})");
    assert!(rejected > 40_000, "mutations must be rejected ({rejected})");
}

#[test]
fn oversized_length_prefix_is_rejected_without_allocation() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut bytes: &[u8] = &[0xff, 0xff, 0xff, 0x7f, 1, 2, 3];
        let e = privsplit_tee::wire::read_frame(&mut bytes, 1 << 20, "test")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("record length"), "{e}");
    });
}
