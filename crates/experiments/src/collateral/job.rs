//! One call from a collateral-learning configuration and a data source to its outcome (what
//! `privsplit collateral` does), and the main-task-only run on Fashion-MNIST with the quantised accuracy.

use std::path::{Path, PathBuf};

use privsplit_data::{FontCharConfig, Split};
use privsplit_fe::QuantConfig;
use privsplit_models::train::{accuracy, Progress};

use super::{run_collateral, run_main_task, CollateralConfig, CollateralOutcome};
use crate::datasets::load_fashion_mnist;
use crate::encryption::{quantise, quantised_predictions};
use crate::{Error, Result, StepContext};

/// Where the images of a collateral experiment come from.
#[derive(Clone, Debug, PartialEq)]
pub enum CollateralData {
    /// A split written by `privsplit data fonts` (IDX files `{prefix}-...` and `{prefix}-meta.json`).
    Idx {
        /// The folder.
        dir: PathBuf,
        /// The file prefix.
        prefix: String,
    },
    /// The default font-character set (digits in two fonts), generated with `seed`.
    Fonts {
        /// Training images.
        train: usize,
        /// Test images.
        test: usize,
        /// Seed of the generator.
        seed: u64,
    },
    /// The tiny synthetic seven-segment set (two drawing styles; for smoke tests, not real fonts).
    Synthetic {
        /// Training images.
        train: usize,
        /// Test images.
        test: usize,
        /// Seed of the generator.
        seed: u64,
    },
}

impl CollateralData {
    /// The data the command line chose: the IDX split `idx` (folder, file prefix), else the synthetic set
    /// (`synthetic`), else the default font-character set (`fonts_default`), each generated with `train` /
    /// `test` images from `seed`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when none of the three is chosen.
    pub fn choose(
        idx: Option<(PathBuf, String)>,
        synthetic: bool,
        fonts_default: bool,
        [train, test]: [usize; 2],
        seed: u64,
    ) -> Result<Self> {
        Ok(match (idx, synthetic, fonts_default) {
            (Some((dir, prefix)), _, _) => Self::Idx { dir, prefix },
            (None, true, _) => Self::Synthetic { train, test, seed },
            (None, false, true) => Self::Fonts { train, test, seed },
            (None, false, false) => {
                return Err(Error::invalid(
                    "the data",
                    "--data DIR, --fonts-default or --synthetic",
                    "none of them",
                ))
            }
        })
    }

    /// Reads or generates the split.
    ///
    /// # Errors
    /// [`Error::Data`] when the files cannot be read or the fonts cannot be rendered.
    pub fn load(&self) -> Result<Split> {
        Ok(match self {
            Self::Idx { dir, prefix } => privsplit_data::idx::read_split(dir, prefix)
                .step(format!("reading the split {prefix} in {}", dir.display()))?,
            Self::Fonts { train, test, seed } => {
                let fc = FontCharConfig {
                    seed: *seed,
                    ..FontCharConfig::small(*train, *test)
                };
                privsplit_data::fonts::generate(&fc).step("generating the font-character set")?
            }
            Self::Synthetic { train, test, seed } => {
                privsplit_defenses::synthetic::seven_segment_split(*train, *test, *seed)
            }
        })
    }
}

/// Runs the experiment on `data`; writes the outcome as JSON to `json` when given (atomically).
///
/// # Errors
/// As [`CollateralData::load`] and [`run_collateral`]; report-writing errors.
pub fn run_job(
    cfg: &CollateralConfig,
    data: &CollateralData,
    json: Option<&Path>,
    progress: &mut dyn FnMut(Progress),
) -> Result<CollateralOutcome> {
    cfg.validate()?;
    let split = data.load()?;
    let outcome = run_collateral(cfg, &split, progress).step("collateral-learning experiment")?;
    if let Some(path) = json {
        privsplit_report::write_json(path, &outcome)?;
    }
    Ok(outcome)
}

/// Trains the quadratic network on Fashion-MNIST from `dir` for `cfg.plain_epochs` (main task only, no
/// sensitive attribute) and returns a report of its float and quantised (default ranges) test accuracy.
///
/// # Errors
/// [`Error::NotInstalled`] when Fashion-MNIST is missing; training and quantisation errors.
pub fn main_task_fashion_mnist(cfg: &CollateralConfig, dir: &Path) -> Result<String> {
    let data = load_fashion_mnist(dir)?;
    let o = run_main_task(cfg, &data, &mut |_| {}).step("training the quadratic network")?;
    let trained = o
        .trained
        .as_ref()
        .ok_or_else(|| Error::invalid("main-task training", "a trained model", "none returned"))?;
    let quant = QuantConfig::default();
    let model = quantise(&o.weights, &quant)?;
    let q_acc = accuracy(
        &quantised_predictions(&model, &trained.head, &data.test)?,
        &data.test.labels,
    );
    Ok(format!(
        "Fashion-MNIST main task, quadratic network {} -> {} -> square -> {} + public head: {} train / {} test \
         images, {} epochs, {:.1} s\ntest accuracy: float {:.2} %, quantised (|P| <= {}, |Q| <= {}) {:.2} %",
        o.network.inputs,
        o.network.hidden,
        o.network.outputs,
        o.train_images,
        o.test_images,
        o.epochs,
        o.seconds,
        100.0 * o.test_accuracy,
        quant.p_max,
        quant.q_max,
        100.0 * q_acc
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn the_data_flags_pick_idx_then_synthetic_then_fonts_and_none_is_an_error() {
        let idx = Some((PathBuf::from("d"), "fonts".to_string()));
        assert_eq!(
            CollateralData::choose(idx, true, true, [6, 2], 1).unwrap(),
            CollateralData::Idx {
                dir: "d".into(),
                prefix: "fonts".into()
            }
        );
        let (train, test, seed) = (6, 2, 1);
        assert_eq!(
            CollateralData::choose(None, true, true, [6, 2], 1).unwrap(),
            CollateralData::Synthetic { train, test, seed }
        );
        assert_eq!(
            CollateralData::choose(None, false, true, [6, 2], 1).unwrap(),
            CollateralData::Fonts { train, test, seed }
        );
        let err = CollateralData::choose(None, false, false, [6, 2], 1).unwrap_err();
        assert!(err.to_string().contains("--fonts-default"), "{err}");
    }
}
