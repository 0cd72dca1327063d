//! NoPeek (Vepakomma, Singh, Gupta & Raskar, "NoPeek: Information leakage reduction to share activations
//! in distributed deep learning", ICDM Workshops 2020, §III): the whole model is trained on
//!
//! ```text
//! L = L_main(U(T(x)), y) + alpha * dCor(x, T(x))
//! ```
//!
//! where `T = [0, k)` is the trusted partition, `U = [k, n)` the untrusted one and `dCor` the sample
//! distance correlation of the batch's raw inputs and feature maps ([`crate::dcor`]). No adversary is
//! trained: the penalty lowers the statistical dependence of the feature map on the input directly. `U`
//! receives only the main-task gradient; `T` receives both (its step clipped to `clip_grad_norm`). The
//! defence is [`NoPeekOptions`] as a [`PartitionDefence`]: its training runs in
//! [`crate::partition_defence::train_defence`], the guarded loop of [`crate::divergence`] (rollback and
//! halved alpha when the main task leaves the band).
//!
//! What it does not guarantee: a low dCor does not bound what a trained decoder recovers; fresh attackers
//! on the defended feature maps are the measure (privsplit's defend experiment).

use burn::optim::{GradientsParams, ModuleOptimizer};
use privsplit_models::train::{scalar, OptimizerConfig};
use serde::{Deserialize, Serialize};

use crate::adversarial_objective::clip_if_set;
use crate::dcor::distance_correlation;
use crate::divergence::DivergenceConfig;
use crate::partition_defence::{PairBatch, PartitionDefence, SplitPair};
use crate::reconstruction::{default_divergence, validate_clip};
use crate::schedule::{MainTerm, StepReport};
use crate::Result;

/// Settings of NoPeek beyond the schedule (serde; every field has a default).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoPeekOptions {
    /// Largest global L2 norm of `T`'s gradient per step; `None` = no clipping. Default `Some(5.0)`.
    pub clip_grad_norm: Option<f32>,
    /// Divergence check and response. Default: halve alpha on divergence, check every 25 batches.
    pub divergence: DivergenceConfig,
}

impl Default for NoPeekOptions {
    fn default() -> Self {
        Self {
            clip_grad_norm: Some(5.0),
            divergence: default_divergence(),
        }
    }
}

impl NoPeekOptions {
    /// Checks the clipping norm and the divergence settings.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        validate_clip("NoPeek", self.clip_grad_norm)?;
        self.divergence.validate()
    }
}

/// Optimiser states of `T` and `U` (cloneable: a clone is a snapshot).
#[derive(Clone)]
pub struct NoPeekOptimizers {
    t: ModuleOptimizer,
    u: ModuleOptimizer,
}

impl NoPeekOptimizers {
    /// Fresh optimisers of `cfg`'s kind for `T` and `U`.
    pub fn new(cfg: &OptimizerConfig) -> Self {
        Self {
            t: cfg.init(),
            u: cfg.init(),
        }
    }
}

impl PartitionDefence for NoPeekOptions {
    type Networks = SplitPair;
    type Optimizers = NoPeekOptimizers;

    fn validate(&self) -> Result<()> {
        NoPeekOptions::validate(self)
    }

    fn divergence(&self) -> &DivergenceConfig {
        &self.divergence
    }

    fn pair(nets: &SplitPair) -> &SplitPair {
        nets
    }

    /// One NoPeek batch: one backward pass of `L_main + alpha * dCor(x, T(x))`, then a step of `U` and a
    /// (clipped) step of `T`. The report's `main` is `L_main`, its `sensitive` the batch's `dCor` in
    /// `[0, 1]`, both before the step.
    fn step(
        &self,
        pair: SplitPair,
        opt: &mut NoPeekOptimizers,
        b: PairBatch<'_>,
    ) -> Result<(SplitPair, StepReport)> {
        let (fm, logits) = pair.forward(b.norm.apply(b.x.clone()))?;
        let (loss_main, main) = MainTerm::measure(logits, &b.y);
        let dcor = distance_correlation(b.x.detach().flatten::<2>(1, 3), fm.flatten::<2>(1, 3));
        let sensitive = scalar(&dcor.clone().detach());
        let loss = if b.alpha > 0.0 {
            loss_main + dcor.mul_scalar(b.alpha)
        } else {
            loss_main
        };
        let mut grads = loss.backward();
        let SplitPair {
            trusted,
            untrusted,
            device,
        } = pair;
        let mut gt = GradientsParams::from_module(&mut grads, &trusted);
        let gu = GradientsParams::from_module(&mut grads, &untrusted);
        let q_grad_norm = clip_if_set(&mut gt, &trusted, self.clip_grad_norm);
        let untrusted = opt.u.step(b.lr, untrusted, gu);
        let trusted = opt.t.step(b.lr, trusted, gt);
        let pair = SplitPair {
            trusted,
            untrusted,
            device,
        };
        Ok((pair, main.report(sensitive, q_grad_norm)))
    }
}
