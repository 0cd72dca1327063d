//! Preprocessing of TON_IoT rows into model inputs, fitted on the training split only and saved with the
//! model (JSON next to the weights), plus the stratified train/test split.
//!
//! The usual treatment of this dataset (e.g. Moustafa 2021, "A new distributed architecture for evaluating
//! AI-based security systems at the edge: network TON_IoT datasets", §5; Gad et al. 2021): identifiers
//! (addresses, ports, timestamps) are dropped (the loader never keeps them); every categorical column is
//! one-hot encoded over its `top_n` most frequent training tokens plus one "other" slot for everything else
//! (`-`, "missing", is a token like any other); every numeric column is mapped by the signed log1p
//! `t(x) = sign(x) ln(1 + |x|)` (byte and packet counts span nine orders of magnitude) and standardised
//! `(t(x) - mean) / std` with the mean and standard deviation of the training split. A missing numeric
//! value (`-`: the field does not apply to the flow, e.g. HTTP fields of a DNS flow) is taken as 0 before
//! the transform.
//!
//! Output rows are `[features]` `f32`: the numeric columns first (schema order), then the one-hot blocks
//! (schema order, `top_n` or fewer tokens then "other" each).

use std::collections::HashMap;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::loader::TonIotTable;
use super::schema::CLASSES;
use crate::{Error, Result};

/// Settings of [`Preprocessor::fit`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreprocessConfig {
    /// Most frequent training tokens kept per categorical column (the rest share the "other" slot).
    pub top_n: usize,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        Self { top_n: 8 }
    }
}

/// Training statistics of one numeric column (of `sign(x) ln(1 + |x|)`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NumericStats {
    /// Column name.
    pub name: String,
    /// Mean of the transformed training values.
    pub mean: f64,
    /// Standard deviation of the transformed training values (1 when they are constant).
    pub std: f64,
}

/// The kept tokens of one categorical column; its block is `tokens.len() + 1` wide (last slot: "other").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoricalVocab {
    /// Column name.
    pub name: String,
    /// Kept tokens, most frequent first (ties: lexicographic).
    pub tokens: Vec<String>,
}

/// Where a column's values sit in a preprocessed row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeatureBlock {
    /// A numeric column: one slot.
    Numeric {
        /// Column name.
        name: String,
        /// Index of the slot.
        index: usize,
    },
    /// A categorical column: a one-hot block.
    Categorical {
        /// Column name.
        name: String,
        /// First slot.
        start: usize,
        /// Slots (kept tokens + "other").
        len: usize,
    },
}

/// The fitted preprocessing (serde; saved as JSON next to the model weights).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    /// Format tag, `"privsplit-ton-iot-preprocess/1"`.
    pub format: String,
    /// The settings it was fitted with.
    pub config: PreprocessConfig,
    /// Numeric columns, in output order.
    pub numeric: Vec<NumericStats>,
    /// Categorical columns, in output order.
    pub categorical: Vec<CategoricalVocab>,
    /// Columns dropped as identifiers.
    pub dropped: Vec<String>,
    /// Class names (index = class id).
    pub classes: Vec<String>,
    /// Training rows it was fitted on.
    pub fitted_rows: usize,
}

const FORMAT: &str = "privsplit-ton-iot-preprocess/1";

/// `sign(x) ln(1 + |x|)`.
pub fn signed_log1p(x: f64) -> f64 {
    x.signum() * x.abs().ln_1p()
}

/// Inverse of [`signed_log1p`]: `sign(t) (e^|t| - 1)`.
pub fn signed_expm1(t: f64) -> f64 {
    t.signum() * t.abs().exp_m1()
}

impl Preprocessor {
    /// Fits the preprocessing on rows `train` of `table` (the training split only).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `train` is empty, an index is out of range, or `top_n == 0`.
    pub fn fit(table: &TonIotTable, train: &[usize], config: PreprocessConfig) -> Result<Self> {
        if train.is_empty() || config.top_n == 0 {
            return Err(invalid(
                "preprocessing fit",
                "at least one training row and top_n >= 1",
                format!("{} rows, top_n {}", train.len(), config.top_n),
            ));
        }
        if let Some(&r) = train.iter().find(|&&r| r >= table.rows) {
            return Err(invalid(
                "training row index",
                format!("< {}", table.rows),
                r.to_string(),
            ));
        }
        let n = train.len() as f64;
        let numeric = table
            .numeric_names
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let vals = train
                    .iter()
                    .map(|&r| signed_log1p(table.numeric_at(r, j).unwrap_or(0.0)));
                let mean = vals.clone().sum::<f64>() / n;
                let var = vals.map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                let std = if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 };
                NumericStats {
                    name: name.clone(),
                    mean,
                    std,
                }
            })
            .collect();
        let nc = table.categorical_names.len();
        let categorical = (0..nc)
            .map(|j| {
                let mut counts = vec![0usize; table.vocab[j].len()];
                for &r in train {
                    counts[table.categorical[r * nc + j] as usize] += 1;
                }
                let mut order: Vec<usize> = (0..counts.len()).filter(|&c| counts[c] > 0).collect();
                order.sort_by(|&a, &b| {
                    counts[b]
                        .cmp(&counts[a])
                        .then_with(|| table.vocab[j][a].cmp(&table.vocab[j][b]))
                });
                order.truncate(config.top_n);
                CategoricalVocab {
                    name: table.categorical_names[j].clone(),
                    tokens: order.iter().map(|&c| table.vocab[j][c].clone()).collect(),
                }
            })
            .collect();
        let mut dropped = vec!["src_ip", "src_port", "dst_ip", "dst_port"];
        if table.layout == super::schema::Layout::Full {
            dropped.push("ts");
        }
        Ok(Self {
            format: FORMAT.into(),
            config,
            numeric,
            categorical,
            dropped: dropped.into_iter().map(str::to_string).collect(),
            classes: CLASSES.iter().map(|c| c.to_string()).collect(),
            fitted_rows: train.len(),
        })
    }

    /// Width of a preprocessed row.
    pub fn dim(&self) -> usize {
        self.numeric.len()
            + self
                .categorical
                .iter()
                .map(|c| c.tokens.len() + 1)
                .sum::<usize>()
    }

    /// The layout of a preprocessed row: numeric slots then one-hot blocks.
    pub fn blocks(&self) -> Vec<FeatureBlock> {
        let mut out: Vec<FeatureBlock> = self
            .numeric
            .iter()
            .enumerate()
            .map(|(index, s)| FeatureBlock::Numeric {
                name: s.name.clone(),
                index,
            })
            .collect();
        let mut start = self.numeric.len();
        for c in &self.categorical {
            let len = c.tokens.len() + 1;
            out.push(FeatureBlock::Categorical {
                name: c.name.clone(),
                start,
                len,
            });
            start += len;
        }
        out
    }

    /// Preprocesses rows `rows` of `table` into a row-major `[rows.len(), dim()]` table.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `table` lacks a column the preprocessing was fitted on, or an index is out of
    /// range.
    pub fn transform(&self, table: &TonIotTable, rows: &[usize]) -> Result<Vec<f32>> {
        let num_idx = self
            .numeric
            .iter()
            .map(|s| column_index(&table.numeric_names, &s.name))
            .collect::<Result<Vec<_>>>()?;
        // Per categorical column: table code -> offset in the block.
        let nc = table.categorical_names.len();
        let mut cat_maps = Vec::with_capacity(self.categorical.len());
        for c in &self.categorical {
            let j = column_index(&table.categorical_names, &c.name)?;
            let slot: HashMap<&str, usize> = c
                .tokens
                .iter()
                .enumerate()
                .map(|(i, t)| (t.as_str(), i))
                .collect();
            let other = c.tokens.len();
            let map: Vec<usize> = table.vocab[j]
                .iter()
                .map(|t| slot.get(t.as_str()).copied().unwrap_or(other))
                .collect();
            cat_maps.push((j, map, other + 1));
        }
        let dim = self.dim();
        let mut out = vec![0.0f32; rows.len() * dim];
        for (o, &r) in out.chunks_mut(dim).zip(rows) {
            if r >= table.rows {
                return Err(invalid(
                    "row index",
                    format!("< {}", table.rows),
                    r.to_string(),
                ));
            }
            for (i, (s, &j)) in self.numeric.iter().zip(&num_idx).enumerate() {
                let x = table.numeric_at(r, j).unwrap_or(0.0);
                o[i] = ((signed_log1p(x) - s.mean) / s.std) as f32;
            }
            let mut start = self.numeric.len();
            for (j, map, len) in &cat_maps {
                let code = table.categorical[r * nc + j] as usize;
                o[start + map[code]] = 1.0;
                start += len;
            }
        }
        Ok(out)
    }

    /// Numeric column `j`'s standardised value `z` back in original units: `sign(t) (e^|t| - 1)` with
    /// `t = z * std + mean`.
    pub fn numeric_to_original(&self, j: usize, z: f64) -> f64 {
        self.numeric
            .get(j)
            .map_or(f64::NAN, |s| signed_expm1(z * s.std + s.mean))
    }

    /// Writes the preprocessing as JSON, atomically.
    ///
    /// # Errors
    /// [`Error::Io`] naming the path.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| invalid("preprocessing", "serialisable", e.to_string()))?;
        Ok(privsplit_io::write_atomic(path, &json)?)
    }

    /// Reads a preprocessing saved by [`Preprocessor::save`].
    ///
    /// # Errors
    /// [`Error::Io`] naming the path; [`Error::Invalid`] for JSON that is not a preprocessing of this format.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let p: Self = serde_json::from_slice(&bytes).map_err(|e| {
            invalid(
                &path.display().to_string(),
                "a TON_IoT preprocessing (JSON)",
                e.to_string(),
            )
        })?;
        if p.format != FORMAT {
            return Err(invalid(&path.display().to_string(), FORMAT, p.format));
        }
        Ok(p)
    }
}

fn column_index(names: &[String], name: &str) -> Result<usize> {
    names.iter().position(|n| n == name).ok_or_else(|| {
        invalid(
            "TON_IoT table",
            format!("column `{name}` (the preprocessing was fitted with it)"),
            format!("columns {names:?}"),
        )
    })
}

fn invalid(what: &str, expected: impl Into<String>, got: impl Into<String>) -> Error {
    Error::Invalid {
        what: what.to_string(),
        expected: expected.into(),
        got: got.into(),
    }
}

/// Stratified split by class: within each class, rows are shuffled with `ChaCha8Rng(seed)` and
/// `round(test_fraction * count)` of them go to the test split (at least one when the class has two or
/// more rows and `test_fraction > 0`). Returns `(train, test)` row indices, each ascending.
///
/// # Errors
/// [`Error::Invalid`] when `test_fraction` is not in `[0, 1)`.
pub fn stratified_split(
    classes: &[u8],
    test_fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(0.0..1.0).contains(&test_fraction) {
        return Err(invalid(
            "test fraction",
            "a value in [0, 1)",
            test_fraction.to_string(),
        ));
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); 256];
    for (i, &c) in classes.iter().enumerate() {
        by_class[usize::from(c)].push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for mut rows in by_class.into_iter().filter(|r| !r.is_empty()) {
        rows.shuffle(&mut rng);
        let mut k = (test_fraction * rows.len() as f64).round() as usize;
        if test_fraction > 0.0 && rows.len() >= 2 {
            k = k.clamp(1, rows.len() - 1);
        }
        test.extend_from_slice(&rows[..k]);
        train.extend_from_slice(&rows[k..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    Ok((train, test))
}
