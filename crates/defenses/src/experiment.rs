//! The collateral-learning experiment of Ryffel et al. 2019 (§5), end to end: train the quadratic private
//! network and its public head, attack the sensitive attribute from `output(x)`, defend with
//! semi-adversarial training for each alpha, attack again.
//!
//! Schedule (per alpha, all alphas share the same plain phase):
//!
//! 1. **plain**: `Q` and `C` on `L_main` for `plain_epochs` (once, shared);
//! 2. **defence**: `defence_epochs` of three-step semi-adversarial training
//!    ([`crate::semi_adversarial`]) with a fresh adversary `F`; for alpha = 0 this is plain training of
//!    `Q` and `C` for the same number of epochs (no defence, same budget);
//! 3. **recovery**: `Q` fixed, `C` retrained for `recovery_epochs`, and every attacker trained afresh
//!    (neural adversaries for `recovery_epochs`) on the train split's `output(x)`; the collateral accuracy
//!    is their test accuracy on the sensitive attribute.

use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use privsplit_attacks::classic::{classic_attack, ClassicConfig, ClassicMethod};
use privsplit_attacks::collateral::{
    collateral_attack, AttackResult, CollateralAttackConfig, SensitiveView,
};
use privsplit_data::Split;
use privsplit_models::adversary::{AdversaryConfig, AdversaryKind};
use privsplit_models::quadratic::{
    PublicHead, QuadraticConfig, QuadraticPrivate, QuadraticWeights, SplitNetwork,
};
use privsplit_models::tensor::{check_image_set, sensitive_labels, Features};
use privsplit_models::train::{
    accuracy, fit, majority_rate, predict, OptimizerConfig, Progress, TrainConfig,
};
use serde::{Deserialize, Serialize};

use crate::semi_adversarial::{self, SemiAdversarialConfig, Trio, TrioOptimizers};
use crate::{Error, Result};

/// An attacker of the sensitive attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attacker {
    /// The authors' CNN adversary.
    Cnn,
    /// The MLP adversary.
    Mlp,
    /// Multinomial logistic regression.
    Logistic,
    /// k-nearest neighbours.
    Knn,
}

impl Attacker {
    /// `"cnn"`, `"mlp"`, `"logistic"`, `"knn"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cnn => "cnn",
            Self::Mlp => "mlp",
            Self::Logistic => "logistic",
            Self::Knn => "knn",
        }
    }

    /// All four attackers.
    pub fn all() -> Vec<Self> {
        vec![Self::Cnn, Self::Mlp, Self::Logistic, Self::Knn]
    }
}

impl std::str::FromStr for Attacker {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cnn" => Ok(Self::Cnn),
            "mlp" => Ok(Self::Mlp),
            "logistic" => Ok(Self::Logistic),
            "knn" => Ok(Self::Knn),
            other => Err(Error::Invalid {
                what: "attacker".into(),
                expected: "cnn, mlp, logistic or knn".into(),
                got: other.into(),
            }),
        }
    }
}

/// Configuration of [`run_collateral`]. `Default` is a small, fast setting (a few epochs); see
/// [`CollateralConfig::ryffel2019`] for the paper's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollateralConfig {
    /// Hidden units of the quadratic layer (paper: 40).
    pub hidden: usize,
    /// Size `k` of `output(x)` (paper: 4).
    pub k: usize,
    /// Hidden units of the public head (paper: 32).
    pub head_hidden: usize,
    /// Images per batch.
    pub batch_size: usize,
    /// Learning rate of every network.
    pub lr: f64,
    /// SGD momentum in `[0, 1)`.
    pub momentum: f64,
    /// Epochs of plain training of `Q` and `C`.
    pub plain_epochs: usize,
    /// Epochs of semi-adversarial training.
    pub defence_epochs: usize,
    /// Epochs of retraining `C` and of training each fresh neural attacker, `Q` fixed.
    pub recovery_epochs: usize,
    /// Defence strengths alpha >= 0 to run; 0 means no defence.
    pub alphas: Vec<f32>,
    /// The adversary `F` inside semi-adversarial training.
    pub defence_adversary: AdversaryKind,
    /// The attackers measured after recovery.
    pub attackers: Vec<Attacker>,
    /// Settings of the classic attackers.
    pub classic: ClassicConfig,
    /// Seed of every initialisation and shuffle.
    pub seed: u64,
}

impl Default for CollateralConfig {
    fn default() -> Self {
        Self {
            hidden: 40,
            k: 4,
            head_hidden: 32,
            batch_size: 128,
            lr: 0.01,
            momentum: 0.9,
            plain_epochs: 3,
            defence_epochs: 3,
            recovery_epochs: 3,
            alphas: vec![0.0, 1.5, 3.0],
            defence_adversary: AdversaryKind::Cnn,
            attackers: Attacker::all(),
            classic: ClassicConfig::default(),
            seed: 0,
        }
    }
}

impl CollateralConfig {
    /// The paper's schedule (Ryffel et al. 2019, §5): 10 plain, 10 defence and 10 recovery epochs, the CNN
    /// adversary, alpha in {0, 1.5, 3}, SGD with momentum.
    pub fn ryffel2019() -> Self {
        Self {
            plain_epochs: 10,
            defence_epochs: 10,
            recovery_epochs: 10,
            ..Self::default()
        }
    }

    /// Checks every setting.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first bad setting (empty or negative/non-finite alpha list, zero
    /// sizes or batch, bad learning rate or momentum, no attacker, zero plain or recovery epochs).
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, expected: &str, got: String| {
            Err(Error::Invalid {
                what: format!("collateral config: {what}"),
                expected: expected.into(),
                got,
            })
        };
        if self.alphas.is_empty() {
            return bad(
                "alphas",
                "at least one alpha (0 = no defence)",
                "an empty list".into(),
            );
        }
        if let Some(a) = self.alphas.iter().find(|a| !(a.is_finite() && **a >= 0.0)) {
            return bad("alphas", "finite values >= 0", a.to_string());
        }
        for (name, v) in [
            ("hidden", self.hidden),
            ("k", self.k),
            ("head_hidden", self.head_hidden),
            ("batch_size", self.batch_size),
        ] {
            if v == 0 {
                return bad(name, "> 0", "0".into());
            }
        }
        if self.plain_epochs == 0 {
            return bad("plain_epochs", "> 0", "0".into());
        }
        if self.recovery_epochs == 0 {
            return bad(
                "recovery_epochs",
                "> 0 (the attackers are trained in the recovery phase)",
                "0".into(),
            );
        }
        if self.attackers.is_empty() {
            return bad(
                "attackers",
                "at least one of cnn, mlp, logistic, knn",
                "none".into(),
            );
        }
        self.optimizer().validate("collateral config")?;
        Ok(())
    }

    fn optimizer(&self) -> OptimizerConfig {
        OptimizerConfig::sgd(self.lr, self.momentum)
    }

    fn train_config(&self, epochs: usize, seed: u64) -> TrainConfig {
        TrainConfig {
            epochs,
            batch_size: self.batch_size,
            optimizer: self.optimizer(),
            seed,
        }
    }
}

/// Results for one alpha.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlphaOutcome {
    /// Defence strength (0 = no defence).
    pub alpha: f32,
    /// Main-task test accuracy after recovery, in `[0, 1]`.
    pub main_accuracy: f32,
    /// Collateral accuracy of each attacker on the test split.
    pub attacks: Vec<AttackResult>,
    /// Wall time of the defence phase (s).
    pub defence_seconds: f64,
    /// Wall time of retraining `C` in the recovery phase (s).
    pub recovery_seconds: f64,
    /// Wall time of all attacks (s).
    pub attack_seconds: f64,
    /// The private part's weights after this alpha's training, in functional-encryption form.
    pub weights: QuadraticWeights,
}

impl AlphaOutcome {
    /// Collateral accuracy of `attacker`, if it was run.
    pub fn collateral(&self, attacker: Attacker) -> Option<f32> {
        self.attacks
            .iter()
            .find(|a| a.attacker == attacker.name())
            .map(|a| a.collateral_accuracy)
    }
}

/// A trained main-task network (on the inference device, eval mode).
#[derive(Clone, Debug)]
pub struct TrainedSplit {
    /// The private part `Q`.
    pub private: QuadraticPrivate,
    /// The public head `C`.
    pub head: PublicHead,
}

/// Everything [`run_collateral`] measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CollateralOutcome {
    /// The configuration run.
    pub config: CollateralConfig,
    /// Sizes of the networks.
    pub network: QuadraticConfig,
    /// Training and test images.
    pub train_images: usize,
    /// Test images.
    pub test_images: usize,
    /// Chance level of the sensitive attribute (majority-class rate on the test split), in `[0, 1]`.
    pub chance: f32,
    /// Float (unencrypted, unquantised) main-task test accuracy of the undefended model, in `[0, 1]`.
    pub float_test_accuracy: f32,
    /// Wall time of the plain phase (s).
    pub plain_seconds: f64,
    /// Wall time of one plain epoch (s), the figure to extrapolate from.
    pub seconds_per_plain_epoch: f64,
    /// One entry per alpha, in the order of the config.
    pub per_alpha: Vec<AlphaOutcome>,
    /// The undefended model's private weights in functional-encryption form (alpha = 0 when run,
    /// otherwise the model after the plain phase with `C` recovered).
    pub undefended_weights: QuadraticWeights,
    /// The undefended model itself (for encryption and clear-text classification); not serialised.
    #[serde(skip)]
    pub undefended: Option<TrainedSplit>,
}

/// Validates `cfg` and the splits (same image size and classes; with `sensitive`, the same sensitive names)
/// and returns the network sizes for them.
fn check_split(cfg: &CollateralConfig, data: &Split, sensitive: bool) -> Result<QuadraticConfig> {
    cfg.validate()?;
    check_image_set(&data.train, "train split")?;
    check_image_set(&data.test, "test split")?;
    let (tr, te) = (&data.train, &data.test);
    let same_sensitive = !sensitive || tr.sensitive_names == te.sensitive_names;
    if (tr.rows, tr.cols, &tr.class_names) != (te.rows, te.cols, &te.class_names) || !same_sensitive
    {
        return Err(Error::Invalid {
            what: "train/test splits".into(),
            expected: "the same image size, classes and sensitive names".into(),
            got: format!("{}x{} vs {}x{}", tr.rows, tr.cols, te.rows, te.cols),
        });
    }
    Ok(QuadraticConfig {
        inputs: tr.rows * tr.cols,
        hidden: cfg.hidden,
        outputs: cfg.k,
        head_hidden: cfg.head_hidden,
        classes: tr.class_names.len(),
    })
}

/// A freshly initialised private part (seed `seed`) and public head (seed `seed + 1`).
fn init_network(net: &QuadraticConfig, device: &Device, seed: u64) -> Result<SplitNetwork> {
    Ok(SplitNetwork {
        private: net.init_private(device, seed)?,
        head: net.init_head(device, seed + 1)?,
    })
}

/// Runs the whole experiment on `data` (train/test with the sensitive attribute), reporting progress.
///
/// # Errors
/// [`Error::Invalid`] on a bad config or data without a sensitive attribute, or with mismatched image
/// sizes or class lists; [`Error::Model`] / [`Error::Attack`] when training or an attack fails.
pub fn run_collateral(
    cfg: &CollateralConfig,
    data: &Split,
    progress: &mut dyn FnMut(Progress),
) -> Result<CollateralOutcome> {
    let net = check_split(cfg, data, true)?;
    let (tr, te) = (&data.train, &data.test);
    let s_train = sensitive_labels(tr, "train split")?.to_vec();
    let s_test = sensitive_labels(te, "test split")?.to_vec();
    let n_sensitive = tr.sensitive_names.len();
    if n_sensitive < 2 {
        return Err(Error::Invalid {
            what: "sensitive attribute".into(),
            expected: "at least 2 values".into(),
            got: n_sensitive.to_string(),
        });
    }
    let device = Device::flex().autodiff();
    let x_train = Features::from_images(tr)?;
    let x_test = Features::from_images(te)?;
    let seed = cfg.seed;

    // 1. Plain phase (shared by every alpha).
    let start = Instant::now();
    let plain = init_network(&net, &device, seed)?;
    let plain = fit(
        plain,
        &x_train,
        &tr.labels,
        &cfg.train_config(cfg.plain_epochs, seed + 2),
        &device,
        "plain",
        progress,
    )?;
    let plain_seconds = start.elapsed().as_secs_f64();

    let mut per_alpha = Vec::with_capacity(cfg.alphas.len());
    let mut undefended: Option<TrainedSplit> = None;
    for (ai, &alpha) in cfg.alphas.iter().enumerate() {
        // 2. Defence phase.
        let start = Instant::now();
        let phase = format!("defence alpha={alpha}");
        let aseed = seed + 100 * (ai as u64 + 1);
        let (private, head) = if alpha == 0.0 {
            let m = fit(
                plain.clone(),
                &x_train,
                &tr.labels,
                &cfg.train_config(cfg.defence_epochs, aseed),
                &device,
                &phase,
                progress,
            )?;
            (m.private, m.head)
        } else {
            let trio = Trio {
                private: plain.private.clone(),
                head: plain.head.clone(),
                adversary: AdversaryConfig {
                    kind: cfg.defence_adversary,
                    inputs: cfg.k,
                    classes: n_sensitive,
                }
                .init(&device, aseed)?,
            };
            let sa = SemiAdversarialConfig {
                alpha,
                epochs: cfg.defence_epochs,
                batch_size: cfg.batch_size,
                optimizer: cfg.optimizer(),
                seed: aseed + 1,
            };
            let mut opt = TrioOptimizers::new(&sa.optimizer);
            let t = semi_adversarial::train(
                trio, &mut opt, &x_train, &tr.labels, &s_train, &sa, &device, &phase, progress,
            )?;
            (t.private, t.head)
        };
        let defence_seconds = start.elapsed().as_secs_f64();

        // 3. Recovery: Q fixed; C retrained on the detached outputs.
        let start = Instant::now();
        let z_train = private.outputs(&x_train)?;
        let z_test = private.outputs(&x_test)?;
        let head = fit(
            head,
            &z_train,
            &tr.labels,
            &cfg.train_config(cfg.recovery_epochs, aseed + 2),
            &device,
            &format!("recovery alpha={alpha}"),
            progress,
        )?;
        let main_accuracy = accuracy(&predict(&head, &z_test, 1024)?, &te.labels);
        let recovery_seconds = start.elapsed().as_secs_f64();

        // Attacks on the sensitive attribute.
        let start = Instant::now();
        let vtr = SensitiveView::new(z_train, s_train.clone(), n_sensitive)?;
        let vte = SensitiveView::new(z_test, s_test.clone(), n_sensitive)?;
        let mut attacks = Vec::with_capacity(cfg.attackers.len());
        for &attacker in &cfg.attackers {
            let r = match attacker {
                Attacker::Cnn | Attacker::Mlp => {
                    let kind = if attacker == Attacker::Cnn {
                        AdversaryKind::Cnn
                    } else {
                        AdversaryKind::Mlp
                    };
                    let ac = CollateralAttackConfig {
                        adversary: kind,
                        train: cfg.train_config(cfg.recovery_epochs, aseed + 3),
                    };
                    collateral_attack(&ac, &vtr, &vte, &mut |p| {
                        progress(Progress {
                            phase: format!("{} alpha={alpha}", p.phase),
                            ..p
                        })
                    })?
                }
                Attacker::Logistic => {
                    classic_attack(ClassicMethod::Logistic, &cfg.classic, &vtr, &vte)?
                }
                Attacker::Knn => classic_attack(ClassicMethod::Knn, &cfg.classic, &vtr, &vte)?,
            };
            attacks.push(r);
        }
        let attack_seconds = start.elapsed().as_secs_f64();
        let weights = private.export()?;
        if alpha == 0.0 && undefended.is_none() {
            undefended = Some(TrainedSplit {
                private: private.valid(),
                head: head.valid(),
            });
        }
        per_alpha.push(AlphaOutcome {
            alpha,
            main_accuracy,
            attacks,
            defence_seconds,
            recovery_seconds,
            attack_seconds,
            weights,
        });
    }

    let undefended = match undefended {
        Some(u) => u,
        None => {
            // No alpha = 0: the plain-phase model with its head recovered on the same schedule.
            let z_train = plain.private.outputs(&x_train)?;
            let head = fit(
                plain.head.clone(),
                &z_train,
                &tr.labels,
                &cfg.train_config(cfg.recovery_epochs, seed + 3),
                &device,
                "recovery plain",
                progress,
            )?;
            TrainedSplit {
                private: plain.private.valid(),
                head: head.valid(),
            }
        }
    };
    let z_test = undefended.private.outputs(&x_test)?;
    let float_test_accuracy = accuracy(&predict(&undefended.head, &z_test, 1024)?, &te.labels);
    Ok(CollateralOutcome {
        config: cfg.clone(),
        network: net,
        train_images: tr.n,
        test_images: te.n,
        chance: majority_rate(&s_test),
        float_test_accuracy,
        plain_seconds,
        seconds_per_plain_epoch: plain_seconds / cfg.plain_epochs as f64,
        per_alpha,
        undefended_weights: undefended.private.export()?,
        undefended: Some(undefended),
    })
}

/// Main-task training of the split network alone (no sensitive attribute needed): the figure to compare with
/// the authors' 97.54 % MNIST accuracy of the quadratic network (Ryffel et al. 2019, §4), here on any
/// labelled image set (Fashion-MNIST, font characters).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MainTaskOutcome {
    /// Sizes of the networks.
    pub network: QuadraticConfig,
    /// Training images.
    pub train_images: usize,
    /// Test images.
    pub test_images: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Float test accuracy, in `[0, 1]`.
    pub test_accuracy: f32,
    /// Wall time of training (s).
    pub seconds: f64,
    /// The private part in functional-encryption form.
    pub weights: QuadraticWeights,
    /// The trained network (inference device, eval mode); not serialised.
    #[serde(skip)]
    pub trained: Option<TrainedSplit>,
}

/// Trains the quadratic private part and the public head on `data`'s main task for `cfg.plain_epochs` epochs
/// (`cfg`'s network sizes, batch, learning rate and seed) and reports the test accuracy.
///
/// # Errors
/// [`Error::Invalid`] on a bad config or mismatched splits; [`Error::Model`] when training fails.
pub fn run_main_task(
    cfg: &CollateralConfig,
    data: &Split,
    progress: &mut dyn FnMut(Progress),
) -> Result<MainTaskOutcome> {
    let net = check_split(cfg, data, false)?;
    let (tr, te) = (&data.train, &data.test);
    let device = Device::flex().autodiff();
    let start = Instant::now();
    let x_train = Features::from_images(tr)?;
    let x_test = Features::from_images(te)?;
    let model = init_network(&net, &device, cfg.seed)?;
    let train = cfg.train_config(cfg.plain_epochs, cfg.seed + 2);
    let model = fit(
        model,
        &x_train,
        &tr.labels,
        &train,
        &device,
        "main task",
        progress,
    )?;
    let trained = TrainedSplit {
        private: model.private.valid(),
        head: model.head.valid(),
    };
    let z_test = trained.private.outputs(&x_test)?;
    let test_accuracy = accuracy(&predict(&trained.head, &z_test, 1024)?, &te.labels);
    Ok(MainTaskOutcome {
        network: net,
        train_images: tr.n,
        test_images: te.n,
        epochs: cfg.plain_epochs,
        test_accuracy,
        seconds: start.elapsed().as_secs_f64(),
        weights: trained.private.export()?,
        trained: Some(trained),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn config_validation_names_the_bad_setting() {
        assert!(CollateralConfig::default().validate().is_ok());
        assert!(CollateralConfig::ryffel2019().validate().is_ok());
        let msg = |c: CollateralConfig| c.validate().unwrap_err().to_string();
        assert!(msg(CollateralConfig {
            alphas: vec![],
            ..Default::default()
        })
        .contains("alphas"));
        assert!(msg(CollateralConfig {
            alphas: vec![1.0, -0.5],
            ..Default::default()
        })
        .contains("-0.5"));
        assert!(msg(CollateralConfig {
            alphas: vec![f32::INFINITY],
            ..Default::default()
        })
        .contains("alphas"));
        assert!(msg(CollateralConfig {
            k: 0,
            ..Default::default()
        })
        .contains("k"));
        assert!(msg(CollateralConfig {
            batch_size: 0,
            ..Default::default()
        })
        .contains("batch_size"));
        assert!(msg(CollateralConfig {
            plain_epochs: 0,
            ..Default::default()
        })
        .contains("plain_epochs"));
        assert!(msg(CollateralConfig {
            recovery_epochs: 0,
            ..Default::default()
        })
        .contains("recovery_epochs"));
        assert!(msg(CollateralConfig {
            attackers: vec![],
            ..Default::default()
        })
        .contains("attackers"));
        assert!(msg(CollateralConfig {
            lr: 0.0,
            ..Default::default()
        })
        .contains("learning rate"));
        assert!(msg(CollateralConfig {
            momentum: 1.5,
            ..Default::default()
        })
        .contains("momentum"));
        assert!("svm".parse::<Attacker>().is_err());
        let toml_like: CollateralConfig =
            serde_json::from_str(r#"{"alphas":[0.0,2.0],"seed":3}"#).unwrap();
        assert_eq!(toml_like.alphas, vec![0.0, 2.0]);
        assert_eq!(toml_like.k, 4);
        assert!(serde_json::from_str::<CollateralConfig>(r#"{"alpha":[1.0]}"#).is_err());
    }

    #[test]
    fn data_without_sensitive_attribute_is_rejected() {
        let mut data = crate::synthetic::seven_segment_split(20, 10, 1);
        data.test.sensitive = None;
        let err = run_collateral(&CollateralConfig::default(), &data, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("sensitive"), "{err}");
    }
}
