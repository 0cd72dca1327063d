//! The schedule every alpha-weighted defence shares (semi-adversarial training, the reconstruction
//! defence, NoPeek): its settings ([`SemiAdversarialConfig`]: alpha, epochs, batch size, optimiser, seed),
//! the learning rate over a phase ([`LrSchedule`]), and what one batch measured ([`StepReport`], its
//! main-task part [`MainTerm`]), read by the divergence check ([`crate::divergence`]).

use burn::tensor::{Int, Tensor};
use privsplit_models::train::{cross_entropy, scalar, OptimizerConfig};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Settings of the defence phase.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SemiAdversarialConfig {
    /// Weight of the sensitive loss subtracted from `Q`'s objective, >= 0 (the paper tries 0 to 3).
    pub alpha: f32,
    /// Epochs of three-step training.
    pub epochs: usize,
    /// Images per batch.
    pub batch_size: usize,
    /// Optimiser of each of `Q`, `C`, `F` (one state each); SGD per the paper (Adam diverged for alpha > 0.5).
    pub optimizer: OptimizerConfig,
    /// Seed of the shuffling.
    pub seed: u64,
}

impl SemiAdversarialConfig {
    /// Checks alpha (finite, >= 0), batch size and optimiser.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(Error::Invalid {
                what: "semi-adversarial training: alpha".into(),
                expected: "a finite value >= 0".into(),
                got: self.alpha.to_string(),
            });
        }
        if self.batch_size == 0 {
            return Err(Error::Invalid {
                what: "semi-adversarial training: batch size".into(),
                expected: "> 0".into(),
                got: "0".into(),
            });
        }
        self.optimizer
            .validate("semi-adversarial training")
            .map_err(Error::from)
    }
}

/// What one batch of a defence step measured (semi-adversarial training's
/// [`crate::semi_adversarial::step_with`], the partition-point defences' steps).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// `L_main` of step 1 (before `C`'s update), nats.
    pub main: f32,
    /// `L_sensitive` of step 2 (before `F`'s update), nats.
    pub sensitive: f32,
    /// Images of the batch whose main class `C(Q(x))` got right in step 1.
    pub main_correct: usize,
    /// Images in the batch.
    pub batch: usize,
    /// Global L2 norm of `Q`'s gradient in step 3 before clipping.
    pub q_grad_norm: f32,
}

/// The main-task part of a defence batch (step 1 of every defence): what [`StepReport`] keeps of
/// `L_main` before the step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MainTerm {
    /// `L_main`, nats.
    pub main: f32,
    /// Images of the batch whose main class the logits got right.
    pub main_correct: usize,
    /// Images in the batch.
    pub batch: usize,
}

impl MainTerm {
    /// `L_main = CE(logits, y)` (mean cross-entropy, nats) of `logits` `[batch, classes]` against the
    /// labels `y` `[batch]`: the loss tensor to train on (`[1]`) and its measurement.
    pub fn measure(logits: Tensor<2>, y: &Tensor<1, Int>) -> (Tensor<1>, Self) {
        let batch = y.dims()[0];
        let main_correct = correct(&logits, y);
        let loss = cross_entropy(logits, y.clone());
        let main = scalar(&loss);
        let term = Self {
            main,
            main_correct,
            batch,
        };
        (loss, term)
    }

    /// The batch's report: this main term, `L_sensitive` of the adversary's step (nats, or the defence's
    /// own measure of leakage) and the protected network's gradient norm before clipping.
    pub fn report(self, sensitive: f32, q_grad_norm: f32) -> StepReport {
        StepReport {
            main: self.main,
            sensitive,
            main_correct: self.main_correct,
            batch: self.batch,
            q_grad_norm,
        }
    }
}

/// Rows of `logits` `[batch, classes]` whose argmax equals `y` `[batch]`.
fn correct(logits: &Tensor<2>, y: &Tensor<1, Int>) -> usize {
    let pred = logits.clone().detach().argmax(1).flatten::<1>(0, 1);
    let eq = pred.equal(y.clone()).int().sum();
    eq.to_data().iter::<i64>().next().unwrap_or(0).max(0) as usize
}

/// The learning rate over a training phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LrSchedule {
    /// The configured rate throughout.
    #[default]
    Constant,
    /// `lr_t = lr * (1 + cos(pi * t / T)) / 2` for step `t` of `T`.
    Cosine,
}

impl LrSchedule {
    /// The rate at step `t` (0-based) of `total` for base rate `lr`.
    pub fn at(self, lr: f64, t: usize, total: usize) -> f64 {
        match self {
            Self::Constant => lr,
            Self::Cosine => {
                let f = (t as f64 / total.max(1) as f64).min(1.0);
                lr * 0.5 * (1.0 + (std::f64::consts::PI * f).cos())
            }
        }
    }
}

#[cfg(test)]
mod lr_tests {
    use super::LrSchedule;

    #[test]
    fn cosine_schedule_runs_from_the_rate_to_zero() {
        let c = LrSchedule::Cosine;
        assert_eq!(c.at(0.01, 0, 100), 0.01);
        assert!((c.at(0.01, 50, 100) - 0.005).abs() < 1e-12);
        assert!((c.at(0.01, 25, 100) - 0.01 * (2.0 + 2f64.sqrt()) / 4.0).abs() < 1e-12);
        assert!(c.at(0.01, 100, 100).abs() < 1e-12 && c.at(0.01, 500, 100).abs() < 1e-12);
        assert_eq!(LrSchedule::Constant.at(0.01, 99, 100), 0.01);
    }
}
