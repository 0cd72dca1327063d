//! The Fashion-MNIST CNN of the zoo served split across the two services on loopback: each service
//! loads only its side from a safetensors file, and the answers equal the in-process full forward pass.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report
#![cfg(feature = "staged")]

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use privsplit_models::zoo::{build, ArchConfig};
use privsplit_tee::attestation::{InsecureDevAttester, Policy, PolicyVerifier};
use privsplit_tee::model::ModelSpec;
use privsplit_tee::service::{
    serve_trusted, serve_untrusted, Client, ClientConfig, TrustedConfig, UntrustedConfig,
};
use privsplit_tee::TensorMsg;
use tokio::net::TcpListener;

fn image(i: usize) -> Vec<f32> {
    // A real Fashion-MNIST test image when the Debian package is installed, a fixed pattern otherwise.
    let p = std::path::Path::new("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
    if let Ok(a) = privsplit_data::idx::read_images(p) {
        return a.data[i * 784..(i + 1) * 784]
            .iter()
            .map(|&b| f32::from(b) / 255.0)
            .collect();
    }
    eprintln!("fashion-mnist not installed: using a synthetic 28x28 pattern");
    (0..784)
        .map(|j| ((j * 31 + i * 7) % 97) as f32 / 97.0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn small_cnn_split_over_loopback_equals_full_forward() {
    let arch = ArchConfig::small_cnn();
    let dev = Device::flex();
    let model = build(&arch, &dev).unwrap();
    let n = model.num_stages();
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("cnn.safetensors");
    privsplit_models::weights::save_model(&model, &w).unwrap();
    let spec = ModelSpec::parse("small-cnn", Some(w)).unwrap();
    assert_eq!(spec.num_stages().unwrap(), n);
    let k = 2.min(n - 1);
    let u = serve_untrusted(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        spec.load_side(k, false).unwrap(),
        UntrustedConfig::default(),
    )
    .await
    .unwrap();
    let t = serve_trusted(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        spec.load_side(k, true).unwrap(),
        Arc::new(InsecureDevAttester),
        TrustedConfig {
            upstream: Some(u.local_addr()),
            ..TrustedConfig::default()
        },
    )
    .await
    .unwrap();
    let mut c = Client::connect(
        t.local_addr(),
        &PolicyVerifier::new(Policy::insecure_dev()),
        ClientConfig::default(),
    )
    .await
    .unwrap();
    for i in 0..3 {
        let px = image(i);
        let want = model
            .forward(Tensor::<4>::from_data(
                TensorData::new(px.clone(), [1, 1, 28, 28]),
                &dev,
            ))
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let p = c
            .infer(TensorMsg::new(vec![1, 1, 28, 28], px).unwrap())
            .await
            .unwrap();
        assert!(p.insecure_dev);
        assert_eq!(p.logits.data.len(), want.len());
        for (a, b) in p.logits.data.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}
