#![doc = include_str!("../README.md")]

mod error;
pub use error::{Error, Result};

// The report document and its renderings (Markdown, HTML, JSON).
mod document;
pub use document::{escape_html, read_json, write_json, Block, Figure, Report, Section, Table};

// Figures and data files: line plots (PNG + SVG), image grids (PNG), CSV tables.
mod csv_table;
mod grid;
mod plot;
pub use csv_table::write_csv;
pub use grid::{grid_size, image_grid, GridImage, GRID_LABEL_HEIGHT, GRID_PAD};
pub use plot::{line_plot, LinePlot, Series};

// Run folders and atomic writes; what every report records about the run.
mod provenance;
mod run_dir;
pub use provenance::{cpu_model, git_commit, Provenance};
pub use run_dir::{utc_timestamp, write_atomic, RunDir};
