//! The tabular reports and their files.
//!
//! Sweep run folder: `report.json` ([`TabularSweepReport`]), `report.md` / `report.html`, `points.csv`
//! (one row per partition point and attack) and `features.csv` (per-feature scores of every attack).
//! Training folder: `train.json` ([`TabularTrainReport`]) and `train.md`. Every report names its data
//! source, and says SYNTHETIC when the rows were generated.

use std::path::Path;

use privsplit_attacks::tabular_metrics::{Reidentification, RowScores};
use privsplit_attacks::ReconstructionAttack;
use privsplit_models::tabular::{class_name, ClassificationScores, TabularTask};
use privsplit_report::{write_atomic, write_csv, write_json, Report};
use serde::{Deserialize, Serialize};

use super::config::{TabularSweepConfig, TabularTrainConfig};
use crate::Result;

/// Score of one attack at one partition point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularAttackScore {
    /// The attack.
    pub attack: ReconstructionAttack,
    /// Per-feature scores.
    pub scores: RowScores,
    /// Re-identification among `N` candidates.
    pub reid: Reidentification,
    /// Mean standardised R^2 minus the baseline's.
    pub r2_gain: f64,
    /// Mean categorical accuracy minus the baseline's.
    pub categorical_gain: f64,
    /// Whether the attack leaks at this point (`super::run::recommend`).
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

/// The tabular sweep report (`report.json`).
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
    /// Accuracy and macro-F1 of the model on the whole test split (when the job had it).
    pub test: Option<ClassificationScores>,
    /// The prior-only baseline.
    pub baseline: TabularBaseline,
    /// Results, ascending `k`.
    pub points: Vec<TabularPointResult>,
    /// Earliest safe point, if any.
    pub recommendation: Option<usize>,
    /// Wall time of the sweep (s), excluding training.
    pub seconds: f64,
    /// Wall time of training the model (s), 0 when it was given.
    pub train_seconds: f64,
}

/// The report of `privsplit tabular train` (`train.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularTrainReport {
    /// Where the rows come from (SYNTHETIC data says so here).
    pub source: String,
    /// Whether the rows were generated.
    pub synthetic: bool,
    /// Rows in the table (a later sweep checks it is given the same rows).
    pub rows: usize,
    /// The training settings (also the split: `test_fraction`, `seed`).
    pub config: TabularTrainConfig,
    /// Preprocessed features per row.
    pub features: usize,
    /// Training / test rows.
    pub split: [usize; 2],
    /// Accuracy, macro-F1, per-class scores and confusion matrix on the test split.
    pub test: ClassificationScores,
    /// Training wall time (s).
    pub seconds: f64,
}

/// One-line test scores: accuracy and macro-F1.
pub fn scores_line(s: &ClassificationScores) -> String {
    format!(
        "test accuracy {:.4}, macro-F1 {:.4}",
        s.accuracy, s.macro_f1
    )
}

/// The per-class table (`class`, precision, recall, F1, support).
fn per_class_rows(task: TabularTask, s: &ClassificationScores) -> Vec<Vec<String>> {
    s.per_class
        .iter()
        .enumerate()
        .map(|(c, p)| {
            vec![
                class_name(task.classes(), c).unwrap_or("?").to_string(),
                format!("{:.3}", p.precision),
                format!("{:.3}", p.recall),
                format!("{:.3}", p.f1),
                p.support.to_string(),
            ]
        })
        .collect()
}

/// Writes `train.json` and `train.md` into `dir`, atomically.
///
/// # Errors
/// Report-writing errors.
pub fn write_train_report(r: &TabularTrainReport, dir: &Path) -> Result<()> {
    write_json(&dir.join("train.json"), r)?;
    let target = match r.config.task {
        TabularTask::Type => "`type`, 10 classes",
        TabularTask::Binary => "`label`, normal / attack",
    };
    let mut doc = Report::new(format!("Tabular intrusion-detection MLP ({target})"));
    let s = doc.section("Data");
    s.paragraph(r.source.clone());
    s.paragraph(format!(
        "{} rows, stratified split by type: {} training / {} test rows; {} features after preprocessing.",
        r.rows, r.split[0], r.split[1], r.features
    ));
    let s = doc.section("Scores");
    s.paragraph(format!(
        "{} ({} epochs, {:.1} s).",
        scores_line(&r.test),
        r.config.epochs,
        r.seconds
    ));
    s.table(
        &["class", "precision", "recall", "F1", "support"],
        per_class_rows(r.config.task, &r.test),
    );
    write_atomic(&dir.join("train.md"), doc.to_markdown().as_bytes())?;
    Ok(())
}

/// One-paragraph summary of the sweep's recommendation.
pub fn summary(r: &TabularSweepReport) -> String {
    let data = if r.source.contains("SYNTHETIC") {
        " [SYNTHETIC data]"
    } else {
        ""
    };
    match r.recommendation.and_then(|k| r.points.iter().find(|p| p.k == k)) {
        Some(p) => format!(
            "recommended partition point k={} (after {}): no attack beats the class-mean baseline by more \
             than {:.2} or re-identifies rows above chance; feature map {} values/row; trusted partition \
             {} FLOP/row, {} parameter bytes, {:.3} ms/row{data}",
            p.k,
            p.stage,
            r.config.margin,
            p.feature_size,
            p.trusted_flops,
            p.trusted_param_bytes,
            p.trusted_ms
        ),
        None => format!(
            "no evaluated partition point is safe: at each one an attack beats the class-mean baseline by \
             more than {:.2} or re-identifies rows above chance; keep the whole model trusted{data}",
            r.config.margin
        ),
    }
}

/// Header of `points.csv` (one row per partition point and attack; units in the column names).
pub const POINTS_CSV_HEADER: [&str; 16] = [
    "k",
    "stage",
    "feature_size",
    "trusted_flops",
    "trusted_param_bytes",
    "trusted_ms",
    "untrusted_ms",
    "attack",
    "rows",
    "r2_standardised",
    "categorical_accuracy",
    "r2_gain",
    "categorical_gain",
    "reid_top1",
    "reid_ci95_low",
    "leaks",
];

fn points_rows(r: &TabularSweepReport) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for p in &r.points {
        for a in &p.attacks {
            rows.push(vec![
                p.k.to_string(),
                p.stage.clone(),
                p.feature_size.to_string(),
                p.trusted_flops.to_string(),
                p.trusted_param_bytes.to_string(),
                format!("{:.4}", p.trusted_ms),
                format!("{:.4}", p.untrusted_ms),
                a.attack.name().into(),
                a.scores.rows.to_string(),
                format!("{:.4}", a.scores.mean_r2_standardised),
                format!("{:.4}", a.scores.mean_categorical_accuracy),
                format!("{:.4}", a.r2_gain),
                format!("{:.4}", a.categorical_gain),
                format!("{:.4}", a.reid.top1),
                format!("{:.4}", a.reid.ci95[0]),
                a.leaks.to_string(),
            ]);
        }
    }
    rows
}

/// Rows of `features.csv`: `k, attack, feature, kind, score` (numeric: R^2 in original units and MAE;
/// categorical: accuracy).
fn feature_rows(r: &TabularSweepReport) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for p in &r.points {
        for a in &p.attacks {
            let head = |name: &str, kind: &str| {
                vec![
                    p.k.to_string(),
                    a.attack.name().to_string(),
                    name.to_string(),
                    kind.to_string(),
                ]
            };
            for n in &a.scores.numeric {
                let mut row = head(&n.name, "numeric");
                row.extend([
                    n.r2.map(|v| format!("{v:.4}")).unwrap_or_default(),
                    format!("{:.4}", n.mae),
                    String::new(),
                ]);
                rows.push(row);
            }
            for c in &a.scores.categorical {
                let mut row = head(&c.name, "categorical");
                row.extend([String::new(), String::new(), format!("{:.4}", c.accuracy)]);
                rows.push(row);
            }
        }
    }
    rows
}

/// Writes the sweep's run folder into `dir` (see the module docs), atomically file by file.
///
/// # Errors
/// Report-writing errors.
pub fn write_sweep_outputs(r: &TabularSweepReport, dir: &Path) -> Result<()> {
    write_json(&dir.join("report.json"), r)?;
    write_csv(&dir.join("points.csv"), &POINTS_CSV_HEADER, &points_rows(r))?;
    write_csv(
        &dir.join("features.csv"),
        &[
            "k",
            "attack",
            "feature",
            "kind",
            "r2_original_units",
            "mae_original_units",
            "accuracy",
        ],
        &feature_rows(r),
    )?;
    let doc = human_report(r);
    write_atomic(&dir.join("report.md"), doc.to_markdown().as_bytes())?;
    write_atomic(&dir.join("report.html"), doc.to_html().as_bytes())?;
    Ok(())
}

fn human_report(r: &TabularSweepReport) -> Report {
    let mut doc = Report::new("Partition-point sweep: tabular intrusion-detection MLP (TON_IoT)");
    let s = doc.section("Data");
    s.paragraph(format!("Rows: {}.", r.source));
    let s = doc.section("Recommendation");
    s.paragraph(summary(r));
    if let Some(t) = &r.test {
        s.paragraph(format!("Full model: {}.", scores_line(t)));
        s.table(
            &["class", "precision", "recall", "F1", "support"],
            per_class_rows(r.config.train.task, t),
        );
    }
    s.paragraph(format!(
        "Accuracy on the {} evaluation rows: {:.4}. Prior-only baseline (mean attacker row of the predicted \
         class): standardised R^2 {:.3}, categorical accuracy {:.3}, re-identification {:.3} (chance {:.3}).",
        r.config.eval_rows.min(r.baseline.scores.rows),
        r.model_accuracy,
        r.baseline.scores.mean_r2_standardised,
        r.baseline.scores.mean_categorical_accuracy,
        r.baseline.reid.top1,
        r.baseline.reid.chance
    ));
    let rows = r
        .points
        .iter()
        .flat_map(|p| {
            p.attacks.iter().map(move |a| {
                vec![
                    p.k.to_string(),
                    p.stage.clone(),
                    p.feature_size.to_string(),
                    format!("{:.3}", p.trusted_ms),
                    a.attack.name().to_string(),
                    format!("{:.3}", a.scores.mean_r2_standardised),
                    format!("{:.3}", a.scores.mean_categorical_accuracy),
                    format!(
                        "{:.3} [{:.3}, {:.3}]",
                        a.reid.top1, a.reid.ci95[0], a.reid.ci95[1]
                    ),
                    if a.leaks { "yes" } else { "no" }.to_string(),
                ]
            })
        })
        .collect();
    let s = doc.section("Per partition point");
    s.table(
        &[
            "k",
            "after stage",
            "width",
            "trusted ms",
            "attack",
            "R^2 (std.)",
            "cat. acc.",
            "re-id top-1 [95 % CI]",
            "leaks",
        ],
        rows,
    );
    s.paragraph(
        "The same numbers in points.csv; per-feature scores (R^2 and MAE in original units, categorical \
         accuracy) in features.csv.",
    );
    doc.section("Run").paragraph(format!(
        "Sweep time {:.1} s (training {:.1} s). Configuration in report.json.",
        r.seconds, r.train_seconds
    ));
    doc
}
