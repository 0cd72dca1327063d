//! The reconstruction defence of the partition point: the trusted partition `T = [0, k)` is trained
//! against a decoder adversary `D` that reconstructs the input from the feature map `f_k(x) = T(x)`, in the
//! three-step per-batch scheme of semi-adversarial training (Ryffel et al., NeurIPS 2019, §5; see
//! [`crate::semi_adversarial`]) with the reconstruction loss in place of the sensitive-attribute loss:
//!
//! 1. train the untrusted partition `U = [k, n)` on `L_main = CE(U(T(x)), y)` with `T` frozen;
//! 2. train `D` on `L_recon = MSE(D(T(x)), x)` with `T` frozen (plus `extra_adversary_steps` more steps on
//!    the same batch: a stronger adversary, as the `n_critic` steps of Arjovsky et al., ICML 2017, Alg. 1);
//! 3. train `T` on `L_main - alpha * L_recon` with `U` and `D` frozen.
//!
//! `D` is the decoder of the sweep's inverse-network and c-GAN attacks ([`privsplit_attacks::decoder`];
//! He, Zhang & Lee, ACSAC 2019, §4.2), so the defence trains against the attack family that measures it.
//! Training a partition against a reconstruction adversary is the "adversarial regularisation" of split
//! learning (e.g. Li et al., "Practical defenses against model inversion attacks for split neural
//! networks", ICLR 2021 workshop; Titcombe et al. 2021); privsplit's version reuses the collateral
//! defence's stabilisation: global gradient-norm clipping of `T`'s step, divergence detection with rollback
//! ([`crate::divergence`]), and a bounded objective. The defence is [`ReconstructionOptions`] as a
//! [`PartitionDefence`], trained by [`crate::partition_defence::train_defence`].
//!
//! **Objectives** ([`ReconObjective`]). Pixels and the decoder's sigmoid output lie in `[0, 1]`, so
//! `-L_recon` is bounded in `[-1, 0]` already; [`ReconObjective::Capped`] uses `-min(L_recon, cap)`, which
//! stops pushing once the adversary's error reaches `cap` (e.g. the error of the class-mean image, a
//! reconstruction that learns nothing beyond the label), so `T` distorts the feature map no further than
//! needed.
//!
//! **What it does not guarantee.** The defence is empirical: a fresh attacker trained after the defence on
//! the defended feature maps (privsplit's defend experiment) is the measure, and a stronger attacker than
//! the ones tried may do better. Frozen networks do not move in a step (tested bit for bit).

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use privsplit_attacks::decoder::{Decoder, DecoderConfig};
use privsplit_models::train::{cross_entropy, OptimizerConfig};
use serde::{Deserialize, Serialize};

use crate::adversarial_objective::clipped_step;
use crate::divergence::DivergenceConfig;
use crate::partition_defence::{PairBatch, PartitionDefence, SplitPair};
use crate::schedule::{MainTerm, StepReport};
use crate::semi_adversarial::adversary_steps;
use crate::{Error, Result};

/// What `T` optimises against the decoder (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReconObjective {
    /// `-L_recon` (in `[-1, 0]` for pixels in `[0, 1]`).
    #[default]
    NegMse,
    /// `-min(L_recon, cap)`: no push beyond the cap.
    Capped,
}

impl ReconObjective {
    /// `"neg-mse"` or `"capped"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::NegMse => "neg-mse",
            Self::Capped => "capped",
        }
    }
}

/// Settings of the reconstruction defence beyond the schedule (serde; every field has a default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconstructionOptions {
    /// `T`'s adversarial term. Default [`ReconObjective::NegMse`].
    pub objective: ReconObjective,
    /// Cap of [`ReconObjective::Capped`], mean squared pixel error in `(0, 1]`. Default 0.05.
    pub mse_cap: f32,
    /// Size of the decoder adversary. Default: the sweep's Fashion-MNIST decoder (24 -> 12 channels).
    pub decoder: DecoderConfig,
    /// Extra updates of `D` per batch after step 2. Default 1.
    pub extra_adversary_steps: usize,
    /// Largest global L2 norm of `T`'s gradient per step; `None` = no clipping. Default `Some(5.0)`.
    pub clip_grad_norm: Option<f32>,
    /// Divergence check and response. Default: halve alpha on divergence, check every 25 batches.
    pub divergence: DivergenceConfig,
}

impl Default for ReconstructionOptions {
    fn default() -> Self {
        Self {
            objective: ReconObjective::NegMse,
            mse_cap: 0.05,
            decoder: DecoderConfig {
                channels: 24,
                min_channels: 12,
            },
            extra_adversary_steps: 1,
            clip_grad_norm: Some(5.0),
            divergence: default_divergence(),
        }
    }
}

/// The divergence check of the partition-point defences: every 25 batches, halve alpha and roll back.
pub(crate) fn default_divergence() -> DivergenceConfig {
    DivergenceConfig {
        check_every: 25,
        action: crate::divergence::DivergenceAction::HalveAlpha,
        ..DivergenceConfig::default()
    }
}

/// Checks a clipping norm: finite and > 0 when set.
pub(crate) fn validate_clip(what: &str, clip: Option<f32>) -> Result<()> {
    match clip {
        Some(c) if !(c.is_finite() && c > 0.0) => Err(Error::Invalid {
            what: format!("{what}: clip_grad_norm"),
            expected: "a finite value > 0".into(),
            got: c.to_string(),
        }),
        _ => Ok(()),
    }
}

impl ReconstructionOptions {
    /// Checks the cap (in `(0, 1]`), the clipping norm and the divergence settings.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        if !(self.mse_cap > 0.0 && self.mse_cap <= 1.0) {
            return Err(Error::Invalid {
                what: "reconstruction defence: mse_cap".into(),
                expected: "a value in (0, 1] (mean squared pixel error)".into(),
                got: self.mse_cap.to_string(),
            });
        }
        validate_clip("reconstruction defence", self.clip_grad_norm)?;
        self.divergence.validate()
    }
}

/// The three networks of the reconstruction defence, on an autodiff device.
#[derive(Clone, Debug)]
pub struct ReconNetworks {
    /// `T` and `U`.
    pub pair: SplitPair,
    /// The decoder adversary `D`: feature map at `k` -> image `[b, c, h, w]` in `[0, 1]`.
    pub decoder: Decoder,
}

impl ReconNetworks {
    /// A fresh decoder adversary for `pair`'s feature map, initialised from `seed`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the decoder cannot map the feature map to the image shape.
    pub fn new(pair: SplitPair, decoder: &DecoderConfig, seed: u64) -> Result<Self> {
        let dev = pair.device.clone();
        dev.seed(seed);
        let decoder = Decoder::new(
            pair.trusted.output_shape(),
            pair.trusted.input_shape(),
            decoder,
            &dev,
        )
        .map_err(|e| Error::Invalid {
            what: "decoder adversary".into(),
            expected: "a decoder from the feature map to the image".into(),
            got: e.to_string(),
        })?;
        Ok(Self { pair, decoder })
    }
}

/// Optimiser states of `T`, `U` and `D` (cloneable: a clone is a snapshot).
#[derive(Clone)]
pub struct ReconOptimizers {
    t: ModuleOptimizer,
    u: ModuleOptimizer,
    d: ModuleOptimizer,
}

impl ReconOptimizers {
    /// Fresh optimisers of `cfg`'s kind for `T`, `U` and `D`.
    pub fn new(cfg: &OptimizerConfig) -> Self {
        Self {
            t: cfg.init(),
            u: cfg.init(),
            d: cfg.init(),
        }
    }
}

/// `L_recon`: mean squared pixel error (one-element tensor).
fn mse(a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
    (a - b).powi_scalar(2).mean()
}

impl PartitionDefence for ReconstructionOptions {
    type Networks = ReconNetworks;
    type Optimizers = ReconOptimizers;

    fn validate(&self) -> Result<()> {
        ReconstructionOptions::validate(self)
    }

    fn divergence(&self) -> &DivergenceConfig {
        &self.divergence
    }

    fn pair(nets: &ReconNetworks) -> &SplitPair {
        &nets.pair
    }

    /// One batch of the reconstruction defence (steps 1-3 of the module docs). The report's `sensitive` is
    /// `L_recon` of step 2 (before `D`'s update), its `q_grad_norm` the norm of `T`'s gradient before
    /// clipping.
    fn step(
        &self,
        nets: ReconNetworks,
        opt: &mut ReconOptimizers,
        b: PairBatch<'_>,
    ) -> Result<(ReconNetworks, StepReport)> {
        let ReconNetworks {
            pair:
                SplitPair {
                    trusted,
                    untrusted,
                    device,
                },
            decoder,
        } = nets;
        let input = b.norm.apply(b.x.clone());
        let fm_frozen = trusted.forward(input.clone())?.detach();

        // (1) U on L_main, T frozen (detached feature map).
        let logits = untrusted.forward(fm_frozen.clone())?.flatten::<2>(1, 3);
        let (loss_u, main) = MainTerm::measure(logits, &b.y);
        let grads = GradientsParams::from_grads(loss_u.backward(), &untrusted);
        let untrusted = opt.u.step(b.lr, untrusted, grads);

        // (2) D on L_recon, T frozen; then the extra adversary steps on the same batch.
        let target = b.x.detach();
        let recon_loss = |d: &Decoder| mse(d.forward(fm_frozen.clone()), target.clone());
        let extra = self.extra_adversary_steps;
        let (decoder, sensitive) = adversary_steps(decoder, &mut opt.d, b.lr, extra, recon_loss);

        // (3) T on L_main - alpha * L_recon (or its capped form), U and D frozen.
        let fm = trusted.forward(input)?;
        let u_frozen = untrusted.clone().no_grad();
        let mut loss_t = cross_entropy(u_frozen.forward(fm.clone())?.flatten::<2>(1, 3), b.y);
        if b.alpha > 0.0 {
            let d_frozen = decoder.clone().no_grad();
            let recon = mse(d_frozen.forward(fm), target);
            let term = match self.objective {
                ReconObjective::NegMse => recon,
                ReconObjective::Capped => recon.clamp_max(self.mse_cap),
            };
            loss_t = loss_t - term.mul_scalar(b.alpha);
        }
        let (trusted, q_grad_norm) =
            clipped_step(trusted, &mut opt.t, b.lr, loss_t, self.clip_grad_norm);
        let nets = ReconNetworks {
            pair: SplitPair {
                trusted,
                untrusted,
                device,
            },
            decoder,
        };
        Ok((nets, main.report(sensitive, q_grad_norm)))
    }
}
