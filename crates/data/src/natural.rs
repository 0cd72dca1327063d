//! Natural test photographs: scikit-image's public-domain / CC0 sample images (Debian `python3-skimage`),
//! the victims of the white-box sweep of the pretrained EfficientNet-Lite0.

use std::path::Path;

use image::imageops::FilterType;
use image::RgbImage;

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

/// RGB images as planar floats: `pixels` is `[n, 3, size, size]` (row-major) with values in `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RgbImages {
    /// Number of images `n`.
    pub n: usize,
    /// Side of every (square) image, pixels.
    pub size: usize,
    /// `[n, 3, size, size]`, values in `[0, 1]`.
    pub pixels: Vec<f32>,
    /// File name of each image.
    pub names: Vec<String>,
}

/// Loads an RGB image, centre-crops it to a square and resizes it to `size` x `size` (triangle filter,
/// i.e. bilinear when enlarging and area-weighted when shrinking): `[3, size, size]` in `[0, 1]`.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Invalid`] when it cannot be decoded or `size` is 0.
pub fn load_rgb(path: &Path, size: usize) -> Result<Vec<f32>> {
    if size == 0 {
        return Err(Error::Invalid {
            what: "image size".into(),
            expected: ">= 1".into(),
            got: "0".into(),
        });
    }
    let img = load_photo(path)?;
    let (w, h) = (img.width(), img.height());
    let side = w.min(h);
    let square =
        image::imageops::crop_imm(&img, (w - side) / 2, (h - side) / 2, side, side).to_image();
    let s = size as u32;
    Ok(planar(&image::imageops::resize(
        &square,
        s,
        s,
        FilterType::Triangle,
    )))
}

/// Loads the available [`NATURAL_IMAGES`] from `dir` at `size` x `size`.
///
/// # Errors
/// [`Error::NotInstalled`] when none of them is readable; [`Error::Invalid`] when `size` is 0.
pub fn load_natural_images(dir: &Path, size: usize) -> Result<RgbImages> {
    let mut pixels = Vec::new();
    let mut names = Vec::new();
    for name in NATURAL_IMAGES {
        let p = dir.join(name);
        if p.is_file() {
            pixels.extend(load_rgb(&p, size)?);
            names.push(name.to_string());
        }
    }
    if names.is_empty() {
        return Err(Error::NotInstalled {
            what: "scikit-image photographs (Debian python3-skimage)".into(),
            path: dir.to_path_buf(),
            detail: format!("none of {NATURAL_IMAGES:?} found"),
        });
    }
    Ok(RgbImages {
        n: names.len(),
        size,
        pixels,
        names,
    })
}

/// Decodes `path` (PNG or JPEG, any colour type) into 8-bit RGB (grey replicated to three channels, alpha
/// dropped).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Invalid`] naming the file when it cannot be decoded
/// (not an image, truncated) or is empty.
pub fn load_photo(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| Error::Invalid {
            what: path.display().to_string(),
            expected: "a decodable PNG or JPEG image".into(),
            got: e.to_string(),
        })?
        .to_rgb8();
    if img.width() == 0 || img.height() == 0 {
        return Err(Error::Invalid {
            what: path.display().to_string(),
            expected: "a non-empty image".into(),
            got: format!("{} x {} pixels", img.width(), img.height()),
        });
    }
    Ok(img)
}

/// `img` as planar floats `[3, height, width]` (row-major), pixels `/ 255` in `[0, 1]` (torchvision's
/// `ToTensor`).
pub fn planar(img: &RgbImage) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut v = vec![0.0f32; 3 * w * h];
    for (x, y, p) in img.enumerate_pixels() {
        for c in 0..3 {
            v[c * w * h + y as usize * w + x as usize] = f32::from(p[c]) / 255.0;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4x2 image is centre-cropped to its middle 2x2 and kept at size 2 exactly, planar RGB.
    #[test]
    fn crops_to_the_centre_square_and_scales_to_unit_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut img = image::RgbImage::new(4, 2);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([(x * 60) as u8, (y * 200) as u8, 255]);
        }
        let path = dir.path().join("a.png");
        img.save(&path).expect("png");
        let v = load_rgb(&path, 2).expect("load");
        // Red channel = columns 1 and 2 of the original (60, 120), green = rows (0, 200), blue = 255.
        let r: Vec<u8> = v[..4].iter().map(|x| (x * 255.0).round() as u8).collect();
        assert_eq!(r, [60, 120, 60, 120]);
        let g: Vec<u8> = v[4..8].iter().map(|x| (x * 255.0).round() as u8).collect();
        assert_eq!(g, [0, 0, 200, 200]);
        assert!(v[8..].iter().all(|&b| b == 1.0));
        assert!(load_rgb(&path, 0).is_err());
        let e = load_natural_images(dir.path(), 8).expect_err("no photographs");
        assert!(e.to_string().contains(crate::INSTALL_STEP), "{e}");
    }
}
