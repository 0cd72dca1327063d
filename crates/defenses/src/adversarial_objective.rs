//! The adversarial term of the private part's objective in semi-adversarial training, and global
//! gradient-norm clipping of its update.
//!
//! Ryffel et al. (NeurIPS 2019, §5, and `learn/collateral/train.py` of their public repository) train `Q`
//! on `L_main - alpha * CE(F(Q(x)), s)`: the negated cross-entropy of the adversary is **unbounded below**
//! (driving `F`'s probability of the true font to 0 makes it -∞), so a large `alpha` or learning rate
//! lets it dominate the main loss and collapse the main task. The two bounded alternatives push the
//! adversary's prediction towards indifference instead, in the spirit of the "confusion" objectives of
//! domain adaptation (Tzeng et al., ICCV 2015, §3.2: cross-entropy to the uniform distribution) and of
//! maximum-entropy censoring (Edwards & Storkey, ICLR 2016):
//!
//! | objective | term `T` added to `L_main` as `alpha * T` | range |
//! |-----------|--------------------------------------------|-------|
//! | [`AdversarialObjective::NegCe`] | `-CE(p, s)` | `(-∞, 0]` |
//! | [`AdversarialObjective::Uniform`] | `KL(u ‖ p) = -log K - (1/K) Σ_k log p_k` | `[0, ∞)`, 0 iff `p` uniform |
//! | [`AdversarialObjective::Entropy`] | `log K - H(p)`, `H(p) = -Σ_k p_k log p_k` | `[0, log K]` |
//!
//! | [`AdversarialObjective::Mmd`] | `MMD` of the groups' `output(x)` ([`crate::mmd`]; no adversary) | `[0, ∞)`, 0 iff equally distributed |
//!
//! with `p = softmax(F(Q(x)))` over the `K` sensitive classes, averaged over the batch. The bounded terms
//! are minimised (not maximised) by `Q`, so the optimum is reached at a finite point: the adversary
//! cannot tell the fonts apart. The MMD penalty can also be *added* to any of the first three
//! (`SemiAdversarialOptions::mmd_weight`): the adversary's term hides what one network can read, the
//! kernel term the local differences a nearest-neighbour vote or a tree reads.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Int, Tensor};
use privsplit_models::train::{cross_entropy, scalar};
use serde::{Deserialize, Serialize};

/// What `Q` optimises against the adversary (see the module docs for the formulas).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdversarialObjective {
    /// The authors' negated cross-entropy `-CE(p, s)` (unbounded).
    #[default]
    NegCe,
    /// `KL(uniform ‖ p)`: the adversary's prediction pushed to the uniform distribution (bounded below).
    Uniform,
    /// `log K - H(p)`: the adversary's prediction entropy maximised (bounded in `[0, log K]`).
    Entropy,
    /// No adversary term: the kernel two-sample penalty between the sensitive groups' outputs alone
    /// ([`crate::mmd`]; `>= 0`, 0 iff the groups' outputs are equally distributed).
    Mmd,
}

impl AdversarialObjective {
    /// `"neg-ce"`, `"uniform"`, `"entropy"` or `"mmd"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::NegCe => "neg-ce",
            Self::Uniform => "uniform",
            Self::Entropy => "entropy",
            Self::Mmd => "mmd",
        }
    }

    /// Whether the term is computed from the adversary's logits (every objective but [`Self::Mmd`]).
    pub fn uses_adversary(self) -> bool {
        !matches!(self, Self::Mmd)
    }
}

/// The term `T` of the module docs for adversary logits `[batch, K]` and sensitive labels `s` `[batch]`,
/// as a one-element tensor (nats) to be scaled by `alpha` and added to `L_main`. For
/// [`AdversarialObjective::Mmd`], which has no adversary term, 0: its penalty takes `output(x)`, not
/// logits ([`crate::mmd::mmd_term`]).
pub fn adversarial_term(
    objective: AdversarialObjective,
    logits: Tensor<2>,
    s: Tensor<1, Int>,
) -> Tensor<1> {
    let [_, k] = logits.dims();
    let log_k = (k.max(1) as f32).ln();
    match objective {
        AdversarialObjective::NegCe => cross_entropy(logits, s).neg(),
        AdversarialObjective::Uniform => log_softmax(logits, 1)
            .mean_dim(1)
            .mean()
            .neg()
            .sub_scalar(log_k),
        AdversarialObjective::Entropy => {
            let logp = log_softmax(logits.clone(), 1);
            let p = softmax(logits, 1);
            // -H per row = Σ p log p; mean over the batch; + log K.
            (p * logp).sum_dim(1).mean().add_scalar(log_k)
        }
        AdversarialObjective::Mmd => Tensor::<1>::zeros([1], &logits.device()),
    }
}

/// Global L2 norm `sqrt(Σ_params Σ g²)` of the gradients of `module`'s parameters in `grads`.
pub fn global_grad_norm<M: Module>(grads: &GradientsParams, module: &M) -> f32 {
    struct Norm<'a> {
        grads: &'a GradientsParams,
        sum_sq: f64,
    }
    impl ModuleVisitor for Norm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                let sq = scalar(&(g.clone() * g).sum());
                self.sum_sq += f64::from(sq);
            }
        }
    }
    let mut v = Norm { grads, sum_sq: 0.0 };
    module.visit(&mut v);
    v.sum_sq.sqrt() as f32
}

/// Scales every gradient of `module` in `grads` by `max_norm / norm` when their global L2 norm exceeds
/// `max_norm` (Pascanu et al., ICML 2013, §3.2, "clipping by norm"; PyTorch `clip_grad_norm_`).
/// Returns the norm before clipping. A non-finite norm leaves the gradients as they are (the divergence
/// check reports the non-finite loss).
pub fn clip_global_norm<M: Module>(grads: &mut GradientsParams, module: &M, max_norm: f32) -> f32 {
    let norm = global_grad_norm(grads, module);
    if !(norm.is_finite() && norm > max_norm && max_norm > 0.0) {
        return norm;
    }
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f32,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                self.grads.register(param.id, g.mul_scalar(self.factor));
            }
        }
    }
    module.visit(&mut Scale {
        grads,
        factor: max_norm / norm,
    });
    norm
}

/// Clips `grads` of `module` to the global L2 norm `max_norm` when set ([`clip_global_norm`]), and returns the
/// norm before clipping ([`global_grad_norm`]).
pub fn clip_if_set<M: Module>(
    grads: &mut GradientsParams,
    module: &M,
    max_norm: Option<f32>,
) -> f32 {
    match max_norm {
        Some(max) => clip_global_norm(grads, module, max),
        None => global_grad_norm(grads, module),
    }
}

/// One step of `module` with optimiser `opt` at learning rate `lr` on the gradient of `loss` (`[1]`),
/// clipped to the global L2 norm `max_norm` when set ([`clip_if_set`]): the protected network's step
/// (step 3) of semi-adversarial training and of the reconstruction defence. Returns the moved module and
/// the gradient's norm before clipping.
pub(crate) fn clipped_step<M: Module>(
    module: M,
    opt: &mut ModuleOptimizer,
    lr: f64,
    loss: Tensor<1>,
    max_norm: Option<f32>,
) -> (M, f32) {
    let mut grads = GradientsParams::from_grads(loss.backward(), &module);
    let norm = clip_if_set(&mut grads, &module, max_norm);
    (opt.step(lr, module, grads), norm)
}

/// Zero gradients for every trainable parameter of `module` (on the inner, non-autodiff device, where
/// backward puts them): an optimiser step with them moves a parameter by its momentum alone.
pub fn zero_grads<M: Module>(module: &M) -> GradientsParams {
    struct Zeros(GradientsParams);
    impl ModuleVisitor for Zeros {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if param.is_require_grad() {
                self.0.register(param.id, param.val().inner().zeros_like());
            }
        }
    }
    let mut z = Zeros(GradientsParams::new());
    module.visit(&mut z);
    z.0
}

/// A copy of the gradients of `module`'s parameters in `grads` (gradients are immutable tensors: cheap).
pub fn copy_grads<M: Module>(grads: &GradientsParams, module: &M) -> GradientsParams {
    struct Copier<'a>(&'a GradientsParams, GradientsParams);
    impl ModuleVisitor for Copier<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.0.get::<D>(param.id) {
                self.1.register(param.id, g);
            }
        }
    }
    let mut c = Copier(grads, GradientsParams::new());
    module.visit(&mut c);
    c.1
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn value(objective: AdversarialObjective, logits: Vec<f32>, s: Vec<i64>) -> f32 {
        let dev = Device::flex();
        let n = s.len();
        let k = logits.len() / n;
        let l = Tensor::<2>::from_data(TensorData::new(logits, [n, k]), &dev);
        let s = Tensor::<1, Int>::from_data(TensorData::new(s, [n]), &dev);
        scalar(&adversarial_term(objective, l, s))
    }

    #[test]
    fn terms_match_their_formulas() {
        // Uniform prediction: both bounded terms are 0; neg-ce is -log 2.
        for o in [AdversarialObjective::Uniform, AdversarialObjective::Entropy] {
            assert!(value(o, vec![3.0, 3.0, -1.0, -1.0], vec![0, 1]).abs() < 1e-6);
        }
        let ln2 = 2f32.ln();
        assert!((value(AdversarialObjective::NegCe, vec![0.0, 0.0], vec![1]) + ln2).abs() < 1e-6);
        // p = softmax([2, 0]) = [q, 1 - q]: independent formulas.
        let q = 1.0 / (1.0 + (-2f32).exp());
        let kl = -ln2 - 0.5 * (q.ln() + (1.0 - q).ln());
        let ent = ln2 + q * q.ln() + (1.0 - q) * (1.0 - q).ln();
        let got_kl = value(AdversarialObjective::Uniform, vec![2.0, 0.0], vec![0]);
        let got_ent = value(AdversarialObjective::Entropy, vec![2.0, 0.0], vec![0]);
        assert!((got_kl - kl).abs() < 1e-5, "{got_kl} vs {kl}");
        assert!((got_ent - ent).abs() < 1e-5, "{got_ent} vs {ent}");
        // A confident wrong prediction: neg-ce goes far below 0, the bounded ones stay >= 0 and the
        // entropy term <= log K.
        let ce = value(AdversarialObjective::NegCe, vec![40.0, 0.0], vec![1]);
        assert!(ce < -39.0);
        assert!(value(AdversarialObjective::Entropy, vec![40.0, 0.0], vec![1]) <= ln2 + 1e-6);
        assert!(value(AdversarialObjective::Uniform, vec![40.0, 0.0], vec![1]) > 0.0);
        assert_eq!(AdversarialObjective::default().name(), "neg-ce");
        let parsed: AdversarialObjective = serde_json::from_str("\"uniform\"").unwrap();
        assert_eq!(parsed, AdversarialObjective::Uniform);
        let parsed: AdversarialObjective = serde_json::from_str("\"mmd\"").unwrap();
        assert_eq!(parsed, AdversarialObjective::Mmd);
        assert!(!parsed.uses_adversary() && AdversarialObjective::NegCe.uses_adversary());
        assert_eq!(parsed.name(), "mmd");
    }
}
