//! Training the intrusion-detection MLP, and the partition-point sweep of a trained one: at every partition
//! point `k`, the cost of the trusted partition `[0, k)`, the width of the exposed feature map, and the
//! scores of the inverse network, the c-GAN and white-box rMLE (`privsplit_attacks::tabular_inversion`)
//! reconstructing the preprocessed row (`privsplit_attacks::tabular_metrics`); then [`recommend`].
//!
//! Leakage is measured beyond what the label reveals (docs/SWEEP.md, "Tabular sweep"): the prior-only
//! baseline reconstructs every evaluation row as the mean attacker row of the class the model predicts for
//! it (what the untrusted host learns from the output alone).

use std::time::Instant;

use burn::tensor::Tensor;
use privsplit_attacks::tabular_inversion::{row_rmle, train_row_cgan, train_row_inverse};
use privsplit_attacks::tabular_metrics::{reidentify, score_rows};
use privsplit_attacks::ReconstructionAttack as AttackKind;
use privsplit_data::tabular::Preprocessor;
use privsplit_models::stage::StagedModel;
use privsplit_models::tabular::{
    evaluate, predict_rows, rows_to_input, train_tabular, ClassificationScores,
};
use privsplit_models::tensor::Features;
use privsplit_models::train::Progress;

use super::config::{TabularSweepConfig, TabularTrainConfig};
use super::data::TabularRows;
use super::report::{TabularAttackScore, TabularBaseline, TabularPointResult, TabularSweepReport};
use crate::timing::median_ms;
use crate::{Error, Result};

/// A trained model with its test scores.
#[derive(Debug)]
pub struct TrainedTabular {
    /// The model, eval mode, on the config's device.
    pub model: StagedModel,
    /// Accuracy, macro-F1, per-class scores and confusion matrix on the test split.
    pub test: ClassificationScores,
    /// Training wall time (s).
    pub seconds: f64,
}

/// Trains the MLP of `cfg` on the training split of `rows` and scores it on the test split.
///
/// # Errors
/// As [`TabularTrainConfig::validate`], `train_tabular` and `evaluate`.
pub fn train(
    rows: &TabularRows,
    cfg: &TabularTrainConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<TrainedTabular> {
    cfg.validate()?;
    let t = Instant::now();
    let x = rows.features(&rows.train)?;
    let y = rows.labels(cfg.task, &rows.train);
    let model = train_tabular(&cfg.arch(rows.pre.dim()), &x, &y, &cfg.train(), progress)?;
    let seconds = t.elapsed().as_secs_f64();
    let test = evaluate(
        &model,
        &rows.features(&rows.test)?,
        &rows.labels(cfg.task, &rows.test),
    )?;
    Ok(TrainedTabular {
        model,
        test,
        seconds,
    })
}

/// Preprocessed rows of a tabular sweep (attacker rows disjoint from the evaluation rows).
#[derive(Clone, Debug)]
pub struct TabularSweepData {
    /// Where the rows come from, copied into the report (SYNTHETIC data says so).
    pub source: String,
    /// Attacker rows `[n, features]` (black-box attacks and the baseline).
    pub attacker: Features,
    /// Evaluation (victim) rows `[m, features]`.
    pub eval: Features,
    /// True class of each evaluation row (for the model's accuracy), `[m]`.
    pub eval_labels: Vec<u8>,
}

impl TabularSweepData {
    /// The first `cfg.attacker_rows` rows of the training split and the first `cfg.eval_rows` of the
    /// test split of `rows`, labelled with `cfg.train.task`.
    ///
    /// # Errors
    /// As [`TabularRows::features`].
    pub fn from_rows(rows: &TabularRows, cfg: &TabularSweepConfig) -> Result<Self> {
        let att: Vec<usize> = rows.train.iter().copied().take(cfg.attacker_rows).collect();
        let ev: Vec<usize> = rows.test.iter().copied().take(cfg.eval_rows).collect();
        Ok(Self {
            source: rows.source.clone(),
            attacker: rows.features(&att)?,
            eval: rows.features(&ev)?,
            eval_labels: rows.labels(cfg.train.task, &ev),
        })
    }
}

fn to_vec(t: Tensor<2>) -> Result<Vec<f32>> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| Error::invalid("reconstruction", "f32 values", format!("{e:?}")))
}

/// Flat feature maps `[rows, units]` at `k` of rows `x` `[rows, features]`, 1024 rows at a time.
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

/// The recommendation rule of the tabular sweep (docs/SWEEP.md, "Tabular sweep"), in one place so it can
/// be switched to the shared rule of the image sweep: an attack *leaks* at `k` when (a) its mean
/// standardised R^2 over the numeric columns, or its mean categorical accuracy, exceeds the prior-only
/// baseline's by more than `margin`, or (b) its re-identification top-1 accuracy (true row among `N`
/// candidates of the same predicted class) is above chance with 95 % confidence (Wilson interval lower
/// bound > 1/N). Sets every attack's `leaks` and every point's `safe` (no attack leaks) and returns the
/// earliest safe point, if any.
pub fn recommend(points: &mut [TabularPointResult], margin: f64) -> Option<usize> {
    for p in points.iter_mut() {
        for a in &mut p.attacks {
            a.leaks =
                a.r2_gain > margin || a.categorical_gain > margin || a.reid.ci95[0] > a.reid.chance;
        }
        p.safe = p.attacks.iter().all(|a| !a.leaks);
    }
    points.iter().filter(|p| p.safe).map(|p| p.k).min()
}

fn check_inputs(
    model: &StagedModel,
    pre: &Preprocessor,
    data: &TabularSweepData,
    cfg: &TabularSweepConfig,
) -> Result<Vec<usize>> {
    cfg.validate()?;
    let dim = pre.dim();
    let n = model.num_stages();
    if model.input_shape() != [dim, 1, 1] || data.attacker.cols != dim || data.eval.cols != dim {
        return Err(Error::invalid(
            "tabular sweep rows",
            format!("{dim} features (the preprocessing's) = the model's input"),
            format!(
                "model input {:?}, attacker {} cols, eval {} cols",
                model.input_shape(),
                data.attacker.cols,
                data.eval.cols
            ),
        ));
    }
    let m = data.eval.rows;
    if m < cfg.candidates || data.eval_labels.len() != m || data.attacker.rows == 0 {
        return Err(Error::invalid(
            "tabular sweep data",
            format!(
                ">= {} evaluation rows with one label each, >= 1 attacker row",
                cfg.candidates
            ),
            format!(
                "{m} rows, {} labels, {} attacker rows",
                data.eval_labels.len(),
                data.attacker.rows
            ),
        ));
    }
    let points: Vec<usize> = cfg.points.clone().unwrap_or_else(|| (0..=n).collect());
    if let Some(&bad) = points.iter().find(|&&k| k > n) {
        return Err(Error::invalid(
            "partition point",
            format!("0..={n}"),
            bad.to_string(),
        ));
    }
    Ok(points)
}

/// The prior-only baseline rows `[m, features]`: the mean attacker row of each evaluation row's predicted
/// class (the overall mean when no attacker row has that class).
fn class_mean_rows(
    data: &TabularSweepData,
    pred_att: &[usize],
    pred_eval: &[usize],
    classes: usize,
) -> Vec<f32> {
    let dim = data.attacker.cols;
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
    pred_eval.iter().flat_map(|&c| mean_of(c)).collect()
}

/// Runs the tabular sweep on a trained tabular model with its preprocessing; the report's `test` scores
/// are left empty (the job fills them from the test split) and `train_seconds` 0.
///
/// # Errors
/// [`Error::Invalid`] for a bad config, rows whose width is not `pre.dim()` or the model's input width,
/// fewer evaluation rows than candidates, a partition point out of range; model and attack errors.
pub fn run_tabular_sweep(
    model: &StagedModel,
    pre: &Preprocessor,
    data: &TabularSweepData,
    cfg: &TabularSweepConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<TabularSweepReport> {
    let points = check_inputs(model, pre, data, cfg)?;
    let start = Instant::now();
    let (dim, n, m) = (pre.dim(), model.num_stages(), data.eval.rows);
    let dev = cfg.device.resolve()?;
    // The class the untrusted host learns: the model's prediction.
    let pred_eval = predict_rows(model, &data.eval)?;
    let pred_att = predict_rows(model, &data.attacker)?;
    let model_accuracy = pred_eval
        .iter()
        .zip(&data.eval_labels)
        .filter(|(p, y)| **p == usize::from(**y))
        .count() as f64
        / m as f64;
    let baseline_rows = class_mean_rows(data, &pred_att, &pred_eval, model.arch().classes);
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
    let att_x = data.attacker.to_tensor(&dev);
    let eval_x = data.eval.to_tensor(&dev);
    let infos = model.stage_infos();
    let blocks = pre.blocks();
    let a = &cfg.attacks;
    let rmle_n = a.rmle_rows.clamp(1, m);
    let mut results = Vec::new();
    for &k in &points {
        let trusted = model.partition(0, k)?;
        let untrusted = model.partition(k, n)?;
        let one = rows_to_input(eval_x.clone().narrow(0, 0, 1));
        let fm_one = trusted.forward(one.clone())?;
        let trusted_ms = median_ms(
            || Ok(trusted.forward(one.clone()).map(|_| ())?),
            cfg.latency_reps,
        )?;
        let untrusted_ms = median_ms(
            || Ok(untrusted.forward(fm_one.clone()).map(|_| ())?),
            cfg.latency_reps,
        )?;
        let fm_att = feature_maps(model, &att_x, k)?;
        let fm_eval = feature_maps(model, &eval_x, k)?;
        let mut attacks = Vec::new();
        for &attack in &a.kinds {
            let t0 = Instant::now();
            let mut say = |s: &str| progress(&format!("k={k} {}: {s}", attack.name()));
            let (targets, recon): (Vec<usize>, Vec<f32>) = match attack {
                AttackKind::Inverse => {
                    let dec = train_row_inverse(&fm_att, &att_x, &a.inverse, &mut say)?;
                    (all.clone(), to_vec(dec.reconstruct(&fm_eval))?)
                }
                AttackKind::Cgan => {
                    let gen = train_row_cgan(&fm_att, &att_x, &a.cgan, &mut say)?;
                    (all.clone(), to_vec(gen.reconstruct(&fm_eval))?)
                }
                AttackKind::Rmle => {
                    let target = fm_eval.clone().narrow(0, 0, rmle_n);
                    let x = row_rmle(&trusted, &blocks, &target, &a.rmle, &mut say)?;
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
            let s = TabularAttackScore {
                attack,
                r2_gain: scores.mean_r2_standardised - base_scores.mean_r2_standardised,
                categorical_gain: scores.mean_categorical_accuracy
                    - base_scores.mean_categorical_accuracy,
                scores,
                reid,
                leaks: false,
                seconds: t0.elapsed().as_secs_f64(),
            };
            progress(&format!(
                "k={k} {}: R2 {:.3} (gain {:+.3}), categorical {:.3} (gain {:+.3}), \
                 re-identification {:.3} [{:.3}, {:.3}] vs chance {:.3}",
                attack.name(),
                s.scores.mean_r2_standardised,
                s.r2_gain,
                s.scores.mean_categorical_accuracy,
                s.categorical_gain,
                s.reid.top1,
                s.reid.ci95[0],
                s.reid.ci95[1],
                s.reid.chance,
            ));
            attacks.push(s);
        }
        results.push(TabularPointResult {
            k,
            stage: if k == 0 {
                "input".into()
            } else {
                infos[k - 1].name.clone()
            },
            feature_size: model.shape_at(k)?[0],
            trusted_flops: trusted.flops(),
            trusted_param_bytes: trusted.params() * 4,
            untrusted_flops: untrusted.flops(),
            trusted_ms,
            untrusted_ms,
            attacks,
            safe: false,
        });
    }
    results.sort_by_key(|p| p.k);
    let recommendation = recommend(&mut results, cfg.margin);
    Ok(TabularSweepReport {
        config: cfg.clone(),
        source: data.source.clone(),
        num_stages: n,
        stage_names: infos.iter().map(|i| i.name.clone()).collect(),
        model_accuracy,
        test: None,
        baseline: TabularBaseline {
            scores: base_scores,
            reid: base_reid,
        },
        points: results,
        recommendation,
        seconds: start.elapsed().as_secs_f64(),
        train_seconds: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use privsplit_attacks::tabular_metrics::{Reidentification, RowScores};

    use super::*;

    fn attack(r2_gain: f64, categorical_gain: f64, ci_low: f64) -> TabularAttackScore {
        TabularAttackScore {
            attack: AttackKind::Inverse,
            scores: RowScores {
                rows: 1,
                numeric: Vec::new(),
                categorical: Vec::new(),
                mean_r2_standardised: 0.0,
                mean_categorical_accuracy: 0.0,
            },
            reid: Reidentification {
                candidates: 10,
                trials: 100,
                top1: ci_low + 0.05,
                chance: 0.1,
                ci95: [ci_low, ci_low + 0.1],
            },
            r2_gain,
            categorical_gain,
            leaks: true,
            seconds: 0.0,
        }
    }

    fn point(k: usize, attacks: Vec<TabularAttackScore>) -> TabularPointResult {
        TabularPointResult {
            k,
            stage: format!("s{k}"),
            feature_size: 1,
            trusted_flops: 0,
            trusted_param_bytes: 0,
            untrusted_flops: 0,
            trusted_ms: 0.0,
            untrusted_ms: 0.0,
            attacks,
            safe: true,
        }
    }

    #[test]
    fn the_earliest_point_where_no_attack_beats_the_baseline_or_chance_is_recommended() {
        let mut pts = vec![
            point(3, vec![attack(0.01, 0.0, 0.05)]),
            point(0, vec![attack(0.5, 0.0, 0.05)]), // R^2 gain above the margin
            point(1, vec![attack(0.0, 0.2, 0.05), attack(0.0, 0.0, 0.0)]), // categorical gain
            point(2, vec![attack(0.0, 0.0, 0.11)]), // re-identified above chance
            point(4, vec![attack(0.05, 0.05, 0.1)]), // at the margin and at chance: not a leak
        ];
        assert_eq!(recommend(&mut pts, 0.05), Some(3));
        let safe: Vec<(usize, bool)> = pts.iter().map(|p| (p.k, p.safe)).collect();
        assert_eq!(
            safe,
            [(3, true), (0, false), (1, false), (2, false), (4, true)]
        );
        assert!(pts[2].attacks[0].leaks && !pts[2].attacks[1].leaks);
        assert_eq!(recommend(&mut pts, 0.6), Some(0));
        pts.retain(|p| p.k == 2);
        assert_eq!(recommend(&mut pts, 1.0), None);
    }
}
