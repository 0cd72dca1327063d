//! Semi-adversarial training (Ryffel et al., "Partially Encrypted Machine Learning using Functional
//! Encryption", NeurIPS 2019, §5).
//!
//! Three networks: the private part `Q` (encrypted at inference), the public head `C` (main task) and an
//! adversary `F` (sensitive attribute from `output(x)`). Each batch takes three steps:
//!
//! 1. train `C` on `L_main(C(Q(x)), y)` with `Q` frozen;
//! 2. train `F` on `L_sensitive(F(Q(x)), s)` with `Q` frozen;
//! 3. train `Q` on `L_main - alpha * L_sensitive` with `C` and `F` frozen,
//!
//! where both losses are cross-entropies. alpha = 0 is "no defence".
//!
//! [`step_with`] and [`train_guarded`] take [`SemiAdversarialOptions`], privsplit's additions (all off by
//! default, which is exactly the authors' step): a bounded adversarial term instead of `-L_sensitive`
//! ([`crate::adversarial_objective`]), global gradient-norm clipping of `Q`'s step, the divergence check
//! with rollback ([`crate::divergence`]), and the authors' single shared SGD ([`OptimizerSharing::Shared`]).
//!
//! **Freezing.** Steps 1-2 feed `C` and `F` a *detached* `output(x)`, so no gradient reaches `Q`; step 3
//! runs `C` and `F` through copies with `no_grad()` parameters, and every step updates only the module
//! it trains (its own optimiser, gradients extracted for that module only). The tests check that the
//! frozen networks' parameters are bit-for-bit unchanged by a step.

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use privsplit_models::adversary::Adversary;
use privsplit_models::quadratic::{PublicHead, QuadraticPrivate};
use privsplit_models::tensor::{labels_batch, Features};
use privsplit_models::train::{cross_entropy, scalar, OptimizerConfig, Progress};
use serde::{Deserialize, Serialize};

use crate::adversarial_objective::{
    adversarial_term, clipped_step, copy_grads, zero_grads, AdversarialObjective,
};
pub use crate::divergence::DefenceOutcome;
use crate::divergence::{guarded_loop, DivergenceConfig};
use crate::mmd::mmd_term;
pub use crate::schedule::{LrSchedule, MainTerm, SemiAdversarialConfig, StepReport};
use crate::{Error, Result};
use burn::tensor::{Int, Tensor};

/// The three networks of semi-adversarial training, on the training (autodiff) device.
#[derive(Debug, Clone)]
pub struct Trio {
    /// The private part `Q`.
    pub private: QuadraticPrivate,
    /// The public head `C`.
    pub head: PublicHead,
    /// The adversary `F`.
    pub adversary: Adversary,
}

/// The optimiser states of the three networks, kept across epochs (cloneable: a clone is a snapshot).
#[derive(Clone)]
pub struct TrioOptimizers {
    q: ModuleOptimizer,
    c: ModuleOptimizer,
    f: ModuleOptimizer,
}

impl TrioOptimizers {
    /// Fresh optimisers of `cfg`'s kind for `Q`, `C` and `F`.
    pub fn new(cfg: &OptimizerConfig) -> Self {
        Self {
            q: cfg.init(),
            c: cfg.init(),
            f: cfg.init(),
        }
    }
}

/// How the three networks share their optimiser.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerSharing {
    /// One optimiser state per network; each step moves only the network it trains.
    #[default]
    Separate,
    /// The authors' single SGD over all networks (`learn/collateral/train.py`, PyTorch 1.x semantics):
    /// every `optimizer.step()` moves every network, the frozen ones by their momentum alone (their
    /// gradients were zeroed); step 2 has no `zero_grad()`, so it re-applies `C`'s step-1 gradient; and
    /// `Q(x)` is recomputed after each move of `Q`. Three momentum updates per network per batch.
    Shared,
}

/// privsplit's additions to the authors' three-step training (serde; every field has a default, and the
/// defaults reproduce the plain three-step training of [`step_with`] / [`train_guarded`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SemiAdversarialOptions {
    /// `Q`'s adversarial term. Default [`AdversarialObjective::NegCe`] (the authors').
    pub objective: AdversarialObjective,
    /// Largest global L2 norm of `Q`'s gradient per step (clipped by norm above it); `None` = no clipping.
    /// Default `None`.
    pub clip_grad_norm: Option<f32>,
    /// Divergence check and response. Default: monitor only.
    pub divergence: DivergenceConfig,
    /// Separate optimisers or the authors' shared SGD. Default [`OptimizerSharing::Separate`].
    pub optimizer_sharing: OptimizerSharing,
    /// Extra updates of the adversary `F` per batch after step 2, on the same batch (`F` alone moves, with
    /// its own optimiser state): a stronger adversary for `Q` to hide from, as the `n_critic` steps of
    /// adversarial training (Arjovsky et al., ICML 2017, Algorithm 1). Default 0 (the authors' one step).
    pub extra_adversary_steps: usize,
    /// Weight `beta` of the kernel two-sample penalty ([`crate::mmd::mmd_term`]) added to `Q`'s term:
    /// `T = T_objective + beta * MMD` (with objective `mmd`, `T = MMD` and `beta` is ignored). Default 0.
    pub mmd_weight: f32,
    /// Learning rate over the defence phase: constant, or cosine-annealed from the configured rate to 0
    /// over the phase's steps (Loshchilov & Hutter, ICLR 2017, eq. 5 without restarts), so that `Q` ends at
    /// a settled point of the game instead of a snapshot of the chase. Default constant. (privsplit's
    /// collateral run trains its undefended reference, alpha = 0, at the constant rate whatever this says,
    /// so the annealing cannot weaken the model the main-task cost is measured against.)
    pub lr_schedule: LrSchedule,
}

impl SemiAdversarialOptions {
    /// Checks the clipping norm (finite, > 0) and the divergence settings.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        if !(self.mmd_weight.is_finite() && self.mmd_weight >= 0.0) {
            return Err(Error::Invalid {
                what: "semi-adversarial training: mmd_weight".into(),
                expected: "a finite value >= 0".into(),
                got: self.mmd_weight.to_string(),
            });
        }
        if let Some(c) = self.clip_grad_norm {
            if !(c.is_finite() && c > 0.0) {
                return Err(Error::Invalid {
                    what: "semi-adversarial training: clip_grad_norm".into(),
                    expected: "a finite value > 0".into(),
                    got: c.to_string(),
                });
            }
        }
        self.divergence.validate()
    }
}

/// `1 + extra` steps of an adversary `module` on `loss(&module)` (a scalar loss `[1]`, nats or MSE) with its
/// optimiser `opt` at learning rate `lr`, all on the same batch; returns the trained adversary and the first
/// step's loss (before any update). Step 2 of semi-adversarial training and the decoder step of the
/// reconstruction defence ([`crate::reconstruction`]) both use it.
pub(crate) fn adversary_steps<M: Module>(
    mut module: M,
    opt: &mut ModuleOptimizer,
    lr: f64,
    extra: usize,
    loss: impl Fn(&M) -> burn::tensor::Tensor<1>,
) -> (M, f32) {
    let mut first = f32::NAN;
    for i in 0..=extra {
        let l = loss(&module);
        if i == 0 {
            first = scalar(&l);
        }
        let grads = GradientsParams::from_grads(l.backward(), &module);
        module = opt.step(lr, module, grads);
    }
    (module, first)
}

/// One batch of semi-adversarial training: steps 1-3 of the module docs, on images `x` `[batch, inputs]`
/// with main labels `y` and sensitive labels `s` (tensors on `device`, an autodiff device), with separate
/// optimisers; `Q`'s objective is `L_main + alpha * T` ([`adversarial_term`]), its gradient clipped to
/// `options.clip_grad_norm`, and the optimiser sharing is that of `options`. The default options are the
/// authors' step (Ryffel et al. 2019, §5).
#[allow(clippy::too_many_arguments)] // the batch (3 tensors) and the step settings are distinct
pub fn step_with(
    trio: Trio,
    opt: &mut TrioOptimizers,
    x: burn::tensor::Tensor<2>,
    y: burn::tensor::Tensor<1, burn::tensor::Int>,
    s: burn::tensor::Tensor<1, burn::tensor::Int>,
    alpha: f32,
    lr: f64,
    options: &SemiAdversarialOptions,
) -> (Trio, StepReport) {
    let Trio {
        mut private,
        head,
        mut adversary,
    } = trio;
    let shared = options.optimizer_sharing == OptimizerSharing::Shared;
    let z_frozen = private.forward(x.clone()).detach();

    // (1) C on L_main, Q frozen (detached input).
    let (loss_c, main) = MainTerm::measure(head.forward(z_frozen.clone()), &y);
    let grads_c = GradientsParams::from_grads(loss_c.backward(), &head);
    let stale_c = shared.then(|| copy_grads(&grads_c, &head));
    let mut head = opt.c.step(lr, head, grads_c);
    if shared {
        let zq = zero_grads(&private);
        private = opt.q.step(lr, private, zq);
        let zf = zero_grads(&adversary);
        adversary = opt.f.step(lr, adversary, zf);
    }

    // (2) F on L_sensitive, Q frozen.
    let z_frozen = if shared {
        private.forward(x.clone()).detach()
    } else {
        z_frozen
    };
    let sensitive_loss = |f: &Adversary| cross_entropy(f.forward(z_frozen.clone()), s.clone());
    let extra = options.extra_adversary_steps;
    let (adversary, sensitive) = adversary_steps(adversary, &mut opt.f, lr, extra, sensitive_loss);
    if let Some(stale) = stale_c {
        head = opt.c.step(lr, head, stale);
        let zq = zero_grads(&private);
        private = opt.q.step(lr, private, zq);
    }

    // (3) Q on L_main + alpha * T, C and F frozen.
    let z = private.forward(x);
    let c_frozen = head.clone().no_grad();
    let mut loss_q = cross_entropy(c_frozen.forward(z.clone()), y);
    if alpha > 0.0 {
        loss_q = loss_q + q_term(options, &adversary, z, s).mul_scalar(alpha);
    }
    let (private, q_grad_norm) =
        clipped_step(private, &mut opt.q, lr, loss_q, options.clip_grad_norm);
    let (head, adversary) = if shared {
        let (zc, zf) = (zero_grads(&head), zero_grads(&adversary));
        (opt.c.step(lr, head, zc), opt.f.step(lr, adversary, zf))
    } else {
        (head, adversary)
    };

    let trio = Trio {
        private,
        head,
        adversary,
    };
    (trio, main.report(sensitive, q_grad_norm))
}

/// `Q`'s term `T` (before `alpha`) on outputs `z` `[batch, k]` with sensitive labels `s` `[batch]`: the
/// objective's term against the frozen adversary ([`adversarial_term`]) plus `mmd_weight` times the
/// kernel two-sample penalty ([`mmd_term`]); for [`AdversarialObjective::Mmd`], the penalty alone.
fn q_term(
    options: &SemiAdversarialOptions,
    adversary: &Adversary,
    z: Tensor<2>,
    s: Tensor<1, Int>,
) -> Tensor<1> {
    if !options.objective.uses_adversary() {
        return mmd_term(z, s);
    }
    let f_frozen = adversary.clone().no_grad();
    let term = adversarial_term(options.objective, f_frozen.forward(z.clone()), s.clone());
    if options.mmd_weight > 0.0 {
        term + mmd_term(z, s).mul_scalar(options.mmd_weight)
    } else {
        term
    }
}

/// Runs `cfg.epochs` epochs of semi-adversarial training on `x` `[n, inputs]` (images in `[0, 1]`), main
/// labels `y` `[n]` and sensitive labels `s` `[n]`, on `device` (autodiff), with the objective, clipping,
/// optimiser sharing and divergence check of `options` (the default options are the authors' training,
/// monitored only; [`DefenceOutcome::finite`] turns a non-finite loss into an error). `phase` names the
/// progress reports; their `loss` is the mean `L_main` of the epoch so far. The main task is measured
/// before the defence ([`crate::divergence::Band`]), then every `options.divergence.check_every`
/// batches; a good window becomes the checkpoint (networks and optimiser states), a window outside the
/// band (see [`crate::divergence`]) is recorded and answered by `options.divergence.action`. A non-finite
/// loss ends the window at once. Never returns a collapsed state without `diverged = true`, nor the
/// untouched pre-defence state after a divergence (every window rolled back) without it.
///
/// # Errors
/// [`Error::Invalid`] on a bad config or mismatched inputs; [`Error::Model`] when batching fails.
#[allow(clippy::too_many_arguments)] // the three inputs and the settings are distinct
pub fn train_guarded(
    trio: Trio,
    opt: &mut TrioOptimizers,
    x: &Features,
    y: &[u8],
    s: &[u8],
    cfg: &SemiAdversarialConfig,
    options: &SemiAdversarialOptions,
    device: &Device,
    phase: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<DefenceOutcome<Trio>> {
    cfg.validate()?;
    options.validate()?;
    if x.rows == 0 || x.rows != y.len() || x.rows != s.len() {
        return Err(Error::Invalid {
            what: "semi-adversarial training set".into(),
            expected: "as many main and sensitive labels as images, at least one".into(),
            got: format!(
                "{} images, {} labels, {} sensitive",
                x.rows,
                y.len(),
                s.len()
            ),
        });
    }
    // The schedule's position: `guarded_loop` calls `step` once per batch and never rewinds (a rollback
    // restores the networks, not the position), so the count of calls is the batch index of the phase.
    let total_steps = cfg.epochs * x.rows.div_ceil(cfg.batch_size);
    let mut steps_done = 0usize;
    let mut step = |t: Trio, o: &mut TrioOptimizers, idx: &[usize], alpha: f32| -> Result<_> {
        let lr = options
            .lr_schedule
            .at(cfg.optimizer.lr, steps_done, total_steps);
        steps_done += 1;
        let xb = x.batch(idx, device)?;
        let yb = labels_batch(y, idx, device)?;
        let sb = labels_batch(s, idx, device)?;
        Ok(step_with(t, o, xb, yb, sb, alpha, lr, options))
    };
    let main_task = |t: &Trio, idx: &[usize]| -> Result<(usize, f32)> {
        let xb = x.batch(idx, device)?;
        let yb = labels_batch(y, idx, device)?;
        let (_, m) = MainTerm::measure(t.head.forward(t.private.forward(xb)).detach(), &yb);
        Ok((m.main_correct, m.main))
    };
    guarded_loop(
        trio,
        opt,
        x.rows,
        cfg,
        &options.divergence,
        &mut step,
        &main_task,
        phase,
        progress,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use privsplit_models::adversary::{AdversaryConfig, AdversaryKind};
    use privsplit_models::quadratic::QuadraticConfig;
    use privsplit_models::tensor::labels_batch;
    use privsplit_models::train::parameter_values;

    use crate::adversarial_objective::AdversarialObjective;

    /// A seeded trio (16 inputs, `k` = 3, 3 classes, 2 sensitive groups) on the autodiff flex device and
    /// a batch of 8 images.
    fn small_trio() -> (Device, Trio, Features) {
        let dev = burn::tensor::Device::flex().autodiff();
        let cfg = QuadraticConfig {
            inputs: 16,
            hidden: 5,
            outputs: 3,
            head_hidden: 6,
            classes: 3,
        };
        let trio = Trio {
            private: cfg.init_private(&dev, 1).unwrap(),
            head: cfg.init_head(&dev, 2).unwrap(),
            adversary: AdversaryConfig {
                kind: AdversaryKind::Mlp,
                inputs: 3,
                classes: 2,
            }
            .init(&dev, 3)
            .unwrap(),
        };
        let x = Features::new((0..8 * 16).map(|i| (i % 7) as f32 / 7.0).collect(), 8, 16).unwrap();
        (dev, trio, x)
    }

    #[test]
    fn each_step_moves_only_the_network_it_trains() {
        let (dev, trio, x) = small_trio();
        let idx: Vec<usize> = (0..8).collect();
        let y = [0u8, 1, 2, 0, 1, 2, 0, 1];
        let s = [0u8, 1, 0, 1, 0, 1, 1, 0];
        let (q0, c0, f0) = (
            parameter_values(&trio.private),
            parameter_values(&trio.head),
            parameter_values(&trio.adversary),
        );

        // Steps 1-2 alone (alpha irrelevant) must leave Q untouched: lr 0 for Q is impossible to set
        // separately, so run the full step and check each network against an independent re-run.
        let mut opt = TrioOptimizers::new(&OptimizerConfig::sgd(0.1, 0.0));
        let xb = x.batch(&idx, &dev).unwrap();
        let yb = labels_batch(&y, &idx, &dev).unwrap();
        let sb = labels_batch(&s, &idx, &dev).unwrap();
        let (after, _) = step_with(
            trio.clone(),
            &mut opt,
            xb.clone(),
            yb.clone(),
            sb.clone(),
            2.0,
            0.1,
            &SemiAdversarialOptions::default(),
        );

        // C after the step = C trained alone on the detached outputs of the *initial* Q.
        let z = trio.private.forward(xb.clone()).detach();
        let loss = cross_entropy(trio.head.forward(z.clone()), yb.clone());
        let g = GradientsParams::from_grads(loss.backward(), &trio.head);
        let c_alone = OptimizerConfig::sgd(0.1, 0.0)
            .init()
            .step(0.1, trio.head.clone(), g);
        assert_eq!(parameter_values(&after.head), parameter_values(&c_alone));
        // F likewise.
        let loss = cross_entropy(trio.adversary.forward(z), sb);
        let g = GradientsParams::from_grads(loss.backward(), &trio.adversary);
        let f_alone = OptimizerConfig::sgd(0.1, 0.0)
            .init()
            .step(0.1, trio.adversary.clone(), g);
        assert_eq!(
            parameter_values(&after.adversary),
            parameter_values(&f_alone)
        );
        // All three moved, and the originals (frozen copies were made from clones) did not.
        assert_ne!(parameter_values(&after.private), q0);
        assert_ne!(parameter_values(&after.head), c0);
        assert_ne!(parameter_values(&after.adversary), f0);
        assert_eq!(parameter_values(&trio.private), q0);
        assert_eq!(parameter_values(&trio.head), c0);
        assert_eq!(parameter_values(&trio.adversary), f0);
        // The frozen copies used in step 3 did not become untrainable originals: a second step moves C again.
        let (again, _) = step_with(
            after.clone(),
            &mut opt,
            xb,
            yb,
            labels_batch(&s, &idx, &dev).unwrap(),
            2.0,
            0.1,
            &SemiAdversarialOptions::default(),
        );
        assert_ne!(parameter_values(&again.head), parameter_values(&after.head));
        assert_ne!(
            parameter_values(&again.adversary),
            parameter_values(&after.adversary)
        );
    }

    /// `Q`'s step with the kernel penalty equals an independent step on `L_main + alpha * T` built by hand
    /// from the trained `C` and `F` (steps 1-2 re-run alone), for the penalty alone and added to the
    /// authors' term.
    #[test]
    fn q_step_follows_the_mmd_objective() {
        let (dev, trio, x) = small_trio();
        let idx: Vec<usize> = (0..8).collect();
        let (y, s) = ([0u8, 1, 2, 0, 1, 2, 0, 1], [0u8, 1, 0, 1, 0, 1, 1, 0]);
        let xb = x.batch(&idx, &dev).unwrap();
        let yb = labels_batch(&y, &idx, &dev).unwrap();
        let sb = labels_batch(&s, &idx, &dev).unwrap();
        let sgd = OptimizerConfig::sgd(0.1, 0.0);
        let alpha = 2.0;
        for (objective, mmd_weight) in [
            (AdversarialObjective::Mmd, 0.0),
            (AdversarialObjective::NegCe, 3.0),
        ] {
            let options = SemiAdversarialOptions {
                objective,
                mmd_weight,
                ..SemiAdversarialOptions::default()
            };
            let step = |alpha: f32, options: &SemiAdversarialOptions| -> Trio {
                let mut opt = TrioOptimizers::new(&sgd);
                let batch = (xb.clone(), yb.clone(), sb.clone());
                step_with(
                    trio.clone(),
                    &mut opt,
                    batch.0,
                    batch.1,
                    batch.2,
                    alpha,
                    0.1,
                    options,
                )
                .0
            };
            let after = step(alpha, &options);
            // C and F after steps 1-2, re-run alone on the initial Q's detached outputs.
            let z0 = trio.private.forward(xb.clone()).detach();
            let loss = cross_entropy(trio.head.forward(z0.clone()), yb.clone());
            let g = GradientsParams::from_grads(loss.backward(), &trio.head);
            let c1 = sgd.init().step(0.1, trio.head.clone(), g);
            let loss = cross_entropy(trio.adversary.forward(z0), sb.clone());
            let g = GradientsParams::from_grads(loss.backward(), &trio.adversary);
            let f1 = sgd.init().step(0.1, trio.adversary.clone(), g);
            // Q on L_main + alpha * (T_objective + beta * MMD), by hand.
            let z = trio.private.forward(xb.clone());
            let mut term = mmd_term(z.clone(), sb.clone()).mul_scalar(if mmd_weight > 0.0 {
                mmd_weight
            } else {
                1.0
            });
            if objective.uses_adversary() {
                let adv = cross_entropy(f1.clone().no_grad().forward(z.clone()), sb.clone());
                term = term + adv.neg();
            }
            let loss = cross_entropy(c1.no_grad().forward(z), yb.clone()) + term.mul_scalar(alpha);
            let g = GradientsParams::from_grads(loss.backward(), &trio.private);
            let q1 = sgd.init().step(0.1, trio.private.clone(), g);
            // Equal up to f32 rounding (the sum is formed in another order).
            let (got, want) = (parameter_values(&after.private), parameter_values(&q1));
            let moved: f32 = want
                .iter()
                .zip(parameter_values(&trio.private))
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            let off: f32 = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(
                moved > 1e-3 && off < 1e-6,
                "{objective:?} + {mmd_weight} x MMD: moved {moved}, off by {off}"
            );
            // The penalty moved Q: without it (neg-ce alone, or alpha 0 for `mmd`) Q lands elsewhere.
            let plain = SemiAdversarialOptions {
                objective: AdversarialObjective::NegCe,
                ..SemiAdversarialOptions::default()
            };
            let other = step(
                if objective.uses_adversary() {
                    alpha
                } else {
                    0.0
                },
                &plain,
            );
            assert_ne!(parameter_values(&other.private), parameter_values(&q1));
        }
    }

    #[test]
    fn defence_options_parse_the_penalty_and_the_schedule() {
        let parsed: SemiAdversarialOptions =
            serde_json::from_str(r#"{"lr_schedule": "cosine", "mmd_weight": 3.0}"#).unwrap();
        assert_eq!(parsed.lr_schedule, LrSchedule::Cosine);
        assert_eq!(parsed.mmd_weight, 3.0);
        let bad = SemiAdversarialOptions {
            mmd_weight: -1.0,
            ..SemiAdversarialOptions::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("mmd_weight"));
    }

    #[test]
    fn bad_settings_are_rejected() {
        let ok = SemiAdversarialConfig {
            alpha: 1.0,
            epochs: 1,
            batch_size: 4,
            optimizer: OptimizerConfig::sgd(0.1, 0.9),
            seed: 0,
        };
        assert!(ok.validate().is_ok());
        assert!(SemiAdversarialConfig { alpha: -1.0, ..ok }
            .validate()
            .is_err());
        assert!(SemiAdversarialConfig {
            alpha: f32::NAN,
            ..ok
        }
        .validate()
        .is_err());
        assert!(SemiAdversarialConfig {
            batch_size: 0,
            ..ok
        }
        .validate()
        .is_err());
        assert!(SemiAdversarialConfig {
            optimizer: OptimizerConfig::sgd(-1.0, 0.0),
            ..ok
        }
        .validate()
        .is_err());
    }
}
