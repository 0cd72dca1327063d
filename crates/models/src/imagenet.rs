//! ImageNet-1k class names and top-k predictions from logits, for checking that imported weights are right
//! (e.g. a photo of a cat gets a cat class) before a sweep.
//!
//! The names are torchvision's (`weights.meta["categories"]`, torchvision 0.28 `models/_meta.py`), packaged
//! in `data/imagenet_classes.txt` (see `data/README.md`).

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};

use crate::arch::{ArchConfig, ArchKind};
use crate::{Error, Result};

/// Per-channel mean of ImageNet training images (RGB, pixels in [0, 1]); torchvision's
/// `transforms.Normalize` values for every ImageNet model.
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// Per-channel standard deviation of ImageNet training images (RGB, pixels in [0, 1]).
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// ImageNet normalisation `(x - MEAN) / STD` per channel of `x` `[batch, 3, height, width]` (pixels in
/// [0, 1]), the input statistics ImageNet-trained weights expect.
pub fn normalise(x: Tensor<4>) -> Tensor<4> {
    let dev = x.device();
    let m = Tensor::<1>::from_floats(MEAN, &dev).reshape([1, 3, 1, 1]);
    let s = Tensor::<1>::from_floats(STD, &dev).reshape([1, 3, 1, 1]);
    (x - m) / s
}

/// Number of ImageNet-1k classes.
pub const NUM_CLASSES: usize = 1000;

const CLASSES_TXT: &str = include_str!("../data/imagenet_classes.txt");

/// The ImageNet-1k class names in class-index order (`class_names()[281] == "tabby"`).
pub fn class_names() -> Vec<&'static str> {
    CLASSES_TXT.lines().collect()
}

/// One of the top-k classes of an image.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Class index.
    pub class: usize,
    /// ImageNet class name when the model has [`NUM_CLASSES`] outputs, else `None`.
    pub name: Option<&'static str>,
    /// Softmax probability in [0, 1].
    pub probability: f32,
}

/// The `k` most probable classes of one image's `logits` `[classes]`, most probable first, with softmax
/// probabilities (computed stably: `exp(l - max l) / sum`). Non-finite logits sort last.
pub fn top_k(logits: &[f32], k: usize) -> Vec<Prediction> {
    let max = logits
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits
        .iter()
        .map(|&l| if l.is_finite() { (l - max).exp() } else { 0.0 })
        .collect();
    let total: f32 = exp.iter().sum();
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    idx.sort_by(|&a, &b| exp[b].total_cmp(&exp[a]).then(a.cmp(&b)));
    let names = (logits.len() == NUM_CLASSES).then(class_names);
    idx.into_iter()
        .take(k)
        .map(|class| Prediction {
            class,
            name: names.as_ref().and_then(|n| n.get(class).copied()),
            probability: if total > 0.0 { exp[class] / total } else { 0.0 },
        })
        .collect()
}

/// Classifies image files with an ImageNet model: builds `arch` (1000 classes), loads `weights` in either
/// naming ([`crate::import::load_weights`]: privsplit's safetensors or a PyTorch/torchvision state dict),
/// reads each PNG/JPEG image, centre-crops it to a square, resizes it to `arch.input_size`
/// ([`privsplit_data::natural::load_rgb`]; torchvision resizes to 256 then crops 224, a slightly tighter
/// crop), normalises it ([`normalise`]) and returns its top `k` classes, one list per image in order.
///
/// # Errors
/// [`Error::Invalid`] when `arch` does not have [`NUM_CLASSES`] outputs or an image cannot be read or decoded
/// (naming the file), and as [`crate::import::load_weights`].
pub fn predict_files(
    arch: &ArchConfig,
    weights: &Path,
    images: &[PathBuf],
    k: usize,
    device: &Device,
) -> Result<Vec<Vec<Prediction>>> {
    if arch.classes != NUM_CLASSES {
        return Err(Error::Invalid {
            what: "classes of the ImageNet model".into(),
            expected: format!("{NUM_CLASSES}"),
            got: format!("{}", arch.classes),
        });
    }
    let model = crate::import::load_weights(arch, weights, device)?;
    let size = arch.input_size;
    images
        .iter()
        .map(|path| {
            let pixels =
                privsplit_data::natural::load_rgb(path, size).map_err(|e| Error::Invalid {
                    what: format!("image {}", path.display()),
                    expected: "a readable PNG or JPEG file".into(),
                    got: e.to_string(),
                })?;
            let x = Tensor::<4>::from_data(TensorData::new(pixels, [1, 3, size, size]), device);
            let logits: Vec<f32> = model
                .forward(normalise(x))?
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| Error::Invalid {
                    what: "logits".into(),
                    expected: "float32 values".into(),
                    got: format!("{e:?}"),
                })?;
            Ok(top_k(&logits, k))
        })
        .collect()
}

impl ArchConfig {
    /// The image architecture `kind` at `input_size` x `input_size` px with the 1000 ImageNet classes;
    /// the small CNN keeps its own 28 px and 10 classes.
    ///
    /// # Errors
    /// [`Error::Invalid`] for [`ArchKind::TabularMlp`], which is not an image model
    /// ([`ArchConfig::tabular_mlp`]).
    pub fn image(kind: ArchKind, input_size: usize) -> Result<Self> {
        let classes = NUM_CLASSES;
        Ok(match kind {
            ArchKind::SmallCnn => Self::small_cnn(),
            ArchKind::Vgg16 => Self::vgg16(input_size, classes),
            ArchKind::ResNet50 => Self::resnet50(input_size, classes),
            ArchKind::EfficientNetB0 => Self::efficientnet_b0(input_size, classes),
            ArchKind::EfficientNetLite0 => Self::efficientnet_lite0(input_size, classes),
            ArchKind::TabularMlp => {
                return Err(Error::Invalid {
                    what: "--arch".into(),
                    expected: "an image model (small-cnn, vgg16, resnet50, efficientnet-b0, efficientnet-lite0)".into(),
                    got: "tabular_mlp".into(),
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_configs_take_the_size_and_imagenet_classes_except_the_small_cnn() {
        let r = ArchConfig::image(ArchKind::ResNet50, 64).expect("resnet50");
        assert_eq!(
            (r.kind, r.input_size, r.classes, r.in_channels),
            (ArchKind::ResNet50, 64, 1000, 3)
        );
        assert_eq!(
            ArchConfig::image(ArchKind::SmallCnn, 64).expect("small cnn"),
            ArchConfig::small_cnn()
        );
        let err = ArchConfig::image(ArchKind::TabularMlp, 1)
            .expect_err("not an image model")
            .to_string();
        assert!(
            err.contains("--arch") && err.contains("image model"),
            "{err}"
        );
    }

    #[test]
    fn the_packaged_list_has_the_1000_torchvision_names_in_order() {
        let n = class_names();
        assert_eq!(n.len(), NUM_CLASSES);
        assert_eq!(
            (n[0], n[281], n[504], n[999]),
            ("tench", "tabby", "coffee mug", "toilet tissue")
        );
        assert!(n.iter().all(|s| !s.is_empty() && s.trim() == *s));
    }

    #[test]
    fn normalise_maps_the_mean_to_zero_and_one_std_to_one() {
        let dev = burn::tensor::Device::flex();
        let x = Tensor::<1>::from_floats([MEAN[0], MEAN[1] + STD[1], MEAN[2] - 2.0 * STD[2]], &dev)
            .reshape([1, 3, 1, 1]);
        let y: Vec<f32> = normalise(x)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        assert_eq!(y.len(), 3);
        for (got, want) in y.iter().zip([0.0f32, 1.0, -2.0]) {
            assert!((got - want).abs() < 1e-6, "{y:?}");
        }
    }

    #[test]
    fn top_k_orders_by_probability_and_names_imagenet_classes() {
        let mut logits = vec![0.0f32; NUM_CLASSES];
        logits[281] = 5.0;
        logits[504] = 4.0;
        logits[7] = f32::NAN;
        let top = top_k(&logits, 3);
        assert_eq!(
            top.iter().map(|p| p.class).collect::<Vec<_>>(),
            [281, 504, 0]
        );
        assert_eq!(top[0].name, Some("tabby"));
        // Independent softmax: e^5 / (e^5 + e^4 + 997 e^0).
        let z = 5f32.exp() + 4f32.exp() + 997.0;
        let want = 5f32.exp() / z;
        assert!(
            (top[0].probability - want).abs() < 1e-5,
            "{} vs {want}",
            top[0].probability
        );
        // Other class counts: no names.
        let small = top_k(&[1.0, 3.0, 2.0], 5);
        assert_eq!(small.len(), 3);
        assert_eq!((small[0].class, small[0].name), (1, None));
    }
}
