//! A gzipped IDX file whose stream inflates far beyond what its header declares (a "gzip bomb") is refused
//! with a clear error, having inflated no more than the declared size plus a margin.
//!
//! Own test binary: it measures the process's peak resident memory (`VmHWM`), which other tests would
//! disturb.
#![allow(clippy::unwrap_used)] // tests: a panic with the error is the failure report

use std::io::Write;

use privsplit_data::idx;
use privsplit_data::Error;

/// Peak resident set size of this process, bytes (Linux `/proc/self/status`, `VmHWM`).
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[test]
fn gzip_bomb_is_refused_without_inflating_it() {
    const BOMB: usize = 512 << 20; // 512 MiB of zeros after the body, 0.5-5 MB compressed (by flate2 backend)
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bomb-idx3-ubyte.gz");
    // Header: 10 images of 28 x 28 (7,840 body bytes), then far more bytes than that.
    let f = std::fs::File::create(&p).unwrap();
    let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    enc.write_all(&[0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28])
        .unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..BOMB >> 20 {
        enc.write_all(&chunk).unwrap();
    }
    enc.finish().unwrap();
    drop(chunk);
    let compressed = std::fs::metadata(&p).unwrap().len();
    // A bomb: at least 64x smaller than what it inflates to (zlib-rs at `fast` gives about 100x on zeros).
    assert!(compressed < 8 << 20, "{compressed} bytes compressed");

    let before = peak_rss();
    let t = std::time::Instant::now();
    let r = idx::read(&p);
    let after = peak_rss();
    match r {
        Err(e @ Error::Invalid { .. }) => {
            let m = e.to_string();
            assert!(
                m.contains("bomb-idx3-ubyte.gz") && m.contains("7840"),
                "{m}"
            );
        }
        other => panic!("expected a clear Invalid error, got {other:?}"),
    }
    if let (Some(b), Some(a)) = (before, after) {
        let grew = a.saturating_sub(b);
        assert!(
            grew < 32 << 20,
            "peak RSS grew by {} MiB reading a {compressed}-byte file",
            grew >> 20
        );
    }
    eprintln!("refused in {:?}", t.elapsed());
}

#[test]
fn declared_size_larger_than_the_stream_is_truncation() {
    // A header declaring 60000 x 28 x 28 in a tiny stream: refused as truncated; nothing of the declared
    // 47 MB is allocated up front (checked by the bound on what the stream can inflate to).
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("short-idx3-ubyte.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&[
        0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3,
    ])
    .unwrap();
    std::fs::write(&p, enc.finish().unwrap()).unwrap();
    let e = idx::read(&p).unwrap_err().to_string();
    assert!(e.contains("truncated") && e.contains("47040000"), "{e}");
    // A gzip stream whose header is cut short.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&[0, 0, 8, 3, 0, 0]).unwrap();
    std::fs::write(&p, enc.finish().unwrap()).unwrap();
    let e = idx::read(&p).unwrap_err().to_string();
    assert!(e.contains("header"), "{e}");
}
