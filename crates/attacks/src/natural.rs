//! Natural test images (scikit-image's public-domain / CC0 sample images, Debian `python3-skimage`) and the
//! pretrained EfficientNet-Lite0 (ImageNet) used for the white-box sweep.

use std::path::{Path, PathBuf};

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, TensorData};

use crate::rmle::InputNorm;
use crate::{Error, Result};

/// Where Debian's `python3-skimage` installs the sample images.
pub const SKIMAGE_DATA_DIR: &str = "/usr/lib/python3/dist-packages/skimage/data";

/// RGB photographs among scikit-image's samples (chelsea: a cat; coffee: a cup of coffee; astronaut;
/// motorcycle; grey samples such as `camera.png` are not used).
pub const NATURAL_IMAGES: [&str; 4] = [
    "chelsea.png",
    "coffee.png",
    "astronaut.png",
    "motorcycle_left.png",
];

/// ImageNet normalisation (per-channel mean and standard deviation of the ImageNet training set), the
/// input normalisation the converted EfficientNet-Lite0 weights expect.
pub fn imagenet_norm() -> InputNorm {
    InputNorm {
        mean: vec![0.485, 0.456, 0.406],
        std: vec![0.229, 0.224, 0.225],
    }
}

/// Default location of the converted EfficientNet-Lite0 weights (`scripts/install-deps.sh`).
pub fn lite0_weights_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data-cache/efficientnet_lite0.safetensors"
    ))
}

/// Loads an RGB image, centre-crops it to a square and resizes it (bilinear) to `size` x `size`:
/// `[1, 3, size, size]` with values in `[0, 1]`.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Invalid`] when it cannot be decoded or `size` is 0.
pub fn load_rgb(path: &Path, size: usize, dev: &Device) -> Result<Tensor<4>> {
    if size == 0 {
        return Err(Error::Invalid {
            what: "image size".into(),
            expected: ">= 1".into(),
            got: "0".into(),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| Error::Invalid {
            what: path.display().to_string(),
            expected: "a decodable PNG image".into(),
            got: e.to_string(),
        })?
        .to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let side = w.min(h);
    let (x0, y0) = ((w - side) / 2, (h - side) / 2);
    let mut v = vec![0.0f32; 3 * side * side];
    for y in 0..side {
        for x in 0..side {
            let p = img.get_pixel((x0 + x) as u32, (y0 + y) as u32);
            for c in 0..3 {
                v[c * side * side + y * side + x] = f32::from(p[c]) / 255.0;
            }
        }
    }
    let t = Tensor::<4>::from_data(TensorData::new(v, [1, 3, side, side]), dev);
    let mut opts =
        InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([size, size]);
    opts.align_corners = false;
    Ok(interpolate(t, opts).clamp(0.0, 1.0))
}

/// Loads the available [`NATURAL_IMAGES`] from `dir` as `[n, 3, size, size]` in `[0, 1]`, with their names.
///
/// # Errors
/// [`Error::Io`] when none of them exists; as [`load_rgb`].
pub fn load_natural_images(
    dir: &Path,
    size: usize,
    dev: &Device,
) -> Result<(Tensor<4>, Vec<String>)> {
    let mut imgs = Vec::new();
    let mut names = Vec::new();
    for name in NATURAL_IMAGES {
        let p = dir.join(name);
        if p.is_file() {
            if let Ok(t) = load_rgb(&p, size, dev) {
                imgs.push(t);
                names.push(name.to_string());
            }
        }
    }
    if imgs.is_empty() {
        return Err(Error::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no natural images (install python3-skimage)",
            ),
        });
    }
    Ok((Tensor::cat(imgs, 0), names))
}

#[cfg(test)]
mod tests {
    use super::*;
    use privsplit_models::weights::load_model;
    use privsplit_models::zoo::ArchConfig;

    fn top5(logits: Tensor<2>) -> Vec<usize> {
        let v: Vec<f32> = logits.into_data().try_to_vec::<f32>().expect("f32");
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
        idx.truncate(5);
        idx
    }

    /// The converted ImageNet weights classify real photographs sensibly: the cat photo (chelsea) gets a
    /// cat class (ImageNet 281-285) in its top 5, the coffee photo a cup / espresso / coffee mug class.
    #[test]
    fn pretrained_lite0_recognises_a_cat_and_a_coffee_cup() {
        let weights = lite0_weights_path();
        let dir = Path::new(SKIMAGE_DATA_DIR);
        if !weights.is_file() || !dir.join("chelsea.png").is_file() {
            eprintln!(
                "skipping: {} or {} missing (run scripts/install-deps.sh)",
                weights.display(),
                dir.join("chelsea.png").display()
            );
            return;
        }
        let dev = Device::flex();
        let model = load_model(&ArchConfig::efficientnet_lite0(224, 1000), &weights, &dev)
            .expect("weights");
        let norm = imagenet_norm();
        let cat = load_rgb(&dir.join("chelsea.png"), 224, &dev).expect("chelsea");
        let coffee = load_rgb(&dir.join("coffee.png"), 224, &dev).expect("coffee");
        let logits = model
            .forward(norm.apply(Tensor::cat(vec![cat, coffee], 0)))
            .expect("forward");
        let cat5 = top5(
            logits
                .clone()
                .narrow(0, 0, 1)
                .flatten::<1>(0, 1)
                .reshape([1, 1000]),
        );
        let coffee5 = top5(logits.narrow(0, 1, 1));
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
}
