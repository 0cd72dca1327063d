//! A labelled set of grey images, the unit every other crate consumes.

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
