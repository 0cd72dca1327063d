//! Helpers that the font test binaries of `privsplit-data` share (each binary uses a subset).
#![allow(dead_code)]

use privsplit_data::fonts::FontCharConfig;

/// The small synthetic-font configuration (`FontCharConfig::small`) with `train`/`test` images and `seed`.
pub fn small(train: usize, test: usize, seed: u64) -> FontCharConfig {
    FontCharConfig {
        seed,
        ..FontCharConfig::small(train, test)
    }
}

/// The authors' packaged-font configuration (`FontCharConfig::authors`) with `train`/`test` images and
/// `seed`.
pub fn authors(train: usize, test: usize, seed: u64) -> FontCharConfig {
    FontCharConfig {
        seed,
        ..FontCharConfig::authors(train, test)
    }
}
