#![doc = include_str!("../README.md")]

mod error;
mod image_set;

pub use error::{Error, Result};
pub use image_set::{ImageSet, Split};
