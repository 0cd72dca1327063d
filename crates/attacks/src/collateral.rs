//! The collateral attack (Ryffel et al., NeurIPS 2019, §5): with the private part `Q` frozen, an adversary
//! that sees only `output(x)` `[k]` is trained to predict the sensitive attribute (the font) of `x`.
//!
//! Its test accuracy, the **collateral accuracy**, is reported next to chance (the majority-class rate of
//! the test set's sensitive attribute): the closer to chance, the less `output(x)` leaks. `output(x)` is
//! computed once, in eval mode, detached from `Q`, so the attack cannot move `Q`.

use std::time::Instant;

use privsplit_data::ImageSet;
use privsplit_models::adversary::{AdversaryConfig, AdversaryKind};
use privsplit_models::quadratic::QuadraticPrivate;
use privsplit_models::tensor::{sensitive_labels, Features};
use privsplit_models::train::{accuracy, fit, majority_rate, predict, Progress, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How to train a neural collateral adversary.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollateralAttackConfig {
    /// The adversary network.
    pub adversary: AdversaryKind,
    /// Its schedule (epochs, batch, optimiser, seed of initialisation and shuffling).
    pub train: TrainConfig,
    /// The reported collateral accuracy is the mean test accuracy of the last `average_last` epochs
    /// (Ryffel et al.'s evaluation, public repository: 50 epochs, mean of the last 10); 0 or 1 = the final
    /// epoch's. Default 0.
    #[serde(default)]
    pub average_last: usize,
}

/// The result of one attack on the sensitive attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackResult {
    /// The attacker (`"cnn"`, `"mlp"`, `"logistic"`, `"knn"`).
    pub attacker: String,
    /// Test accuracy on the sensitive attribute, in `[0, 1]`.
    pub collateral_accuracy: f32,
    /// Chance level: majority-class rate of the test sensitive attribute, in `[0, 1]`.
    pub chance: f32,
    /// Wall time of training and evaluation (s).
    pub seconds: f64,
}

/// The private outputs and sensitive attribute of one image set, ready for attacks.
#[derive(Clone, Debug, PartialEq)]
pub struct SensitiveView {
    /// `output(x)` of each image, `[n, k]`.
    pub outputs: Features,
    /// Sensitive attribute (font) of each image, `[n]`.
    pub sensitive: Vec<u8>,
    /// Number of sensitive classes.
    pub classes: usize,
}

impl SensitiveView {
    /// Runs the frozen private part on every image of `set` (eval mode, detached).
    ///
    /// # Errors
    /// [`Error::Model`] when `set` has no sensitive attribute or does not fit `private`.
    pub fn of(private: &QuadraticPrivate, set: &ImageSet) -> Result<Self> {
        let sensitive = sensitive_labels(set, "attack set")?.to_vec();
        let outputs = private.outputs(&Features::from_images(set)?)?;
        Ok(Self {
            outputs,
            sensitive,
            classes: set.sensitive_names.len(),
        })
    }

    /// Wraps precomputed outputs.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the lengths disagree, a value is `>= classes`, or `classes < 2`.
    pub fn new(outputs: Features, sensitive: Vec<u8>, classes: usize) -> Result<Self> {
        if outputs.rows != sensitive.len() || outputs.rows == 0 || classes < 2 {
            return Err(Error::Invalid {
                what: "sensitive view".into(),
                expected: "one sensitive value per output row, >= 1 row, >= 2 classes".into(),
                got: format!(
                    "{} rows, {} values, {classes} classes",
                    outputs.rows,
                    sensitive.len()
                ),
            });
        }
        if let Some(v) = sensitive.iter().find(|&&v| usize::from(v) >= classes) {
            return Err(Error::Invalid {
                what: "sensitive attribute".into(),
                expected: format!("< {classes}"),
                got: v.to_string(),
            });
        }
        Ok(Self {
            outputs,
            sensitive,
            classes,
        })
    }
}

/// Per-column standardisation `(z - mean) / std` fitted on a training table (std floored at 1e-6).
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Standardizer {
    /// Fits mean and standard deviation of each column of `x`.
    pub fn fit(x: &Features) -> Self {
        let n = x.rows.max(1) as f64;
        let mut mean = vec![0.0f64; x.cols];
        let mut sq = vec![0.0f64; x.cols];
        for r in 0..x.rows {
            for (c, v) in x.row(r).iter().enumerate() {
                mean[c] += f64::from(*v);
                sq[c] += f64::from(*v) * f64::from(*v);
            }
        }
        let mean: Vec<f64> = mean.iter().map(|m| m / n).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| ((s / n - m * m).max(0.0).sqrt().max(1e-6)) as f32);
        Self {
            mean: mean.iter().map(|m| *m as f32).collect(),
            std: std.collect(),
        }
    }

    /// `x` standardised column by column.
    pub fn apply(&self, x: &Features) -> Features {
        let mut out = x.clone();
        for r in 0..x.rows {
            for c in 0..x.cols {
                let v = &mut out.data[r * x.cols + c];
                *v = (*v - self.mean[c]) / self.std[c];
            }
        }
        out
    }
}

/// Trains a fresh neural adversary on `train` (outputs standardised with the train statistics) and
/// reports its collateral accuracy on `test`.
///
/// # Errors
/// [`Error::Invalid`] when the views disagree in width or classes; [`Error::Model`] when training fails.
pub fn collateral_attack(
    cfg: &CollateralAttackConfig,
    train: &SensitiveView,
    test: &SensitiveView,
    progress: &mut dyn FnMut(Progress),
) -> Result<AttackResult> {
    check_views(train, test)?;
    let start = Instant::now();
    let device = cfg.train.device.resolve()?.autodiff();
    let scale = Standardizer::fit(&train.outputs);
    let xtr = scale.apply(&train.outputs);
    let xte = scale.apply(&test.outputs);
    let adv = AdversaryConfig {
        kind: cfg.adversary,
        inputs: train.outputs.cols,
        classes: train.classes,
    }
    .init(&device, cfg.train.seed)?;
    let phase = format!("attack {}", cfg.adversary.name());
    let epochs = cfg.train.epochs;
    let first_scored = epochs.saturating_sub(cfg.average_last.max(1)) + 1;
    let mut scores = Vec::new();
    let adv = fit(
        adv,
        &xtr,
        &train.sensitive,
        &cfg.train,
        &device,
        &phase,
        progress,
        Some(&mut |epoch, model| {
            if epoch >= first_scored {
                let pred = predict(model, &xte, 1024)?;
                scores.push(accuracy(&pred, &test.sensitive));
            }
            Ok(())
        }),
    )?;
    let collateral_accuracy = if scores.is_empty() {
        // zero epochs: the untrained adversary, scored as it stands
        accuracy(&predict(&adv, &xte, 1024)?, &test.sensitive)
    } else {
        scores.iter().sum::<f32>() / scores.len() as f32
    };
    Ok(AttackResult {
        attacker: cfg.adversary.name().to_string(),
        collateral_accuracy,
        chance: majority_rate(&test.sensitive),
        seconds: start.elapsed().as_secs_f64(),
    })
}

pub(crate) fn check_views(train: &SensitiveView, test: &SensitiveView) -> Result<()> {
    if train.outputs.cols != test.outputs.cols || train.classes != test.classes {
        return Err(Error::Invalid {
            what: "attack train/test views".into(),
            expected: "the same output width k and sensitive classes".into(),
            got: format!(
                "k {} vs {}, classes {} vs {}",
                train.outputs.cols, test.outputs.cols, train.classes, test.classes
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use privsplit_models::train::OptimizerConfig;
    use rand::{Rng, SeedableRng};

    /// Two Gaussian blobs in 4-D whose class is the sensitive attribute; the neural adversaries must find it.
    fn blobs(n: usize, seed: u64, sep: f32) -> SensitiveView {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut data = Vec::new();
        let mut s = Vec::new();
        for i in 0..n {
            let c = (i % 2) as u8;
            for d in 0..4 {
                let centre = if d == 0 {
                    sep * (f32::from(c) * 2.0 - 1.0)
                } else {
                    0.0
                };
                data.push(100.0 + 50.0 * (centre + rng.gen_range(-1.0..1.0f32)));
            }
            s.push(c);
        }
        SensitiveView::new(Features::new(data, n, 4).unwrap(), s, 2).unwrap()
    }

    #[test]
    fn neural_adversaries_find_a_separable_attribute() {
        let (train, test) = (blobs(400, 1, 1.5), blobs(200, 2, 1.5));
        for adversary in [AdversaryKind::Mlp, AdversaryKind::Cnn] {
            let cfg = CollateralAttackConfig {
                adversary,
                train: TrainConfig {
                    epochs: 3,
                    batch_size: 32,
                    optimizer: OptimizerConfig::sgd(0.05, 0.9),
                    seed: 3,
                    device: Default::default(),
                },
                average_last: 0,
            };
            let r = collateral_attack(&cfg, &train, &test, &mut |_| {}).unwrap();
            assert_eq!(r.chance, 0.5);
            assert!(
                r.collateral_accuracy > 0.9,
                "{adversary:?}: {}",
                r.collateral_accuracy
            );
        }
    }

    #[test]
    fn last_epochs_average_equals_separately_trained_snapshots() {
        // Overlapping blobs, so the accuracy moves from epoch to epoch.
        let (train, test) = (blobs(200, 3, 0.4), blobs(100, 4, 0.4));
        let schedule = |epochs| TrainConfig {
            epochs,
            batch_size: 16,
            optimizer: OptimizerConfig::sgd(0.05, 0.0),
            seed: 9,
            device: Default::default(),
        };
        let attack = |epochs, average_last| {
            let cfg = CollateralAttackConfig {
                adversary: AdversaryKind::AuthorsFfn,
                train: schedule(epochs),
                average_last,
            };
            collateral_attack(&cfg, &train, &test, &mut |_| {})
                .unwrap()
                .collateral_accuracy
        };
        // Without momentum, training for e epochs is the prefix of training for more (shuffles and
        // initialisation depend on the seed and epoch only), so the mean over epochs 2..=4 of one run is
        // the mean of three runs that stop at 2, 3 and 4 epochs.
        let separate = (attack(2, 0) + attack(3, 0) + attack(4, 0)) / 3.0;
        let averaged = attack(4, 3);
        assert!(
            (averaged - separate).abs() < 1e-6,
            "{averaged} vs {separate}"
        );
        assert_eq!(attack(4, 1), attack(4, 0));
        // More epochs than exist: every epoch counts.
        let all = (attack(1, 0) + attack(2, 0) + attack(3, 0) + attack(4, 0)) / 4.0;
        assert!((attack(4, 10) - all).abs() < 1e-6);
    }

    #[test]
    fn mismatched_views_are_rejected() {
        let a = blobs(10, 1, 1.0);
        let mut b = blobs(10, 1, 1.0);
        b.classes = 3;
        assert!(check_views(&a, &b).is_err());
        assert!(SensitiveView::new(a.outputs.clone(), vec![0; 9], 2).is_err());
        assert!(SensitiveView::new(a.outputs.clone(), vec![2; 10], 2).is_err());
    }
}
