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
//! training runs in the guarded loop of [`crate::divergence`] (rollback and halved alpha when the main task
//! leaves the band).
//!
//! What it does not guarantee: a low dCor does not bound what a trained decoder recovers; fresh attackers
//! on the defended feature maps are the measure (privsplit's defend experiment).

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Int, Tensor};
use privsplit_attacks::rmle::InputNorm;
use privsplit_models::train::{cross_entropy, scalar, OptimizerConfig, Progress};
use serde::{Deserialize, Serialize};

use crate::adversarial_objective::clip_if_set;
use crate::dcor::distance_correlation;
use crate::divergence::{DefenceOutcome, DivergenceConfig};
use crate::partition_defence::{run_pair_defence, DefenceData, SplitPair};
use crate::reconstruction::{default_divergence, validate_clip};
use crate::semi_adversarial::{correct, SemiAdversarialConfig, StepReport};
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

/// One NoPeek batch on pixels `x` `[b, c, h, w]` in `[0, 1]` and labels `y` `[b]` (autodiff device): one
/// backward pass of `L_main + alpha * dCor(x, T(x))`, then a step of `U` and a (clipped) step of `T`. The
/// report's `main` is `L_main`, its `sensitive` the batch's `dCor` in `[0, 1]`, both before the step.
///
/// # Errors
/// Model errors (a shape mismatch).
#[allow(clippy::too_many_arguments)] // the batch, the normalisation and the step settings are distinct
pub fn nopeek_step(
    pair: SplitPair,
    opt: &mut NoPeekOptimizers,
    x: Tensor<4>,
    y: Tensor<1, Int>,
    norm: &InputNorm,
    alpha: f32,
    lr: f64,
    options: &NoPeekOptions,
) -> Result<(SplitPair, StepReport)> {
    let batch = y.dims()[0];
    let (fm, logits) = pair.forward(norm.apply(x.clone()))?;
    let main_correct = correct(&logits, &y);
    let loss_main = cross_entropy(logits, y);
    let main = scalar(&loss_main);
    let dcor = distance_correlation(x.detach().flatten::<2>(1, 3), fm.flatten::<2>(1, 3));
    let sensitive = scalar(&dcor.clone().detach());
    let loss = if alpha > 0.0 {
        loss_main + dcor.mul_scalar(alpha)
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
    let q_grad_norm = clip_if_set(&mut gt, &trusted, options.clip_grad_norm);
    let untrusted = opt.u.step(lr, untrusted, gu);
    let trusted = opt.t.step(lr, trusted, gt);
    Ok((
        SplitPair {
            trusted,
            untrusted,
            device,
        },
        StepReport {
            main,
            sensitive,
            main_correct,
            batch,
            q_grad_norm,
        },
    ))
}

/// Trains `pair` with NoPeek for `cfg.epochs` epochs on `data` (weight `cfg.alpha`, `cfg.optimizer` for both
/// partitions) in the guarded loop; the outcome says `diverged` when the main task left the band and could
/// not be brought back.
///
/// # Errors
/// [`crate::Error::Invalid`] on a bad config, options or data; model errors.
pub fn train_nopeek(
    pair: SplitPair,
    opt: &mut NoPeekOptimizers,
    data: &DefenceData<'_>,
    cfg: &SemiAdversarialConfig,
    options: &NoPeekOptions,
    phase: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<DefenceOutcome<SplitPair>> {
    options.validate()?;
    let lr = cfg.optimizer.lr;
    let mut step = |p: SplitPair, o: &mut NoPeekOptimizers, x, y, alpha| {
        nopeek_step(p, o, x, y, data.norm, alpha, lr, options)
    };
    run_pair_defence(
        pair,
        opt,
        data,
        cfg,
        &options.divergence,
        &mut step,
        |p| p,
        phase,
        progress,
    )
}
