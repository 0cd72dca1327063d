#![doc = include_str!("../README.md")]

mod atomic_file;
pub mod elastic;
mod error;
pub mod figure_glyphs;
mod font_config;
pub mod font_packages;
pub mod fonts;
pub mod idx;
mod image_set;
mod mnist;
pub mod tabular;

pub use error::{Error, Result};
pub use fonts::{generate, FontCharConfig, FontMode};
pub use image_set::{standardize_image, ImageSet, InputScaling, Split};
pub use mnist::{fashion_mnist, load_mnist_dir, load_with_names, STANDARD_NAMES};
