//! The partition-point sweep of a tabular model (a library function; the experiments pipeline calls it):
//! at every partition point `k` of a trained tabular MLP, the cost of the trusted partition `[0, k)`, the
//! size of the exposed feature map, and the scores of the inverse network, the c-GAN and white-box rMLE
//! reconstructing the preprocessed row; then the recommendation.
//!
//! Leakage is measured beyond what the label reveals (the rule of docs/SWEEP.md, applied to rows): the
//! prior-only baseline reconstructs every evaluation row as the mean attacker row of the class the model
//! predicts for it (what the untrusted host learns from the output alone). An attack *leaks* at `k` when
//! (a) its mean standardised R^2 over the numeric columns, or its mean categorical accuracy, exceeds the
//! baseline's by more than `margin`, or (b) its re-identification top-1 accuracy (true row among `N`
//! candidates of the same predicted class) is above chance with 95 % confidence (Wilson interval lower
//! bound > 1/N). A point is safe when no attack leaks; the recommendation is the earliest safe point.

use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use privsplit_data::tabular::Preprocessor;
use privsplit_models::stage::StagedModel;
use privsplit_models::tabular::{predict_rows, rows_to_input};
use privsplit_models::tensor::Features;
use serde::{Deserialize, Serialize};

use crate::catalogue::ReconstructionAttack as AttackKind;
use crate::tabular_inversion::{
    row_rmle, train_row_cgan, train_row_inverse, RowAttackConfig, RowCganConfig, RowRmleConfig,
};
use crate::tabular_metrics::{reidentify, score_rows, Reidentification, RowScores};
use crate::{Error, Result};

/// Settings of a tabular sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularSweepConfig {
    /// Partition points to evaluate (`None`: all, `0..=n`).
    pub points: Option<Vec<usize>>,
    /// Attacks to run at each point.
    pub attacks: Vec<AttackKind>,
    /// Inverse-network training.
    pub inverse: RowAttackConfig,
    /// c-GAN training.
    pub cgan: RowCganConfig,
    /// rMLE optimisation.
    pub rmle: RowRmleConfig,
    /// Evaluation rows attacked by rMLE (the first ones; it optimises per row).
    pub rmle_rows: usize,
    /// Candidates `N` of the re-identification test.
    pub candidates: usize,
    /// Allowed gain over the prior-only baseline (standardised R^2 and categorical accuracy), `[0, 1]`.
    pub margin: f64,
    /// Seed of the re-identification draws.
    pub seed: u64,
    /// Timed repetitions per partition for the latency (median reported).
    pub latency_reps: usize,
}

/// Default margin over the prior-only baseline: 0.05 (five points of R^2 / accuracy).
pub const DEFAULT_MARGIN: f64 = 0.05;

impl TabularSweepConfig {
    /// The standard sweep: every point, all three attacks, 20 decoder epochs, 300 rMLE steps on 200 rows,
    /// N = 10 candidates.
    pub fn standard() -> Self {
        Self {
            points: None,
            attacks: vec![AttackKind::Cgan, AttackKind::Inverse, AttackKind::Rmle],
            inverse: RowAttackConfig::default(),
            cgan: RowCganConfig::default(),
            rmle: RowRmleConfig::default(),
            rmle_rows: 200,
            candidates: 10,
            margin: DEFAULT_MARGIN,
            seed: 11,
            latency_reps: 20,
        }
    }

    /// A fast configuration (seconds) for tests.
    pub fn tiny() -> Self {
        let mut c = Self::standard();
        c.inverse = RowAttackConfig {
            epochs: 4,
            batch_size: 64,
            learning_rate: 3e-3,
            hidden: 64,
            seed: 7,
        };
        c.cgan.train = c.inverse.clone();
        c.rmle.steps = 60;
        c.rmle.learning_rate = 0.1;
        c.rmle_rows = 24;
        c.latency_reps = 3;
        c
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the setting: no attacks, fewer than 2 candidates, a margin outside `[0, 1]`.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, expected: &str, got: String| {
            Err(Error::Invalid {
                what: what.into(),
                expected: expected.into(),
                got,
            })
        };
        if self.attacks.is_empty() {
            return bad("tabular sweep attacks", "at least one", "none".into());
        }
        if self.candidates < 2 {
            return bad("candidates", ">= 2", self.candidates.to_string());
        }
        if !(0.0..=1.0).contains(&self.margin) {
            return bad("margin", "a value in [0, 1]", self.margin.to_string());
        }
        Ok(())
    }
}

/// Data of a tabular sweep: preprocessed rows (attacker rows disjoint from the evaluation rows).
#[derive(Clone, Debug)]
pub struct TabularSweepData {
    /// Where the rows come from, copied into the report (e.g. "SYNTHETIC TON_IoT, generator seed 1").
    pub source: String,
    /// Attacker rows `[n, features]` (black-box attacks and the baseline).
    pub attacker: Features,
    /// Evaluation (victim) rows `[m, features]`.
    pub eval: Features,
    /// True class of each evaluation row (for the model's accuracy), `[m]`.
    pub eval_labels: Vec<u8>,
}

/// Score of one attack at one partition point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularAttackScore {
    /// The attack.
    pub attack: AttackKind,
    /// Per-feature scores.
    pub scores: RowScores,
    /// Re-identification among `N` candidates.
    pub reid: Reidentification,
    /// Mean standardised R^2 minus the baseline's.
    pub r2_gain: f64,
    /// Mean categorical accuracy minus the baseline's.
    pub categorical_gain: f64,
    /// Whether the attack leaks at this point (the rule in the module docs).
    pub leaks: bool,
    /// Wall time of training + attacking (s).
    pub seconds: f64,
}

/// Results at one partition point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularPointResult {
    /// Partition point `k` (trusted = stages `[0, k)`).
    pub k: usize,
    /// Name of the last trusted stage (`input` for `k = 0`).
    pub stage: String,
    /// Exposed feature-map width (values per row).
    pub feature_size: usize,
    /// FLOPs per row of the trusted partition.
    pub trusted_flops: u64,
    /// Parameter bytes (f32) of the trusted partition.
    pub trusted_param_bytes: usize,
    /// FLOPs per row of the untrusted partition.
    pub untrusted_flops: u64,
    /// Median latency of the trusted partition, one row, this machine's CPU (ms).
    pub trusted_ms: f64,
    /// Median latency of the untrusted partition, one row (ms).
    pub untrusted_ms: f64,
    /// One score per attack.
    pub attacks: Vec<TabularAttackScore>,
    /// No attack leaks here.
    pub safe: bool,
}

/// The prior-only baseline (class-mean row of the predicted class).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularBaseline {
    /// Its per-feature scores on all evaluation rows.
    pub scores: RowScores,
    /// Its re-identification.
    pub reid: Reidentification,
}

/// The tabular sweep report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularSweepReport {
    /// The configuration.
    pub config: TabularSweepConfig,
    /// Where the rows come from (SYNTHETIC data says so here).
    pub source: String,
    /// Number of stages `n`.
    pub num_stages: usize,
    /// Stage names.
    pub stage_names: Vec<String>,
    /// Accuracy of the model on the evaluation rows, `[0, 1]`.
    pub model_accuracy: f64,
    /// The prior-only baseline.
    pub baseline: TabularBaseline,
    /// Results, ascending `k`.
    pub points: Vec<TabularPointResult>,
    /// Earliest safe point, if any.
    pub recommendation: Option<usize>,
    /// Wall time of the sweep (s).
    pub seconds: f64,
}

fn to_tensor(f: &Features, dev: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(f.data.clone(), [f.rows, f.cols]), dev)
}

fn to_vec(t: Tensor<2>) -> Result<Vec<f32>> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| Error::Invalid {
            what: "reconstruction".into(),
            expected: "f32 values".into(),
            got: format!("{e:?}"),
        })
}

fn feature_maps(model: &StagedModel, x: &Tensor<2>, k: usize) -> Result<Tensor<2>> {
    let n = x.dims()[0];
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let len = 1024.min(n - i);
        let fm = model.forward_range(rows_to_input(x.clone().narrow(0, i, len)), 0, k)?;
        out.push(fm.flatten::<2>(1, 3));
        i += len;
    }
    Ok(Tensor::cat(out, 0))
}

fn median_ms(mut f: impl FnMut() -> Result<()>, reps: usize) -> Result<f64> {
    f()?;
    let mut t = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

/// Runs the tabular sweep on a trained tabular model with its preprocessing.
///
/// # Errors
/// [`Error::Invalid`] for a bad config, rows whose width is not `pre.dim()` or the model's input width,
/// fewer evaluation rows than candidates, a partition point out of range; model errors.
pub fn run_tabular_sweep(
    model: &StagedModel,
    pre: &Preprocessor,
    data: &TabularSweepData,
    cfg: &TabularSweepConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<TabularSweepReport> {
    cfg.validate()?;
    let start = Instant::now();
    let dim = pre.dim();
    let n = model.num_stages();
    if model.input_shape() != [dim, 1, 1] || data.attacker.cols != dim || data.eval.cols != dim {
        return Err(Error::Invalid {
            what: "tabular sweep rows".into(),
            expected: format!("{dim} features (the preprocessing's) = the model's input"),
            got: format!(
                "model input {:?}, attacker {} cols, eval {} cols",
                model.input_shape(),
                data.attacker.cols,
                data.eval.cols
            ),
        });
    }
    let m = data.eval.rows;
    if m < cfg.candidates || data.eval_labels.len() != m || data.attacker.rows == 0 {
        return Err(Error::Invalid {
            what: "tabular sweep data".into(),
            expected: format!(
                ">= {} evaluation rows with one label each, >= 1 attacker row",
                cfg.candidates
            ),
            got: format!(
                "{m} rows, {} labels, {} attacker rows",
                data.eval_labels.len(),
                data.attacker.rows
            ),
        });
    }
    let points: Vec<usize> = cfg.points.clone().unwrap_or_else(|| (0..=n).collect());
    if let Some(&bad) = points.iter().find(|&&k| k > n) {
        return Err(Error::Invalid {
            what: "partition point".into(),
            expected: format!("0..={n}"),
            got: bad.to_string(),
        });
    }
    let dev = Device::flex();
    // The class the untrusted host learns: the model's prediction.
    let pred_eval = predict_rows(model, &data.eval)?;
    let pred_att = predict_rows(model, &data.attacker)?;
    let model_accuracy = pred_eval
        .iter()
        .zip(&data.eval_labels)
        .filter(|(p, y)| **p == usize::from(**y))
        .count() as f64
        / m as f64;
    // Prior-only baseline: mean attacker row of the predicted class (overall mean when the class is absent).
    let classes = model.arch().classes;
    let mut sums = vec![vec![0.0f64; dim]; classes + 1];
    let mut counts = vec![0usize; classes + 1];
    for (r, &c) in pred_att.iter().enumerate() {
        for (j, v) in data.attacker.row(r).iter().enumerate() {
            sums[c][j] += f64::from(*v);
            sums[classes][j] += f64::from(*v);
        }
        counts[c] += 1;
        counts[classes] += 1;
    }
    let mean_of = |c: usize| -> Vec<f32> {
        let c = if counts[c] > 0 { c } else { classes };
        sums[c]
            .iter()
            .map(|s| (s / counts[c] as f64) as f32)
            .collect()
    };
    let baseline_rows: Vec<f32> = pred_eval.iter().flat_map(|&c| mean_of(c)).collect();
    let all: Vec<usize> = (0..m).collect();
    let base_scores = score_rows(pre, &data.eval.data, &baseline_rows, m)?;
    let base_reid = reidentify(
        &data.eval.data,
        &pred_eval,
        dim,
        &all,
        &baseline_rows,
        cfg.candidates,
        cfg.seed,
    )?;
    progress(&format!(
        "baseline (class mean): R2 {:.3}, categorical {:.3}, re-identification {:.3} (chance {:.3})",
        base_scores.mean_r2_standardised,
        base_scores.mean_categorical_accuracy,
        base_reid.top1,
        base_reid.chance
    ));
    let att_x = to_tensor(&data.attacker, &dev);
    let eval_x = to_tensor(&data.eval, &dev);
    let infos = model.stage_infos();
    let blocks = pre.blocks();
    let rmle_n = cfg.rmle_rows.clamp(1, m);
    let mut results = Vec::new();
    for &k in &points {
        let trusted = model.partition(0, k)?;
        let untrusted = model.partition(k, n)?;
        let width = model.shape_at(k)?[0];
        let one = rows_to_input(eval_x.clone().narrow(0, 0, 1));
        let fm_one = trusted.forward(one.clone())?;
        let trusted_ms = median_ms(
            || {
                trusted
                    .forward(one.clone())
                    .map(|_| ())
                    .map_err(Error::from)
            },
            cfg.latency_reps,
        )?;
        let untrusted_ms = median_ms(
            || {
                untrusted
                    .forward(fm_one.clone())
                    .map(|_| ())
                    .map_err(Error::from)
            },
            cfg.latency_reps,
        )?;
        let fm_att = feature_maps(model, &att_x, k)?;
        let fm_eval = feature_maps(model, &eval_x, k)?;
        let mut attacks = Vec::new();
        for &attack in &cfg.attacks {
            let t0 = Instant::now();
            let mut say = |s: &str| progress(&format!("k={k} {}: {s}", attack.name()));
            let (targets, recon): (Vec<usize>, Vec<f32>) = match attack {
                AttackKind::Inverse => {
                    let dec = train_row_inverse(&fm_att, &att_x, &cfg.inverse, &mut say)?;
                    (all.clone(), to_vec(dec.reconstruct(&fm_eval))?)
                }
                AttackKind::Cgan => {
                    let gen = train_row_cgan(&fm_att, &att_x, &cfg.cgan, &mut say)?;
                    (all.clone(), to_vec(gen.reconstruct(&fm_eval))?)
                }
                AttackKind::Rmle => {
                    let target = fm_eval.clone().narrow(0, 0, rmle_n);
                    let x = row_rmle(&trusted, &blocks, &target, &cfg.rmle, &mut say)?;
                    ((0..rmle_n).collect(), to_vec(x)?)
                }
            };
            let truth = &data.eval.data[..targets.len() * dim];
            let scores = score_rows(pre, truth, &recon, targets.len())?;
            let reid = reidentify(
                &data.eval.data,
                &pred_eval,
                dim,
                &targets,
                &recon,
                cfg.candidates,
                cfg.seed ^ (k as u64),
            )?;
            let r2_gain = scores.mean_r2_standardised - base_scores.mean_r2_standardised;
            let categorical_gain =
                scores.mean_categorical_accuracy - base_scores.mean_categorical_accuracy;
            let leaks =
                r2_gain > cfg.margin || categorical_gain > cfg.margin || reid.ci95[0] > reid.chance;
            progress(&format!(
                "k={k} {}: R2 {:.3} (gain {r2_gain:+.3}), categorical {:.3} (gain {categorical_gain:+.3}), \
                 re-identification {:.3} [{:.3}, {:.3}] vs chance {:.3}{}",
                attack.name(),
                scores.mean_r2_standardised,
                scores.mean_categorical_accuracy,
                reid.top1,
                reid.ci95[0],
                reid.ci95[1],
                reid.chance,
                if leaks { " -> leaks" } else { "" }
            ));
            attacks.push(TabularAttackScore {
                attack,
                scores,
                reid,
                r2_gain,
                categorical_gain,
                leaks,
                seconds: t0.elapsed().as_secs_f64(),
            });
        }
        let safe = attacks.iter().all(|a| !a.leaks);
        results.push(TabularPointResult {
            k,
            stage: if k == 0 {
                "input".into()
            } else {
                infos[k - 1].name.clone()
            },
            feature_size: width,
            trusted_flops: trusted.flops(),
            trusted_param_bytes: trusted.params() * 4,
            untrusted_flops: untrusted.flops(),
            trusted_ms,
            untrusted_ms,
            attacks,
            safe,
        });
    }
    results.sort_by_key(|p| p.k);
    let recommendation = results.iter().find(|p| p.safe).map(|p| p.k);
    Ok(TabularSweepReport {
        config: cfg.clone(),
        source: data.source.clone(),
        num_stages: n,
        stage_names: infos.iter().map(|i| i.name.clone()).collect(),
        model_accuracy,
        baseline: TabularBaseline {
            scores: base_scores,
            reid: base_reid,
        },
        points: results,
        recommendation,
        seconds: start.elapsed().as_secs_f64(),
    })
}
