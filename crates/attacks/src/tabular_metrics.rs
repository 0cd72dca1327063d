//! Scores of a tabular reconstruction: per feature (R^2 and mean absolute error of numeric columns in
//! original units, accuracy of categorical columns by argmax over their one-hot block) and re-identification
//! of the true row among N candidates (He, Zhang & Lee 2019 judge inversions by what they reveal about the
//! individual input; the identification test follows the recommendation rule of docs/SWEEP.md).
//!
//! Rows are preprocessed TON_IoT rows (`privsplit_data::tabular::Preprocessor`), row-major
//! `[rows, features]`: numeric slots standardised log1p values, categorical one-hot blocks.

use privsplit_data::tabular::{FeatureBlock, Preprocessor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Standardised values are clamped to `[-Z_CLAMP, Z_CLAMP]` before the inverse log1p, so that a wild
/// reconstruction cannot overflow (`e^|t|`).
pub const Z_CLAMP: f64 = 10.0;

/// Reconstruction quality of one numeric column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NumericScore {
    /// Column name.
    pub name: String,
    /// Coefficient of determination `1 - SS_res / SS_tot` in original units (bytes, packets, s);
    /// `None` when the column is constant over the scored rows. Can be negative (worse than the mean).
    pub r2: Option<f64>,
    /// The same in preprocessed (standardised log1p) units.
    pub r2_standardised: Option<f64>,
    /// Mean absolute error in original units.
    pub mae: f64,
}

/// Reconstruction quality of one categorical column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoricalScore {
    /// Column name.
    pub name: String,
    /// Fraction of rows whose argmax slot is the true slot, `[0, 1]`.
    pub accuracy: f64,
}

/// Per-feature scores of a set of reconstructed rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowScores {
    /// Rows scored.
    pub rows: usize,
    /// One entry per numeric column.
    pub numeric: Vec<NumericScore>,
    /// One entry per categorical column.
    pub categorical: Vec<CategoricalScore>,
    /// Mean of the defined standardised R^2 values (clamped below at -1 so one wild column cannot dominate).
    pub mean_r2_standardised: f64,
    /// Mean categorical accuracy.
    pub mean_categorical_accuracy: f64,
}

fn r2(truth: &[f64], pred: &[f64]) -> Option<f64> {
    let n = truth.len() as f64;
    let mean = truth.iter().sum::<f64>() / n;
    let tot: f64 = truth.iter().map(|t| (t - mean).powi(2)).sum();
    if tot <= 1e-12 * n.max(1.0) {
        return None;
    }
    let res: f64 = truth.iter().zip(pred).map(|(t, p)| (t - p).powi(2)).sum();
    Some(1.0 - res / tot)
}

fn check_rows(what: &str, data: &[f32], rows: usize, dim: usize) -> Result<()> {
    if rows == 0 || data.len() != rows * dim {
        return Err(Error::Invalid {
            what: what.to_string(),
            expected: format!("{rows} x {dim} values, rows > 0"),
            got: format!("{} values", data.len()),
        });
    }
    Ok(())
}

/// Scores reconstructions `recon` against `truth` (both `[rows, pre.dim()]`).
///
/// # Errors
/// [`Error::Invalid`] when a table does not have `rows * pre.dim()` values or `rows == 0`.
pub fn score_rows(
    pre: &Preprocessor,
    truth: &[f32],
    recon: &[f32],
    rows: usize,
) -> Result<RowScores> {
    let dim = pre.dim();
    check_rows("true rows", truth, rows, dim)?;
    check_rows("reconstructed rows", recon, rows, dim)?;
    let mut numeric = Vec::new();
    let mut categorical = Vec::new();
    for b in pre.blocks() {
        match b {
            FeatureBlock::Numeric { name, index } => {
                let col = |t: &[f32]| -> Vec<f64> {
                    t.chunks(dim)
                        .map(|r| f64::from(r[index]).clamp(-Z_CLAMP, Z_CLAMP))
                        .collect()
                };
                let (zt, zr) = (col(truth), col(recon));
                let orig = |z: &[f64]| -> Vec<f64> {
                    z.iter()
                        .map(|&v| pre.numeric_to_original(index, v))
                        .collect()
                };
                let (ot, or) = (orig(&zt), orig(&zr));
                let mae = ot.iter().zip(&or).map(|(a, b)| (a - b).abs()).sum::<f64>() / rows as f64;
                numeric.push(NumericScore {
                    name,
                    r2: r2(&ot, &or),
                    r2_standardised: r2(&zt, &zr),
                    mae,
                });
            }
            FeatureBlock::Categorical { name, start, len } => {
                let argmax = |r: &[f32]| {
                    let mut best = 0;
                    for i in 1..len {
                        if r[start + i] > r[start + best] {
                            best = i;
                        }
                    }
                    best
                };
                let ok = truth
                    .chunks(dim)
                    .zip(recon.chunks(dim))
                    .filter(|(t, r)| argmax(t) == argmax(r))
                    .count();
                categorical.push(CategoricalScore {
                    name,
                    accuracy: ok as f64 / rows as f64,
                });
            }
        }
    }
    let defined: Vec<f64> = numeric
        .iter()
        .filter_map(|s| s.r2_standardised)
        .map(|v| v.max(-1.0))
        .collect();
    let mean_r2_standardised = if defined.is_empty() {
        0.0
    } else {
        defined.iter().sum::<f64>() / defined.len() as f64
    };
    let mean_categorical_accuracy = if categorical.is_empty() {
        0.0
    } else {
        categorical.iter().map(|c| c.accuracy).sum::<f64>() / categorical.len() as f64
    };
    Ok(RowScores {
        rows,
        numeric,
        categorical,
        mean_r2_standardised,
        mean_categorical_accuracy,
    })
}

/// Result of the re-identification test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reidentification {
    /// Candidates per trial `N` (the true row + N - 1 others).
    pub candidates: usize,
    /// Trials (reconstructed rows).
    pub trials: usize,
    /// Top-1 accuracy: fraction of trials whose nearest candidate is the true row (ties shared evenly).
    pub top1: f64,
    /// Chance level `1 / N`.
    pub chance: f64,
    /// Wilson 95 % confidence interval of `top1` (Wilson 1927; z = 1.96).
    pub ci95: [f64; 2],
}

/// Wilson score interval (z = 1.96) for `p` observed over `n` trials.
pub fn wilson95(p: f64, n: usize) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let (z, n) = (1.96f64, n as f64);
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / denom;
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

/// Re-identification: for each reconstructed row `recon[i]` of pool row `targets[i]`, draw `candidates - 1`
/// other pool rows (from the rows with the same `group`, e.g. the predicted class, when the group has
/// enough rows; otherwise from the whole pool) and check whether the true row is the nearest candidate
/// (Euclidean distance in preprocessed units). Ties at the minimum share the trial evenly (the expected
/// score of a random tie-break). Seeded with `ChaCha8Rng(seed)`.
///
/// `pool` is `[pool_rows, dim]`, `recon` `[targets.len(), dim]`, `group` `[pool_rows]`.
///
/// # Errors
/// [`Error::Invalid`] when shapes disagree, a target is out of range, or the pool has fewer than
/// `candidates >= 2` rows.
pub fn reidentify(
    pool: &[f32],
    group: &[usize],
    dim: usize,
    targets: &[usize],
    recon: &[f32],
    candidates: usize,
    seed: u64,
) -> Result<Reidentification> {
    let n = group.len();
    check_rows("re-identification pool", pool, n, dim)?;
    check_rows(
        "re-identification reconstructions",
        recon,
        targets.len(),
        dim,
    )?;
    if candidates < 2 || n < candidates {
        return Err(Error::Invalid {
            what: "re-identification candidates".into(),
            expected: format!("2 <= N <= pool rows ({n})"),
            got: candidates.to_string(),
        });
    }
    if let Some(&t) = targets.iter().find(|&&t| t >= n) {
        return Err(Error::Invalid {
            what: "re-identification target".into(),
            expected: format!("< {n}"),
            got: t.to_string(),
        });
    }
    let groups = group.iter().copied().max().map_or(0, |m| m + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); groups];
    for (i, &g) in group.iter().enumerate() {
        members[g].push(i);
    }
    let all: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dist = |a: &[f32], b: &[f32]| -> f64 {
        a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum()
    };
    let mut score = 0.0;
    for (i, &t) in targets.iter().enumerate() {
        let same = &members[group[t]];
        let from = if same.len() >= candidates { same } else { &all };
        let others: Vec<usize> = from
            .choose_multiple(&mut rng, candidates)
            .copied()
            .filter(|&c| c != t)
            .take(candidates - 1)
            .collect();
        let r = &recon[i * dim..(i + 1) * dim];
        let d_true = dist(r, &pool[t * dim..(t + 1) * dim]);
        let mut ties = 1usize;
        let mut beaten = false;
        for &c in &others {
            let d = dist(r, &pool[c * dim..(c + 1) * dim]);
            if d < d_true {
                beaten = true;
                break;
            }
            if d == d_true {
                ties += 1;
            }
        }
        if !beaten {
            score += 1.0 / ties as f64;
        }
    }
    let trials = targets.len();
    let top1 = score / trials as f64;
    Ok(Reidentification {
        candidates,
        trials,
        top1,
        chance: 1.0 / candidates as f64,
        ci95: wilson95(top1, trials),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn r2_and_wilson_known_answers() {
        assert_eq!(r2(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), Some(1.0));
        assert_eq!(r2(&[1.0, 2.0, 3.0], &[2.0, 2.0, 2.0]), Some(0.0));
        assert_eq!(r2(&[5.0, 5.0], &[1.0, 2.0]), None);
        // Wilson interval for 8/10: (0.490, 0.943).
        let [lo, hi] = wilson95(0.8, 10);
        assert!(
            (lo - 0.4902).abs() < 1e-3 && (hi - 0.9433).abs() < 1e-3,
            "{lo} {hi}"
        );
    }

    #[test]
    fn perfect_reconstructions_are_reidentified_and_noise_is_near_chance() {
        let (n, dim) = (60, 4);
        let pool: Vec<f32> = (0..n * dim)
            .map(|i| ((i * 37) % 101) as f32 / 10.0)
            .collect();
        let group = vec![0usize; n];
        let targets: Vec<usize> = (0..n).collect();
        let r = reidentify(&pool, &group, dim, &targets, &pool, 5, 1).unwrap();
        assert_eq!(r.top1, 1.0);
        assert_eq!(r.chance, 0.2);
        // All-equal reconstructions: every candidate ties, the score is exactly chance.
        let flat = vec![0.0f32; n * dim];
        let pool0 = vec![1.0f32; n * dim];
        let r = reidentify(&pool0, &group, dim, &targets, &flat, 5, 1).unwrap();
        assert!((r.top1 - 0.2).abs() < 1e-12);
        assert!(reidentify(&pool, &group, dim, &targets, &pool, 1, 1).is_err());
        assert!(reidentify(&pool, &group, dim, &[n], &pool[..dim], 5, 1).is_err());
    }
}
