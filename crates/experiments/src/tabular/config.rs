//! Settings of the tabular workload: where the rows come from, how the intrusion-detection MLP is trained,
//! and how its partition points are attacked; the presets.
//!
//! | preset | data sizes | attacks |
//! |---|---|---|
//! | [`TabularPreset::Standard`] | 5,000 attacker / 1,000 evaluation rows, 8 training epochs | c-GAN, inverse network, rMLE (20 decoder epochs, 300 rMLE steps on 200 rows) |
//! | [`TabularPreset::Tiny`] | 800 / 200 rows, 3 epochs, width 0.5 | the same three, 4 decoder epochs, 60 rMLE steps on 24 rows (seconds) |

use std::path::PathBuf;

use privsplit_attacks::tabular_inversion::{RowAttackConfig, RowCganConfig, RowRmleConfig};
use privsplit_attacks::ReconstructionAttack;
use privsplit_models::device::DeviceChoice;
use privsplit_models::tabular::TabularTask;
use privsplit_models::train::{OptimizerConfig, TrainConfig};
use privsplit_models::zoo::ArchConfig;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where the TON_IoT rows come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TabularSource {
    /// A TON_IoT CSV file (`train_test_network.csv` or a `Network_dataset_N.csv`, plain or gzipped).
    Csv(PathBuf),
    /// SYNTHETIC rows in the real file's layout from `privsplit_data::tabular::write_synthetic`.
    Synthetic {
        /// Number of rows.
        rows: usize,
        /// Generator seed.
        seed: u64,
    },
}

impl TabularSource {
    /// The rows the command line chose: the CSV file `csv`, else `synthetic_rows` SYNTHETIC rows from
    /// `seed` (0 when neither is given; loading then reports the empty set).
    pub fn new(csv: Option<PathBuf>, synthetic_rows: Option<usize>, seed: u64) -> Self {
        match csv {
            Some(p) => Self::Csv(p),
            None => Self::Synthetic {
                rows: synthetic_rows.unwrap_or(0),
                seed,
            },
        }
    }

    /// Whether the rows are generated (every report then says SYNTHETIC).
    pub fn is_synthetic(&self) -> bool {
        matches!(self, Self::Synthetic { .. })
    }

    /// One line naming the data, copied into every report ("SYNTHETIC ..." for generated rows).
    pub fn describe(&self) -> String {
        match self {
            Self::Csv(p) => format!("TON_IoT file {}", p.display()),
            Self::Synthetic { rows, seed } => format!(
                "SYNTHETIC TON_IoT layout ({rows} generated rows, generator seed {seed}; not TON_IoT \
                 measurements)"
            ),
        }
    }
}

/// Training of the tabular intrusion-detection MLP (`privsplit_models::tabular`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularTrainConfig {
    /// The target: `type` (10 classes) or `label` (binary).
    pub task: TabularTask,
    /// Passes over the training split.
    pub epochs: usize,
    /// Rows per step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Width multiplier of the hidden layers (1: `256 -> 128 -> 64 -> 32`).
    pub width: f64,
    /// Fraction of the rows in the stratified test split, `(0, 1)`.
    pub test_fraction: f64,
    /// Seed of the split, the initialisation and the shuffling.
    pub seed: u64,
    /// Where the MLP trains (`--device`; default `flex`, the CPU).
    #[serde(default)]
    pub device: DeviceChoice,
}

impl TabularTrainConfig {
    /// The setting of docs/RESULTS.md §3: Adam 1e-3, batch 256, 8 epochs, 20 % test rows, seed 1.
    pub fn standard(task: TabularTask) -> Self {
        Self {
            task,
            epochs: 8,
            batch_size: 256,
            learning_rate: 1e-3,
            width: 1.0,
            test_fraction: 0.2,
            seed: 1,
            device: DeviceChoice::Flex,
        }
    }

    /// The architecture for rows of `features` values.
    pub fn arch(&self, features: usize) -> ArchConfig {
        ArchConfig::tabular_mlp(features, self.task.classes()).with_width(self.width)
    }

    /// The training-loop settings.
    pub fn train(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer: OptimizerConfig::adam(self.learning_rate),
            seed: self.seed,
            device: self.device,
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the setting: zero epochs or batch size, a width or learning rate that is
    /// not positive, a test fraction outside `(0, 1)`.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.batch_size == 0 {
            return Err(Error::invalid(
                "tabular training epochs / batch size",
                ">= 1",
                format!("{} / {}", self.epochs, self.batch_size),
            ));
        }
        if !(self.width > 0.0 && self.learning_rate > 0.0) {
            return Err(Error::invalid(
                "tabular training width / learning rate",
                "> 0",
                format!("{} / {}", self.width, self.learning_rate),
            ));
        }
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return Err(Error::invalid(
                "test fraction",
                "a value in (0, 1)",
                self.test_fraction.to_string(),
            ));
        }
        Ok(())
    }
}

/// The attacks of a tabular sweep and their settings (`privsplit_attacks::tabular_inversion`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowAttacks {
    /// Attacks run at each partition point.
    pub kinds: Vec<ReconstructionAttack>,
    /// Inverse-network training.
    pub inverse: RowAttackConfig,
    /// c-GAN training.
    pub cgan: RowCganConfig,
    /// rMLE optimisation.
    pub rmle: RowRmleConfig,
    /// Evaluation rows attacked by rMLE (the first ones; it optimises per row).
    pub rmle_rows: usize,
}

/// A named tabular configuration (the table in the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum TabularPreset {
    /// The measured sweep of docs/RESULTS.md §3: [`TabularSweepConfig::standard`].
    Standard,
    /// Seconds, for tests and smoke runs: [`TabularSweepConfig::tiny`].
    Tiny,
}

impl TabularPreset {
    /// The configuration.
    pub fn config(self) -> TabularSweepConfig {
        match self {
            Self::Standard => TabularSweepConfig::standard(),
            Self::Tiny => TabularSweepConfig::tiny(),
        }
    }
}

/// Command-line changes to a tabular sweep preset (flags of `privsplit tabular sweep`); each `None` keeps
/// the preset's value.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct TabularSweepOverrides {
    /// The column to predict (when the sweep trains the model).
    #[cfg_attr(feature = "clap", arg(long, value_enum, default_value = "type"))]
    pub target: TabularTask,
    /// Training epochs (when the sweep trains the model).
    #[cfg_attr(feature = "clap", arg(long))]
    pub epochs: Option<usize>,
    /// Partition points, comma-separated (default: all).
    #[cfg_attr(feature = "clap", arg(long, value_delimiter = ','))]
    pub points: Option<Vec<usize>>,
    /// Attacks, comma-separated (default: all three).
    #[cfg_attr(feature = "clap", arg(long, value_enum, value_delimiter = ','))]
    pub attacks: Option<Vec<ReconstructionAttack>>,
    /// Allowed gain over the class-mean baseline in [0, 1] (default 0.05, docs/SWEEP.md).
    #[cfg_attr(feature = "clap", arg(long))]
    pub margin: Option<f64>,
    /// Seed of the generator, the split, the initialisation and the shuffling (when the sweep trains).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 1))]
    pub seed: u64,
    /// Where the victim and the attacks train (set from the command line's `--device`).
    #[cfg_attr(feature = "clap", arg(skip))]
    pub device: Option<DeviceChoice>,
}

impl TabularSweepOverrides {
    /// Applies the target, seed and given settings to `config` (the device to the victim's training and
    /// the attacks). Validation is [`TabularSweepConfig::validate`]'s.
    pub fn apply(&self, config: &mut TabularSweepConfig) {
        config.train.task = self.target;
        config.train.seed = self.seed;
        config.train.epochs = self.epochs.unwrap_or(config.train.epochs);
        if self.points.is_some() {
            config.points.clone_from(&self.points);
        }
        if let Some(k) = &self.attacks {
            config.attacks.kinds.clone_from(k);
        }
        config.margin = self.margin.unwrap_or(config.margin);
        if let Some(d) = self.device {
            (config.device, config.train.device) = (d, d);
        }
    }
}

/// Settings of a tabular partition sweep (training of the victim included, when the sweep trains it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularSweepConfig {
    /// Training of the victim MLP (also: the split of the rows).
    pub train: TabularTrainConfig,
    /// Partition points to evaluate (`None`: every one, `0..=n`).
    pub points: Option<Vec<usize>>,
    /// The attacks.
    pub attacks: RowAttacks,
    /// Attacker rows (the first ones of the training split; disjoint from the evaluation rows).
    pub attacker_rows: usize,
    /// Evaluation (victim) rows (the first ones of the test split).
    pub eval_rows: usize,
    /// Candidates `N` of the re-identification test.
    pub candidates: usize,
    /// Allowed gain over the prior-only baseline (standardised R^2 and categorical accuracy), `[0, 1]`.
    pub margin: f64,
    /// Seed of the re-identification draws.
    pub seed: u64,
    /// Timed repetitions per partition for the latency (median reported).
    pub latency_reps: usize,
    /// Where the attacks train (`--device`; default `flex`, the CPU).
    #[serde(default)]
    pub device: DeviceChoice,
}

/// Default margin over the prior-only baseline: 0.05 (five points of R^2 / accuracy).
pub const DEFAULT_MARGIN: f64 = 0.05;

impl TabularSweepConfig {
    /// The standard sweep of the 10-class model: every point, all three attacks, 20 decoder epochs, 300
    /// rMLE steps on 200 rows, N = 10 candidates, 5,000 attacker and 1,000 evaluation rows.
    pub fn standard() -> Self {
        Self {
            train: TabularTrainConfig::standard(TabularTask::Type),
            points: None,
            attacks: RowAttacks {
                kinds: vec![
                    ReconstructionAttack::Cgan,
                    ReconstructionAttack::Inverse,
                    ReconstructionAttack::Rmle,
                ],
                inverse: RowAttackConfig::default(),
                cgan: RowCganConfig::default(),
                rmle: RowRmleConfig::default(),
                rmle_rows: 200,
            },
            attacker_rows: 5_000,
            eval_rows: 1_000,
            candidates: 10,
            margin: DEFAULT_MARGIN,
            seed: 11,
            latency_reps: 20,
            device: DeviceChoice::Flex,
        }
    }

    /// A fast configuration (seconds) for tests and smoke runs.
    pub fn tiny() -> Self {
        let mut c = Self::standard();
        c.train.epochs = 3;
        c.train.batch_size = 64;
        c.train.learning_rate = 2e-3;
        c.train.width = 0.5;
        let a = &mut c.attacks;
        a.inverse = RowAttackConfig {
            epochs: 4,
            batch_size: 64,
            learning_rate: 3e-3,
            hidden: 64,
            seed: 7,
        };
        a.cgan = RowCganConfig::with_generator(a.inverse.clone());
        a.rmle.steps = 60;
        a.rmle.learning_rate = 0.1;
        a.rmle_rows = 24;
        c.attacker_rows = 800;
        c.eval_rows = 200;
        c.latency_reps = 3;
        c
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the setting: no attacks, fewer than 2 candidates, fewer evaluation rows
    /// than candidates, no attacker rows, a margin outside `[0, 1]`; as [`TabularTrainConfig::validate`].
    pub fn validate(&self) -> Result<()> {
        self.train.validate()?;
        if self.attacks.kinds.is_empty() {
            return Err(Error::invalid(
                "tabular sweep attacks",
                "at least one",
                "none",
            ));
        }
        if self.candidates < 2 {
            return Err(Error::invalid(
                "candidates",
                ">= 2",
                self.candidates.to_string(),
            ));
        }
        if self.eval_rows < self.candidates || self.attacker_rows == 0 {
            return Err(Error::invalid(
                "attacker / evaluation rows",
                format!(">= 1 attacker row, >= {} evaluation rows", self.candidates),
                format!("{} / {}", self.attacker_rows, self.eval_rows),
            ));
        }
        if !(0.0..=1.0).contains(&self.margin) {
            return Err(Error::invalid(
                "margin",
                "a value in [0, 1]",
                self.margin.to_string(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_overrides_set_the_target_and_seed_and_keep_what_is_not_given() {
        let preset = TabularSweepConfig::tiny();
        let mut c = preset.clone();
        let o = TabularSweepOverrides {
            target: TabularTask::Binary,
            epochs: None,
            points: Some(vec![2]),
            attacks: None,
            margin: Some(0.1),
            seed: 9,
            device: Some(DeviceChoice::Flex),
        };
        o.apply(&mut c);
        assert_eq!((c.train.task, c.train.seed), (TabularTask::Binary, 9));
        assert_eq!((c.points.clone(), c.margin), (Some(vec![2]), 0.1));
        assert_eq!(c.train.epochs, preset.train.epochs);
        assert_eq!(c.attacks, preset.attacks);
        assert_eq!(
            (c.device, c.train.device),
            (DeviceChoice::Flex, DeviceChoice::Flex)
        );
    }
}
