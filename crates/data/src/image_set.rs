//! A labelled set of grey images, the unit every other crate consumes, with small batching helpers.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result};

/// How grey levels become model inputs.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum InputScaling {
    /// `p / 255`, in `[0, 1]` (what the functional-encryption crate quantises).
    #[default]
    Unit,
    /// Per image, `(p - mean) / std` over its `rows * cols` pixels (population std), so each image has
    /// mean 0 and standard deviation 1 (`build_tensor_dataset` of Ryffel et al.'s public repository,
    /// `learn/collateral/data.py`). A constant image (std 0) becomes all zeros.
    Standardized,
}

/// One image's grey levels standardised to mean 0 and population standard deviation 1 (all zeros when
/// the image is constant). Computed in `f64`, returned as `f32`.
pub fn standardize_image(pixels: &[u8]) -> Vec<f32> {
    if pixels.is_empty() {
        return Vec::new();
    }
    let n = pixels.len() as f64;
    let mean = pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / n;
    let var = pixels
        .iter()
        .map(|&p| (f64::from(p) - mean).powi(2))
        .sum::<f64>()
        / n;
    let sd = var.sqrt();
    pixels
        .iter()
        .map(|&p| {
            if sd > 0.0 {
                ((f64::from(p) - mean) / sd) as f32
            } else {
                0.0
            }
        })
        .collect()
}

/// A set of single-channel images with a main-task label and, optionally, a sensitive attribute.
///
/// Pixels are row-major `[n, rows, cols]`, grey levels `0..=255` (0 = background).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSet {
    /// Pixels, row-major `[n, rows, cols]`, `0..=255`.
    pub pixels: Vec<u8>,
    /// Number of images.
    pub n: usize,
    /// Image height in pixels.
    pub rows: usize,
    /// Image width in pixels.
    pub cols: usize,
    /// Main-task label of each image, `[n]`, each `< class_names.len()`.
    pub labels: Vec<u8>,
    /// Names of the main-task classes (e.g. `"0".."9"`, or Fashion-MNIST's `"T-shirt/top"`, ...).
    pub class_names: Vec<String>,
    /// Sensitive attribute of each image (the font), `[n]`, each `< sensitive_names.len()`; `None` when the
    /// dataset has none (Fashion-MNIST).
    pub sensitive: Option<Vec<u8>>,
    /// Names of the sensitive-attribute values (font names); empty when `sensitive` is `None`.
    pub sensitive_names: Vec<String>,
}

/// A train/test pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Training images.
    pub train: ImageSet,
    /// Test images (never used for training).
    pub test: ImageSet,
}

fn invalid(what: &str, expected: impl Into<String>, got: impl Into<String>) -> Error {
    Error::Invalid {
        what: what.to_string(),
        expected: expected.into(),
        got: got.into(),
    }
}

impl ImageSet {
    /// Number of images (`n`).
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Pixels of one image per image, `rows * cols` bytes (`0..=255`).
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `i`, row-major `[rows, cols]`; `None` when `i >= n`.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let p = self.pixels_per_image();
        self.pixels.get(i * p..(i + 1) * p)
    }

    /// Checks that the set is internally consistent.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `pixels.len() != n * rows * cols`, `labels.len() != n`, a label is
    /// `>= class_names.len()`, `sensitive` has a length other than `n` or a value `>= sensitive_names.len()`,
    /// or `sensitive_names` is non-empty while `sensitive` is `None`.
    pub fn validate(&self) -> Result<()> {
        let want = self.n.checked_mul(self.pixels_per_image());
        if want != Some(self.pixels.len()) {
            return Err(invalid(
                "image set pixels",
                format!(
                    "n * rows * cols = {} * {} * {} bytes",
                    self.n, self.rows, self.cols
                ),
                format!("{} bytes", self.pixels.len()),
            ));
        }
        if self.labels.len() != self.n {
            return Err(invalid(
                "image set labels",
                format!("{} labels (one per image)", self.n),
                format!("{}", self.labels.len()),
            ));
        }
        if let Some((i, &l)) = self
            .labels
            .iter()
            .enumerate()
            .find(|(_, &l)| usize::from(l) >= self.class_names.len())
        {
            return Err(invalid(
                "image set labels",
                format!(
                    "labels < {} (the number of class names)",
                    self.class_names.len()
                ),
                format!("label {l} at image {i}"),
            ));
        }
        match &self.sensitive {
            Some(s) => {
                if s.len() != self.n {
                    return Err(invalid(
                        "image set sensitive attribute",
                        format!("{} values (one per image)", self.n),
                        format!("{}", s.len()),
                    ));
                }
                if let Some((i, &v)) = s
                    .iter()
                    .enumerate()
                    .find(|(_, &v)| usize::from(v) >= self.sensitive_names.len())
                {
                    return Err(invalid(
                        "image set sensitive attribute",
                        format!(
                            "values < {} (the number of sensitive names)",
                            self.sensitive_names.len()
                        ),
                        format!("value {v} at image {i}"),
                    ));
                }
            }
            None => {
                if !self.sensitive_names.is_empty() {
                    return Err(invalid(
                        "image set sensitive attribute",
                        "no sensitive names when there is no sensitive attribute",
                        format!("{} names", self.sensitive_names.len()),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The images at `indices`, in that order (repeats allowed), with their labels and names.
    ///
    /// # Errors
    /// [`Error::Invalid`] when an index is `>= n`.
    pub fn subset(&self, indices: &[usize]) -> Result<ImageSet> {
        let p = self.pixels_per_image();
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.n) {
            return Err(invalid(
                "subset index",
                format!("< {} (the number of images)", self.n),
                bad.to_string(),
            ));
        }
        let mut pixels = Vec::with_capacity(indices.len() * p);
        for &i in indices {
            pixels.extend_from_slice(&self.pixels[i * p..(i + 1) * p]);
        }
        Ok(ImageSet {
            pixels,
            n: indices.len(),
            rows: self.rows,
            cols: self.cols,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
            sensitive: self
                .sensitive
                .as_ref()
                .map(|s| indices.iter().map(|&i| s[i]).collect()),
            sensitive_names: self.sensitive_names.clone(),
        })
    }

    /// The first `min(n, self.n)` images.
    pub fn take(&self, n: usize) -> ImageSet {
        let n = n.min(self.n);
        let p = self.pixels_per_image();
        ImageSet {
            pixels: self.pixels[..n * p].to_vec(),
            n,
            rows: self.rows,
            cols: self.cols,
            labels: self.labels[..n].to_vec(),
            class_names: self.class_names.clone(),
            sensitive: self.sensitive.as_ref().map(|s| s[..n].to_vec()),
            sensitive_names: self.sensitive_names.clone(),
        }
    }

    /// A permutation of `0..n`, the same for the same `seed` (ChaCha8 + Fisher-Yates).
    pub fn shuffled_indices(&self, seed: u64) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.n).collect();
        idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        idx
    }

    /// Number of images per main-task class, `[class_names.len()]` (labels out of range are not counted).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0usize; self.class_names.len()];
        for &l in &self.labels {
            if let Some(x) = c.get_mut(usize::from(l)) {
                *x += 1;
            }
        }
        c
    }

    /// Number of images per sensitive-attribute value, `[sensitive_names.len()]`; empty when there is none.
    pub fn sensitive_counts(&self) -> Vec<usize> {
        let mut c = vec![0usize; self.sensitive_names.len()];
        for &l in self.sensitive.iter().flatten() {
            if let Some(x) = c.get_mut(usize::from(l)) {
                *x += 1;
            }
        }
        c
    }

    /// Pixels scaled to `[0, 1]` (`p / 255`) as `f32`, row-major `[n, 1, rows, cols]`
    /// (`[batch, channels, height, width]`, one channel).
    pub fn to_unit_f32(&self) -> Vec<f32> {
        self.pixels.iter().map(|&p| f32::from(p) / 255.0).collect()
    }

    /// Pixels as model inputs under `scaling`, row-major `[n, 1, rows, cols]`
    /// (`[batch, channels, height, width]`): [`InputScaling::Unit`] as [`Self::to_unit_f32`],
    /// [`InputScaling::Standardized`] each image by [`standardize_image`].
    pub fn to_model_f32(&self, scaling: InputScaling) -> Vec<f32> {
        match scaling {
            InputScaling::Unit => self.to_unit_f32(),
            InputScaling::Standardized => {
                let p = self.pixels_per_image().max(1);
                self.pixels.chunks(p).flat_map(standardize_image).collect()
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn standardized_images_have_mean_0_and_std_1() {
        let set = ImageSet {
            pixels: vec![0, 0, 255, 255, 10, 20, 30, 40, 7, 7, 7, 7],
            n: 3,
            rows: 2,
            cols: 2,
            labels: vec![0, 0, 0],
            class_names: vec!["a".into()],
            sensitive: None,
            sensitive_names: vec![],
        };
        let x = set.to_model_f32(InputScaling::Standardized);
        assert_eq!(x.len(), 12);
        // image 0: mean 127.5, population std 127.5 -> [-1, -1, 1, 1]
        assert_eq!(&x[..4], &[-1.0, -1.0, 1.0, 1.0]);
        let img1 = &x[4..8];
        let mean: f32 = img1.iter().sum::<f32>() / 4.0;
        let var: f32 = img1.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5);
        // (10 - 25) / sqrt(125)
        assert!((img1[0] - (-15.0 / 125f32.sqrt())).abs() < 1e-6);
        // a constant image is all zeros, never NaN
        assert_eq!(&x[8..], &[0.0; 4]);
        assert_eq!(set.to_model_f32(InputScaling::Unit), set.to_unit_f32());
    }
}
