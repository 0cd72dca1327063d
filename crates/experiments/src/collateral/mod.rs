//! The collateral-learning experiment of Ryffel et al. 2019 (§5), end to end: train the quadratic private
//! network and its public head, attack the sensitive attribute from `output(x)`, defend with
//! semi-adversarial training for each alpha, attack again.
//!
//! Schedule (per alpha, all alphas share the same plain phase):
//!
//! 1. **plain** (the authors' "initial phase"): `Q` and `C` on `L_main` for `plain_epochs` (once,
//!    shared); with `initial_adversary` the adversary `F` is trained alongside on the sensitive attribute
//!    (three-step training at alpha = 0, as in the authors' `learn/collateral/train.py`);
//! 2. **defence** ("sabotage"): `defence_epochs` of three-step semi-adversarial training
//!    ([`privsplit_defenses::semi_adversarial::train_guarded`]) with the options of
//!    [`CollateralConfig::defence`] (objective, clipping, divergence band and rollback, optimiser sharing)
//!    and a fresh adversary `F` (or the initial phase's); for alpha = 0 this is plain training of `Q` and
//!    `C` for the same number of epochs (no defence, same budget);
//! 3. **recovery**: `Q` fixed, `C` retrained for `recovery_epochs`, and every attacker trained afresh on
//!    the train split's `output(x)` (optionally only on a distinguisher set of one character,
//!    [`EvaluationConfig`]); the collateral accuracy is their test accuracy on the sensitive attribute.
//!
//! A defence the divergence check flags ([`AlphaOutcome::diverged`]) is reported as DIVERGED: its leak
//! is kept in the outcome for inspection but never shown as a defence result. [`run_collateral_seeds`]
//! repeats the experiment over `seeds` and summarises each alpha as mean ± standard deviation
//! ([`AlphaSummary`]).
//!
//! [`run_main_task`] trains the same network on the main task alone (no sensitive attribute needed).

mod job;
mod learned;
mod main_task;
mod run;
mod summary;
mod table;

pub use job::{main_task_fashion_mnist, run_job, CollateralData};
pub use main_task::{run_main_task, MainTaskOutcome};
pub use run::{run_collateral, run_collateral_seeds, run_collateral_with};
pub use summary::{summarise, AlphaSummary, AttackStat, CollateralRuns, InitialPhaseStat, Stat};
pub use table::outcome_table;

use burn::tensor::Device;
use privsplit_attacks::classic::ClassicConfig;
use privsplit_attacks::collateral::AttackResult;
use privsplit_attacks::AttributeAttacker;
use privsplit_data::Split;
use privsplit_defenses::divergence::DivergenceEvent;
use privsplit_defenses::semi_adversarial::SemiAdversarialOptions;
use privsplit_models::adversary::AdversaryKind;
use privsplit_models::device::DeviceChoice;
use privsplit_models::quadratic::{
    PublicHead, QuadraticConfig, QuadraticPrivate, QuadraticWeights, SplitNetwork,
};
use privsplit_models::tensor::check_image_set;
use privsplit_models::train::{OptimizerConfig, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

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
    pub attackers: Vec<AttributeAttacker>,
    /// Settings of the classic attackers.
    pub classic: ClassicConfig,
    /// Seed of every initialisation and shuffle.
    pub seed: u64,
    /// Seeds to repeat the whole experiment with ([`run_collateral_seeds`]; reported as mean ± std);
    /// empty = `[seed]` only. Default empty.
    pub seeds: Vec<u64>,
    /// privsplit's additions to the defence phase (`[collateral.defence]`): the adversarial objective
    /// (`neg-ce` | `uniform` | `entropy`), gradient-norm clipping of `Q`'s step, the divergence band with
    /// its response (`monitor` | `halve-alpha` | `stop`), and optimiser sharing (`separate` | `shared`,
    /// the authors' single SGD). Default: the authors' step with monitoring only.
    pub defence: SemiAdversarialOptions,
    /// Learning rate of the defence phase; `None` = `lr`. Default `None`.
    pub defence_lr: Option<f64>,
    /// SGD momentum of the defence phase; `None` = `momentum`. Default `None`.
    pub defence_momentum: Option<f64>,
    /// Train the adversary `F` (`defence_adversary`) in the plain phase together with `Q` and `C` and
    /// carry it, with the optimiser state, into the defence (the authors' initial phase). Default false:
    /// `Q` and `C` alone, a fresh `F` per alpha.
    pub initial_adversary: bool,
    /// How the attackers are trained and scored after recovery.
    pub evaluation: EvaluationConfig,
    /// Where every network of the experiment trains (`--device`): `flex` (the CPU, default), `cpu`,
    /// `cuda` or `wgpu` when compiled in.
    pub device: DeviceChoice,
}

/// How the attackers are evaluated (serde; every field has a default).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationConfig {
    /// Train and test every attacker only on the images of this main class (a class name, e.g. `"6"`):
    /// the authors' distinguisher set, where the font must be told apart within one character.
    /// Default `None` (all images).
    pub distinguisher: Option<String>,
    /// Epochs of each neural attacker; `None` = `recovery_epochs`. Default `None`.
    pub attack_epochs: Option<usize>,
    /// A neural attacker's collateral accuracy is the mean test accuracy of its last `average_last`
    /// epochs (the authors: 50 epochs, mean of the last 10); 0 or 1 = the final epoch. Default 0.
    pub average_last: usize,
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
            attackers: AttributeAttacker::all(),
            classic: ClassicConfig::default(),
            seed: 0,
            seeds: Vec::new(),
            defence: SemiAdversarialOptions::default(),
            defence_lr: None,
            defence_momentum: None,
            initial_adversary: false,
            evaluation: EvaluationConfig::default(),
            device: DeviceChoice::Flex,
        }
    }
}

/// Command-line overrides of a [`CollateralConfig`] (the training flags of `privsplit collateral` and
/// `privsplit plan collateral`); each `None` keeps the config's value.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct CollateralOverrides {
    /// Epochs of every phase (plain, defence, recovery) unless set separately.
    #[cfg_attr(feature = "clap", arg(long))]
    pub epochs: Option<usize>,
    /// Epochs of plain training.
    #[cfg_attr(feature = "clap", arg(long))]
    pub plain_epochs: Option<usize>,
    /// Epochs of semi-adversarial training.
    #[cfg_attr(feature = "clap", arg(long))]
    pub defence_epochs: Option<usize>,
    /// Epochs of recovery (head and fresh attackers, private part fixed).
    #[cfg_attr(feature = "clap", arg(long))]
    pub recovery_epochs: Option<usize>,
    /// Attackers of the sensitive attribute, comma-separated.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "cnn,mlp,logistic,knn"
        )
    )]
    pub attackers: Option<Vec<AttributeAttacker>>,
    /// Adversary inside the defence.
    #[cfg_attr(feature = "clap", arg(long, value_enum, default_value = "cnn"))]
    pub defence_adversary: Option<AdversaryKind>,
    /// Images per batch.
    #[cfg_attr(feature = "clap", arg(long = "batch"))]
    pub batch_size: Option<usize>,
    /// Learning rate (SGD with momentum).
    #[cfg_attr(feature = "clap", arg(long))]
    pub lr: Option<f64>,
    /// Where the networks train (`--device`, set by the command line's device flags).
    #[cfg_attr(feature = "clap", arg(skip))]
    pub device: Option<DeviceChoice>,
}

impl CollateralConfig {
    /// This config with the overrides `o` applied (the per-phase epochs over `o.epochs`); checked later by
    /// [`CollateralConfig::validate`].
    pub fn with_overrides(mut self, o: &CollateralOverrides) -> Self {
        let all = o.epochs;
        let pick = |phase: Option<usize>, current: usize| phase.or(all).unwrap_or(current);
        self.plain_epochs = pick(o.plain_epochs, self.plain_epochs);
        self.defence_epochs = pick(o.defence_epochs, self.defence_epochs);
        self.recovery_epochs = pick(o.recovery_epochs, self.recovery_epochs);
        if let Some(a) = &o.attackers {
            self.attackers.clone_from(a);
        }
        self.defence_adversary = o.defence_adversary.unwrap_or(self.defence_adversary);
        self.batch_size = o.batch_size.unwrap_or(self.batch_size);
        self.lr = o.lr.unwrap_or(self.lr);
        self.device = o.device.unwrap_or(self.device);
        self
    }

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
        if self.evaluation.attack_epochs == Some(0) {
            return bad(
                "evaluation.attack_epochs",
                "> 0 (or absent: recovery_epochs)",
                "0".into(),
            );
        }
        if self.evaluation.distinguisher.as_deref() == Some("") {
            return bad(
                "evaluation.distinguisher",
                "a class name such as \"6\" (or absent: all images)",
                "an empty name".into(),
            );
        }
        self.optimizer().validate("collateral config")?;
        self.defence_optimizer()
            .validate("collateral config: defence_lr / defence_momentum")?;
        self.defence.validate()?;
        Ok(())
    }

    /// The seeds the experiment runs with: `seeds`, or `[seed]` when it is empty.
    pub fn run_seeds(&self) -> Vec<u64> {
        if self.seeds.is_empty() {
            vec![self.seed]
        } else {
            self.seeds.clone()
        }
    }

    pub(crate) fn optimizer(&self) -> OptimizerConfig {
        OptimizerConfig::sgd(self.lr, self.momentum)
    }

    /// The defence phase's SGD: `defence_lr` / `defence_momentum`, falling back to `lr` / `momentum`.
    pub(crate) fn defence_optimizer(&self) -> OptimizerConfig {
        OptimizerConfig::sgd(
            self.defence_lr.unwrap_or(self.lr),
            self.defence_momentum.unwrap_or(self.momentum),
        )
    }

    /// Epochs of each neural attacker.
    pub(crate) fn attack_epochs(&self) -> usize {
        self.evaluation
            .attack_epochs
            .unwrap_or(self.recovery_epochs)
    }

    pub(crate) fn train_config(&self, epochs: usize, seed: u64) -> TrainConfig {
        TrainConfig {
            epochs,
            batch_size: self.batch_size,
            optimizer: self.optimizer(),
            seed,
            device: self.device,
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
    /// The seed of this run.
    #[serde(default)]
    pub seed: u64,
    /// The divergence check flagged the defence (main task out of the band at the end, or stopped after a
    /// divergence): the attacks measure a collapsed model, not a defence, and reports say DIVERGED.
    #[serde(default)]
    pub diverged: bool,
    /// `alpha` at the end of the defence (smaller than `alpha` after `halve-alpha` rollbacks).
    #[serde(default)]
    pub final_alpha: f32,
    /// Every divergence the check detected during the defence, in order.
    #[serde(default)]
    pub divergence_events: Vec<DivergenceEvent>,
    /// The private part's weights after this alpha's training, in functional-encryption form.
    pub weights: QuadraticWeights,
}

impl AlphaOutcome {
    /// Collateral accuracy of `attacker`, if it was run.
    pub fn collateral(&self, attacker: AttributeAttacker) -> Option<f32> {
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
    /// With [`CollateralConfig::initial_adversary`]: the test accuracies at the end of the plain phase
    /// (the authors' "initial phase"), the adversary being the one trained alongside `Q` and `C`;
    /// `None` otherwise.
    #[serde(default)]
    pub initial_phase: Option<InitialPhase>,
    /// The undefended model's private weights in functional-encryption form (alpha = 0 when run,
    /// otherwise the model after the plain phase with `C` recovered).
    pub undefended_weights: QuadraticWeights,
    /// The undefended model itself (for encryption and clear-text classification); not serialised.
    #[serde(skip)]
    pub undefended: Option<TrainedSplit>,
}

/// The networks at the end of the plain phase when the adversary `F` trained alongside `Q` and `C`
/// ([`CollateralConfig::initial_adversary`]), scored on the whole test split (every character).
///
/// `adversary_accuracy` is the figure the authors' repository reports per epoch as the collateral
/// task's test accuracy (`collateral.test` in `learn/collateral/test.py`, called by
/// `tutorials/build_resistance.py`); its value after the initial phase (epoch 10) is their undefended
/// leak per output size, e.g. 75.2 % (mean over 7 folds) at k = 4 and 91.8 % at k = 10
/// (`tutorials/results/results_par2.pickle`). It differs from the attackers' collateral accuracy of
/// [`AlphaOutcome`], which comes from fresh attackers after recovery (optionally on one character only,
/// [`EvaluationConfig::distinguisher`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitialPhase {
    /// Main-task test accuracy of `C(Q(x))`, in `[0, 1]`.
    pub main_accuracy: f32,
    /// Sensitive-attribute test accuracy of the jointly trained adversary `F(Q(x))`, in `[0, 1]`.
    pub adversary_accuracy: f32,
    /// Majority rate of the sensitive attribute on the whole test split, in `[0, 1]`.
    pub chance: f32,
}

/// Validates `cfg` and the splits (same image size and classes; with `sensitive`, the same sensitive names)
/// and returns the network sizes for them.
pub(crate) fn check_split(
    cfg: &CollateralConfig,
    data: &Split,
    sensitive: bool,
) -> Result<QuadraticConfig> {
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
pub(crate) fn init_network(
    net: &QuadraticConfig,
    device: &Device,
    seed: u64,
) -> Result<SplitNetwork> {
    Ok(SplitNetwork {
        private: net.init_private(device, seed)?,
        head: net.init_head(device, seed + 1)?,
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
        assert!(msg(CollateralConfig {
            evaluation: EvaluationConfig {
                attack_epochs: Some(0),
                ..EvaluationConfig::default()
            },
            ..Default::default()
        })
        .contains("attack_epochs"));
        assert!(msg(CollateralConfig {
            defence_lr: Some(-1.0),
            ..Default::default()
        })
        .contains("defence_lr"));
        assert!(msg(CollateralConfig {
            defence: SemiAdversarialOptions {
                clip_grad_norm: Some(0.0),
                ..SemiAdversarialOptions::default()
            },
            ..Default::default()
        })
        .contains("clip_grad_norm"));
        assert_eq!(CollateralConfig::default().run_seeds(), vec![0]);
        let seeded = CollateralConfig {
            seeds: vec![4, 5],
            ..Default::default()
        };
        assert_eq!(seeded.run_seeds(), vec![4, 5]);
        let parsed: CollateralConfig = serde_json::from_str(
            r#"{"defence": {"objective": "uniform", "clip_grad_norm": 2.0},
                "evaluation": {"distinguisher": "6", "average_last": 10}}"#,
        )
        .unwrap();
        assert_eq!(
            parsed.defence.objective,
            privsplit_defenses::adversarial_objective::AdversarialObjective::Uniform
        );
        assert_eq!(parsed.evaluation.distinguisher.as_deref(), Some("6"));
        let toml_like: CollateralConfig =
            serde_json::from_str(r#"{"alphas":[0.0,2.0],"seed":3}"#).unwrap();
        assert_eq!(toml_like.alphas, vec![0.0, 2.0]);
        assert_eq!(toml_like.k, 4);
        assert!(serde_json::from_str::<CollateralConfig>(r#"{"alpha":[1.0]}"#).is_err());
    }

    #[test]
    fn data_without_sensitive_attribute_is_rejected() {
        let mut data = privsplit_defenses::synthetic::seven_segment_split(20, 10, 1);
        data.test.sensitive = None;
        let err = run_collateral(&CollateralConfig::default(), &data, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("sensitive"), "{err}");
    }
}
