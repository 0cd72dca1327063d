#![doc = include_str!("../README.md")]

mod error;
pub use error::{Error, Result};

// Image sets and splits: the in-memory form every dataset takes.
mod image_set;
pub use image_set::{ImageSet, Split};

// Datasets: generated font characters (with their elastic deformation), the MNIST family in IDX files,
// natural photographs, RGB image folders.
pub mod elastic;
pub mod figure_glyphs;
mod font_config;
pub mod font_packages;
pub mod fonts;
mod glyph;
pub mod idx;
mod mnist;
pub mod natural;
pub mod rgb;
pub mod tabular;
pub use fonts::{generate, FontCharConfig, FontMode};
pub use image_set::{standardize_image, InputScaling};
pub use mnist::{fashion_mnist, load_mnist_dir, load_with_names, STANDARD_NAMES};

// Installed data: where it lives and what a test does when it is missing.
pub mod installed;
pub use installed::{check_installed, installed_or_skip, INSTALL_STEP};
