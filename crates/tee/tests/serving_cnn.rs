//! The Fashion-MNIST CNN of the zoo served split across the two services on loopback: each service
//! loads only its side from a safetensors file, and the answers equal the in-process full forward pass.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report
#![cfg(feature = "staged")]

use burn::tensor::{Device, Tensor, TensorData};
use privsplit_models::zoo::{build, ArchConfig};
use privsplit_tee::model::ModelSpec;
use privsplit_tee::service::{serve_untrusted, Client, ServerHandle, UntrustedConfig};
use privsplit_tee::TensorMsg;

mod common;

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

/// Both services of `spec` split at `k` on loopback (insecure-dev evidence) and a client connected to the
/// trusted one; the handles keep the services running.
async fn serve_split(spec: &ModelSpec, k: usize) -> (Client, [ServerHandle; 2]) {
    let u = serve_untrusted(
        common::local().await,
        spec.load_side(k, false).unwrap(),
        UntrustedConfig::default(),
    )
    .await
    .unwrap();
    let t = common::trusted_dev(spec.load_side(k, true).unwrap(), u.local_addr()).await;
    let c = common::client(&t).await;
    (c, [u, t])
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
    let (mut c, _services) = serve_split(&spec, k).await;
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

/// An ImageNet zoo model (ResNet-50 at 1/16 width, 32 px, 1000 classes) served split at the end of
/// `layer1` from one safetensors file, fed a PNG through `image_requests` (torchvision preprocessing +
/// ImageNet normalisation): the logits equal the in-process forward pass of the normalised crop.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resnet50_at_tiny_width_serves_a_png_like_the_full_forward() {
    let arch = ArchConfig::resnet50(32, 1000).with_width(1.0 / 16.0);
    let dev = Device::flex();
    let model = build(&arch, &dev).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("resnet.safetensors");
    privsplit_models::weights::save_model(&model, &w).unwrap();
    let png = dir.path().join("photo.png");
    image::RgbImage::from_fn(50, 40, |x, y| {
        image::Rgb([(x * 5) as u8, (y * 6) as u8, 90])
    })
    .save(&png)
    .unwrap();
    let spec = ModelSpec::Staged {
        arch: arch.clone(),
        weights: w,
    };
    let k = 4;
    let (mut c, _services) = serve_split(&spec, k).await;
    let req = privsplit_tee::model::image_requests(std::slice::from_ref(&png), 32)
        .unwrap()
        .remove(0);
    assert_eq!(req.shape, [1, 3, 32, 32]);
    // Independently: the crop in [0, 1], normalised in the model crate.
    let img = privsplit_data::rgb::load_photo(&png).unwrap();
    let px = privsplit_data::rgb::EvalTransform::imagenet(32)
        .apply(&img)
        .unwrap();
    let x = privsplit_models::imagenet::normalise(Tensor::<4>::from_data(
        TensorData::new(px, [1, 3, 32, 32]),
        &dev,
    ));
    let want = model
        .forward(x)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let p = c.infer(req).await.unwrap();
    assert_eq!(p.logits.data.len(), 1000);
    for (a, b) in p.logits.data.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
    }
    let e = privsplit_tee::model::image_requests(&[dir.path().join("missing.png")], 32)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.png"), "{e}");
}

#[test]
fn zoo_specs_name_size_and_weights() {
    let ok = ModelSpec::parse("resnet50@64:/w/r.pth", None).unwrap();
    let ModelSpec::Staged { arch, weights } = ok else {
        panic!("staged")
    };
    assert_eq!((arch.input_size, arch.classes), (64, 1000));
    assert_eq!(weights, std::path::PathBuf::from("/w/r.pth"));
    let ModelSpec::Staged { arch, .. } =
        ModelSpec::parse("efficientnet-b0", Some("/w/b0.pth".into())).unwrap()
    else {
        panic!("staged")
    };
    assert_eq!(arch.input_size, 224);
    // %WIDTH: the quarter-width CNN of the tiny presets.
    let ModelSpec::Staged { arch, .. } =
        ModelSpec::parse("small-cnn%25:/w/t.safetensors", None).unwrap()
    else {
        panic!("staged")
    };
    assert_eq!(arch, ArchConfig::small_cnn().with_width(0.25));
    for (spec, weights, want) in [
        ("small-cnn%0", Some("/a.st"), "percentage in (0, 400]"),
        ("small-cnn%quarter", Some("/a.st"), "percentage in (0, 400]"),
        ("vgg16", None, "needs weights"),
        ("vgg16:/a.pth", Some("/b.pth"), "give one"),
        ("resnet50@big:/a.pth", None, "integer"),
        ("alexnet:/a.pth", None, "expected small-cnn"),
    ] {
        let e = ModelSpec::parse(spec, weights.map(Into::into))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{spec}: {e}");
    }
}
