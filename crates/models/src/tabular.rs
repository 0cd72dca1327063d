//! The tabular intrusion-detection network (TON_IoT, the seed paper's second workload; Rajasekar et al.
//! 2024, §4): a multilayer perceptron `features -> 256 -> 128 -> 64 -> 32 -> classes` (ReLU between
//! layers) built as a [`StagedModel`] of [`ArchKind::TabularMlp`] whose every layer is one stage, so every
//! layer boundary `k = 0..=5` is a partition point that can be split and served like the image models.
//!
//! Input rows are the preprocessed TON_IoT rows of `privsplit_data::tabular::Preprocessor` (numeric slots
//! log1p-standardised, categorical one-hot blocks), `[batch, features]`; the staged model sees them as
//! `[batch, features, 1, 1]` and every feature map is `[batch, units, 1, 1]`. Two heads are trained as two
//! models: binary (`label`: normal / attack) and ten-class (`type`). Training uses the shared loop of
//! [`crate::train`] (seeded Kaiming-uniform initialisation, seeded shuffling, Adam or SGD, cross-entropy);
//! scores are accuracy and macro-F1 (the unweighted mean of per-class F1, Sokolova & Lapalme 2009, Table 3).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use privsplit_data::tabular::Preprocessor;
use serde::{Deserialize, Serialize};

use crate::stage::StagedModel;
use crate::tensor::Features;
use crate::train::{fit, predict, seeded_init, Classifier, Progress, TrainConfig};
use crate::weights::{load_model, save_model};
use crate::zoo::{build, ArchConfig, ArchKind};
use crate::{Error, Result};

/// Hidden widths of the tabular MLP ([`crate::arch::TABULAR_HIDDEN`], defined with the architectures).
pub use crate::arch::TABULAR_HIDDEN as HIDDEN;

/// Which TON_IoT target a model predicts (`--target type|label` on the command line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum TabularTask {
    /// `label`: 0 normal, 1 attack (2 classes).
    #[cfg_attr(feature = "clap", value(name = "label"))]
    Binary,
    /// `type`: the ten traffic classes.
    Type,
}

impl TabularTask {
    /// Number of classes (2 or 10).
    pub fn classes(self) -> usize {
        match self {
            TabularTask::Binary => 2,
            TabularTask::Type => 10,
        }
    }
}

impl ArchConfig {
    /// The tabular MLP for rows of `features` values and `classes` outputs (width 1: [`HIDDEN`]).
    pub fn tabular_mlp(features: usize, classes: usize) -> Self {
        Self {
            kind: ArchKind::TabularMlp,
            in_channels: features,
            input_size: 1,
            classes,
            width: 1.0,
        }
    }
}

/// Training wrapper: a staged tabular model seen as a [`Classifier`] of `[batch, features]` rows.
#[derive(Module, Debug)]
struct TabularNet {
    model: StagedModel,
}

impl Classifier for TabularNet {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        let [b, f] = x.dims();
        let mut y = x.reshape([b, f, 1, 1]);
        for s in &self.model.stages {
            y = s.forward(y);
        }
        y.flatten::<2>(1, 3)
    }
}

/// `[batch, features]` rows as the staged model's input `[batch, features, 1, 1]`.
pub fn rows_to_input(x: Tensor<2>) -> Tensor<4> {
    let [b, f] = x.dims();
    x.reshape([b, f, 1, 1])
}

fn check_tabular(arch: &ArchConfig, x: &Features, what: &str) -> Result<()> {
    if arch.kind != ArchKind::TabularMlp || arch.in_channels != x.cols || arch.input_size != 1 {
        return Err(Error::Invalid {
            what: what.to_string(),
            expected: format!(
                "a tabular MLP with {} input features (input_size 1)",
                x.cols
            ),
            got: format!(
                "{:?} with {} inputs, input_size {}",
                arch.kind, arch.in_channels, arch.input_size
            ),
        });
    }
    Ok(())
}

/// Trains a fresh tabular MLP `arch` on rows `x` `[rows, features]` with class labels `y` (`< arch.classes`),
/// initialised and shuffled from `cfg.seed`; returns it in eval mode on `Device::flex()`.
///
/// # Errors
/// [`Error::Invalid`] when `arch` is not a tabular MLP over `x.cols` features, a label is out of range, or
/// the config is invalid; [`Error::Diverged`] on a non-finite loss.
pub fn train_tabular(
    arch: &ArchConfig,
    x: &Features,
    y: &[u8],
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<StagedModel> {
    check_tabular(arch, x, "tabular training")?;
    if let Some(&bad) = y.iter().find(|&&l| usize::from(l) >= arch.classes) {
        return Err(Error::Invalid {
            what: "tabular training labels".into(),
            expected: format!("< {} classes", arch.classes),
            got: bad.to_string(),
        });
    }
    let dev = cfg.device.resolve()?.autodiff();
    let model = seeded_init(build(arch, &dev)?, cfg.seed);
    let net = fit(
        TabularNet { model },
        x,
        y,
        cfg,
        &dev,
        "tabular mlp",
        progress,
        None,
    )?;
    Ok(net.model.valid())
}

/// Predicted class of every row of `x` `[rows, features]` (eval mode, 1024 rows at a time).
///
/// # Errors
/// [`Error::Invalid`] when `x` is empty or does not have the model's feature count.
pub fn predict_rows(model: &StagedModel, x: &Features) -> Result<Vec<usize>> {
    check_tabular(model.arch(), x, "tabular prediction")?;
    predict(
        &TabularNet {
            model: model.clone(),
        },
        x,
        1024,
    )
}

/// Precision, recall and F1 of one class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    /// Correct predictions of the class / predictions of the class (0 when never predicted).
    pub precision: f64,
    /// Correct predictions of the class / rows of the class (0 when absent).
    pub recall: f64,
    /// `2 P R / (P + R)` (0 when both are 0).
    pub f1: f64,
    /// Rows of the class.
    pub support: usize,
}

/// Accuracy, macro-F1, per-class scores and the confusion matrix of a classification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassificationScores {
    /// Fraction of correct predictions, `[0, 1]`.
    pub accuracy: f64,
    /// Unweighted mean of the per-class F1 over the classes present in the labels or the predictions,
    /// `[0, 1]` (scikit-learn's `f1_score(average="macro")`).
    pub macro_f1: f64,
    /// One entry per class.
    pub per_class: Vec<ClassScore>,
    /// `confusion[true][predicted]` counts, `[classes, classes]`.
    pub confusion: Vec<Vec<usize>>,
}

/// Scores predictions `pred` against labels `y` over `classes` classes.
///
/// # Errors
/// [`Error::Invalid`] when the lengths differ, are zero, or a value is `>= classes`.
pub fn classification_scores(
    pred: &[usize],
    y: &[u8],
    classes: usize,
) -> Result<ClassificationScores> {
    if pred.len() != y.len() || pred.is_empty() {
        return Err(Error::Invalid {
            what: "classification scores".into(),
            expected: "as many predictions as labels, at least one".into(),
            got: format!("{} predictions, {} labels", pred.len(), y.len()),
        });
    }
    let mut confusion = vec![vec![0usize; classes]; classes];
    for (&p, &t) in pred.iter().zip(y) {
        let t = usize::from(t);
        if p >= classes || t >= classes {
            return Err(Error::Invalid {
                what: "classification scores".into(),
                expected: format!("classes < {classes}"),
                got: format!("predicted {p}, true {t}"),
            });
        }
        confusion[t][p] += 1;
    }
    let correct: usize = (0..classes).map(|c| confusion[c][c]).sum();
    let per_class: Vec<ClassScore> = (0..classes)
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let support: usize = confusion[c].iter().sum();
            let predicted: usize = confusion.iter().map(|r| r[c]).sum();
            let precision = if predicted > 0 {
                tp / predicted as f64
            } else {
                0.0
            };
            let recall = if support > 0 {
                tp / support as f64
            } else {
                0.0
            };
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassScore {
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let present: Vec<&ClassScore> = per_class
        .iter()
        .enumerate()
        .filter(|(c, s)| s.support > 0 || confusion.iter().any(|r| r[*c] > 0))
        .map(|(_, s)| s)
        .collect();
    let macro_f1 = present.iter().map(|s| s.f1).sum::<f64>() / present.len().max(1) as f64;
    Ok(ClassificationScores {
        accuracy: correct as f64 / pred.len() as f64,
        macro_f1,
        per_class,
        confusion,
    })
}

/// Predicts `x` with `model` and scores it against `y`.
///
/// # Errors
/// As [`predict_rows`] and [`classification_scores`].
pub fn evaluate(model: &StagedModel, x: &Features, y: &[u8]) -> Result<ClassificationScores> {
    let pred = predict_rows(model, x)?;
    classification_scores(&pred, y, model.arch().classes)
}

/// The preprocessing file stored next to a weight file: `<weights>.preprocess.json`.
pub fn preprocess_path(weights: &Path) -> PathBuf {
    let mut s = weights.as_os_str().to_os_string();
    s.push(".preprocess.json");
    PathBuf::from(s)
}

/// Saves a tabular model's weights (safetensors) and, next to them, its preprocessing
/// ([`preprocess_path`]), both atomically.
///
/// # Errors
/// [`Error::Io`] / [`Error::Invalid`] when a file cannot be written.
pub fn save_tabular(model: &StagedModel, pre: &Preprocessor, weights: &Path) -> Result<()> {
    save_model(model, weights)?;
    let p = preprocess_path(weights);
    pre.save(&p).map_err(|e| Error::Invalid {
        what: p.display().to_string(),
        expected: "a writable preprocessing file".into(),
        got: e.to_string(),
    })
}

/// Loads a tabular model saved by [`save_tabular`] with architecture `arch` (the one it was trained with),
/// and its preprocessing.
///
/// # Errors
/// [`Error::Invalid`] when the preprocessing file is missing or malformed, its feature count is not
/// `arch.in_channels`, or the weights do not fit `arch`.
pub fn load_tabular(
    arch: &ArchConfig,
    weights: &Path,
    device: &Device,
) -> Result<(StagedModel, Preprocessor)> {
    let p = preprocess_path(weights);
    let pre = load_preprocess(&p)?;
    if arch.kind != ArchKind::TabularMlp || arch.in_channels != pre.dim() {
        return Err(Error::Invalid {
            what: p.display().to_string(),
            expected: format!(
                "a preprocessing of {} features ({:?})",
                arch.in_channels, arch.kind
            ),
            got: format!("{} features", pre.dim()),
        });
    }
    Ok((load_model(arch, weights, device)?, pre))
}

/// The name of class `c` of a model with `classes` outputs: a TON_IoT `type` for 10 classes,
/// `normal`/`attack` for 2, `None` otherwise or out of range.
pub fn class_name(classes: usize, c: usize) -> Option<&'static str> {
    match classes {
        10 => privsplit_data::tabular::CLASSES.get(c).copied(),
        2 => ["normal", "attack"].get(c).copied(),
        _ => None,
    }
}

fn load_preprocess(path: &Path) -> Result<Preprocessor> {
    Preprocessor::load(path).map_err(|e| Error::Invalid {
        what: path.display().to_string(),
        expected: "a TON_IoT preprocessing (JSON, privsplit tabular train)".into(),
        got: e.to_string(),
    })
}

/// The architecture of a width-1 tabular MLP for `task` saved by [`save_tabular`] at `weights` (a full
/// model or one side's file): its input width is the feature count of the preprocessing next to it
/// ([`preprocess_path`]), which serving needs even on a side that never sees a row.
///
/// # Errors
/// [`Error::Invalid`] naming the preprocessing file when it is missing or malformed.
pub fn saved_tabular_arch(weights: &Path, task: TabularTask) -> Result<ArchConfig> {
    let pre = load_preprocess(&preprocess_path(weights))?;
    Ok(ArchConfig::tabular_mlp(pre.dim(), task.classes()))
}

/// The rows of the TON_IoT CSV file `csv` (either layout, plain or gzipped), preprocessed with the stored
/// preprocessing `preprocess` (the training statistics): `[rows, features]`, ready for a tabular model.
///
/// # Errors
/// [`Error::Invalid`] naming the file: the preprocessing is missing or malformed, the CSV is unreadable or
/// a row is bad (the loader's message names the line, column and value), or the file has no rows.
pub fn csv_rows(csv: &Path, preprocess: &Path) -> Result<Features> {
    let pre = load_preprocess(preprocess)?;
    let table = privsplit_data::tabular::TonIotTable::load(csv).map_err(|e| Error::Invalid {
        what: csv.display().to_string(),
        expected: "a TON_IoT CSV file".into(),
        got: e.to_string(),
    })?;
    if table.rows == 0 {
        return Err(Error::Invalid {
            what: csv.display().to_string(),
            expected: "at least one row".into(),
            got: "a header only".into(),
        });
    }
    let all: Vec<usize> = (0..table.rows).collect();
    let data = pre.transform(&table, &all).map_err(|e| Error::Invalid {
        what: csv.display().to_string(),
        expected: "rows the preprocessing can encode".into(),
        got: e.to_string(),
    })?;
    Features::new(data, table.rows, pre.dim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_follow_the_head() {
        assert_eq!(class_name(10, 0), Some("normal"));
        assert_eq!(class_name(10, 8), Some("scanning"));
        assert_eq!(class_name(10, 10), None);
        assert_eq!(class_name(2, 1), Some("attack"));
        assert_eq!(class_name(3, 0), None);
        let e = saved_tabular_arch(Path::new("/nonexistent/m.safetensors"), TabularTask::Type)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("/nonexistent/m.safetensors.preprocess.json"),
            "{e:?}"
        );
    }
}
