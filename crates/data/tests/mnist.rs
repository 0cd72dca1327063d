//! MNIST-layout folders and the Debian Fashion-MNIST package.
#![allow(clippy::unwrap_used)] // tests: a panic with the error is the failure report

use privsplit_data::idx::{self, IdxArray};
use privsplit_data::{fashion_mnist, load_mnist_dir};

#[test]
fn loads_a_synthetic_mnist_folder_plain_and_gz() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    idx::write(
        &d.join("train-images-idx3-ubyte.gz"),
        &IdxArray {
            dims: vec![4, 2, 2],
            data: vec![7; 16],
        },
    )
    .unwrap();
    idx::write(
        &d.join("train-labels-idx1-ubyte"),
        &IdxArray {
            dims: vec![4],
            data: vec![0, 1, 2, 3],
        },
    )
    .unwrap();
    idx::write(
        &d.join("t10k-images-idx3-ubyte"),
        &IdxArray {
            dims: vec![1, 2, 2],
            data: vec![1; 4],
        },
    )
    .unwrap();
    idx::write(
        &d.join("t10k-labels-idx1-ubyte.gz"),
        &IdxArray {
            dims: vec![1],
            data: vec![5],
        },
    )
    .unwrap();
    let s = load_mnist_dir(d).unwrap();
    assert_eq!((s.train.n, s.test.n, s.train.rows), (4, 1, 2));
    assert_eq!(s.train.class_names.len(), 6);
    assert!(s.train.sensitive.is_none());
    // counts not matching: 3 labels for 4 images
    idx::write(
        &d.join("train-labels-idx1-ubyte"),
        &IdxArray {
            dims: vec![3],
            data: vec![0, 1, 2],
        },
    )
    .unwrap();
    let e = load_mnist_dir(d).unwrap_err();
    assert!(e.to_string().contains("4 labels"), "{e}");
    // a missing file names what was looked for
    std::fs::remove_file(d.join("t10k-images-idx3-ubyte")).unwrap();
    let e = load_mnist_dir(d).unwrap_err();
    assert!(e.to_string().contains("t10k-images-idx3-ubyte"), "{e}");
}

#[test]
fn fashion_mnist_from_debian() {
    if !fashion_mnist::debian_available() {
        eprintln!(
            "SKIP fashion_mnist_from_debian: {} absent (apt-get install dataset-fashion-mnist)",
            fashion_mnist::DEBIAN_DIR
        );
        return;
    }
    let s = fashion_mnist::load(std::path::Path::new(fashion_mnist::DEBIAN_DIR)).unwrap();
    assert_eq!((s.train.n, s.test.n), (60_000, 10_000));
    assert_eq!((s.train.rows, s.train.cols), (28, 28));
    assert_eq!(s.train.class_names.len(), 10);
    assert_eq!(s.train.class_names[9], "Ankle boot");
    // Fashion-MNIST is balanced: 6,000 and 1,000 per class
    assert_eq!(s.train.class_counts(), vec![6000; 10]);
    assert_eq!(s.test.class_counts(), vec![1000; 10]);
    assert!(s.train.sensitive.is_none());
    // real images, not zeros
    let mean =
        s.test.pixels.iter().map(|&v| f64::from(v)).sum::<f64>() / s.test.pixels.len() as f64;
    assert!((50.0..100.0).contains(&mean), "mean grey level {mean}");
}
