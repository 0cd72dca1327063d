#![doc = include_str!("../README.md")]

mod atomic_file;
pub mod elastic;
mod error;
pub mod fonts;
pub mod idx;
mod image_set;
mod mnist;
pub mod tabular;

pub use error::{Error, Result};
pub use fonts::{generate, FontCharConfig};
pub use image_set::{ImageSet, Split};
pub use mnist::{fashion_mnist, load_mnist_dir, load_with_names, STANDARD_NAMES};
