//! IDX reading and writing: round trips (plain and gzip), split files, rejection of malformed input.
#![allow(clippy::unwrap_used)] // tests: a panic with the error is the failure report

use std::io::Write;

use privsplit_data::idx::{self, IdxArray};
use privsplit_data::{Error, ImageSet, Split};

fn arr() -> IdxArray {
    IdxArray {
        dims: vec![3, 2, 4],
        data: (0..24).map(|v| (v * 10) as u8).collect(),
    }
}

#[test]
fn encode_matches_the_format_by_hand() {
    let bytes = idx::encode(&IdxArray {
        dims: vec![2, 3],
        data: vec![1, 2, 3, 4, 5, 6],
    })
    .unwrap();
    assert_eq!(
        bytes,
        [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]
    );
}

#[test]
fn round_trip_plain_and_gz() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a-idx3-ubyte", "a-idx3-ubyte.gz"] {
        let p = dir.path().join(name);
        idx::write(&p, &arr()).unwrap();
        let raw = std::fs::read(&p).unwrap();
        assert_eq!(idx::is_gzip(&raw), name.ends_with(".gz"));
        assert_eq!(idx::read(&p).unwrap(), arr());
    }
    // gzip detected by magic even without the extension
    let p = dir.path().join("gz-without-extension");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&idx::encode(&arr()).unwrap()).unwrap();
    std::fs::write(&p, enc.finish().unwrap()).unwrap();
    assert_eq!(idx::read(&p).unwrap(), arr());
    // no temporary files left behind
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

fn expect_invalid(bytes: &[u8], needle: &str) {
    match idx::decode(bytes, "test input") {
        Err(e @ Error::Invalid { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("test input") && msg.contains(needle), "{msg}");
        }
        other => panic!("expected Invalid containing {needle:?}, got {other:?}"),
    }
}

#[test]
fn rejects_malformed() {
    let good = idx::encode(&arr()).unwrap();
    let mut bad_magic = good.clone();
    bad_magic[0] = 0x12;
    expect_invalid(&bad_magic, "magic");
    let mut bad_type = good.clone();
    bad_type[2] = 0x0D;
    expect_invalid(&bad_type, "float");
    expect_invalid(&good[..good.len() - 1], "truncated");
    expect_invalid(&good[..10], "header");
    let mut extra = good.clone();
    extra.push(0);
    expect_invalid(&extra, "trailing");
    expect_invalid(&[], "empty");
    // a corrupt gzip stream is an error, not a panic
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.gz");
    std::fs::write(&p, [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
    assert!(idx::read(&p).is_err());
    // missing file names its path
    match idx::read(&dir.path().join("missing")) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("missing")),
        other => panic!("{other:?}"),
    }
}

fn set(n: usize, with_sensitive: bool) -> ImageSet {
    ImageSet {
        pixels: (0..n * 12).map(|v| (v % 251) as u8).collect(),
        n,
        rows: 3,
        cols: 4,
        labels: (0..n).map(|i| (i % 3) as u8).collect(),
        class_names: vec!["a".into(), "b".into(), "c<".into()],
        sensitive: with_sensitive.then(|| (0..n).map(|i| (i % 2) as u8).collect()),
        sensitive_names: if with_sensitive {
            vec!["f0".into(), "f1".into()]
        } else {
            vec![]
        },
    }
}

#[test]
fn split_round_trip_with_and_without_sensitive() {
    let dir = tempfile::tempdir().unwrap();
    for (prefix, sens) in [("fonts", true), ("plain", false)] {
        let split = Split {
            train: set(7, sens),
            test: set(3, sens),
        };
        idx::write_split(dir.path(), prefix, &split).unwrap();
        assert!(idx::split_file(dir.path(), prefix, "train", "images").is_file());
        assert_eq!(
            idx::split_file(dir.path(), prefix, "test", "sensitive").is_file(),
            sens
        );
        assert_eq!(idx::read_split(dir.path(), prefix).unwrap(), split);
    }
}

#[test]
fn split_mismatched_counts_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let split = Split {
        train: set(7, true),
        test: set(3, true),
    };
    idx::write_split(dir.path(), "x", &split).unwrap();
    // replace the train labels by a file with one label too few
    idx::write(
        &idx::split_file(dir.path(), "x", "train", "labels"),
        &IdxArray {
            dims: vec![6],
            data: vec![0; 6],
        },
    )
    .unwrap();
    let e = idx::read_split(dir.path(), "x").unwrap_err();
    assert!(e.to_string().contains("6 labels"), "{e}");
    // an inconsistent set is refused before anything is written
    let mut bad = set(4, false);
    bad.labels[0] = 9;
    let e = idx::write_split(
        dir.path(),
        "y",
        &Split {
            train: bad,
            test: set(1, false),
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("label 9"), "{e}");
    assert!(!idx::meta_file(dir.path(), "y").exists());
}

#[test]
fn image_set_helpers() {
    let s = set(6, true);
    assert_eq!(s.len(), 6);
    let sub = s.subset(&[5, 0, 5]).unwrap();
    assert_eq!(sub.n, 3);
    assert_eq!(sub.image(0), s.image(5));
    assert_eq!(sub.labels, [2, 0, 2]);
    assert_eq!(sub.sensitive.as_deref(), Some(&[1, 0, 1][..]));
    sub.validate().unwrap();
    assert!(s.subset(&[6]).is_err());
    assert_eq!(s.take(2).labels, [0, 1]);
    assert_eq!(s.take(100).n, 6);
    let p = s.shuffled_indices(1);
    let mut sorted = p.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..6).collect::<Vec<_>>());
    assert_eq!(p, s.shuffled_indices(1));
    assert_eq!(s.class_counts(), [2, 2, 2]);
    let mut broken = s.clone();
    broken.pixels.pop();
    assert!(broken.validate().is_err());
    assert_eq!(s.to_unit_f32()[1], 1.0 / 255.0);
}
