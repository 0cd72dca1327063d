#![doc = include_str!("../README.md")]

mod document;
mod error;
mod grid;
mod plot;
mod run_dir;

pub use document::{escape_html, read_json, write_json, Block, Figure, Report, Section, Table};
pub use error::{Error, Result};
pub use grid::{grid_size, image_grid, GridImage, GRID_LABEL_HEIGHT, GRID_PAD};
pub use plot::{line_plot, LinePlot, Series};
pub use run_dir::{utc_timestamp, write_atomic, RunDir};
