//! What the partition-point defences share: the model split at the partition point `k` into the trusted
//! partition `T = [0, k)` (whose feature map `f_k(x)` the untrusted host sees) and the untrusted partition
//! `U = [k, n)` (the rest of the main task), their training data, and the guarded loop they run in.
//!
//! Both defences ([`crate::reconstruction`], [`crate::nopeek`]) train `T` so that `f_k(x)` keeps the main
//! task but reveals less of `x`; the model is joined back ([`SplitPair::into_model`]) and saved in the usual
//! weight format, so that `privsplit serve` serves it at the same partition point.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use privsplit_attacks::rmle::InputNorm;
use privsplit_models::stage::{Partition, StagedModel};
use privsplit_models::train::{cross_entropy, scalar, Progress};

use crate::divergence::{guarded_loop, DefenceOutcome, DivergenceConfig};
use crate::semi_adversarial::{correct, SemiAdversarialConfig, StepReport};
use crate::{Error, Result};

/// The images and labels a partition-point defence trains on.
#[derive(Clone, Copy, Debug)]
pub struct DefenceData<'a> {
    /// Training images `[n, channels, height, width]`, pixels in `[0, 1]`, on a plain (non-autodiff) device.
    pub images: &'a Tensor<4>,
    /// Main-task class of each image (`n` of them).
    pub labels: &'a [usize],
    /// Normalisation between pixels and the model input (identity for the Fashion-MNIST CNN).
    pub norm: &'a InputNorm,
}

impl DefenceData<'_> {
    /// Checks the counts and the image shape against the model's input `[c, h, w]`.
    fn validate(&self, input: [usize; 3], classes: usize) -> Result<()> {
        let d = self.images.dims();
        if d[0] == 0 || d[0] != self.labels.len() || d[1..] != input {
            return Err(Error::Invalid {
                what: "defence training set".into(),
                expected: format!(
                    "n >= 1 images [n, {}, {}, {}] and n labels",
                    input[0], input[1], input[2]
                ),
                got: format!("images {d:?}, {} labels", self.labels.len()),
            });
        }
        if let Some(&bad) = self.labels.iter().find(|&&l| l >= classes) {
            return Err(Error::Invalid {
                what: "defence training label".into(),
                expected: format!("< {classes} classes"),
                got: bad.to_string(),
            });
        }
        Ok(())
    }

    /// The batch `idx` on the autodiff device of the images: pixels `[b, c, h, w]` and labels `[b]`.
    pub(crate) fn batch(&self, idx: &[usize]) -> (Tensor<4>, Tensor<1, Int>) {
        let plain = self.images.device();
        let rows: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
        let sel = Tensor::<1, Int>::from_ints(rows.as_slice(), &plain);
        let labels: Vec<i64> = idx.iter().map(|&i| self.labels[i] as i64).collect();
        let y = Tensor::<1, Int>::from_ints(labels.as_slice(), &plain).autodiff();
        (self.images.clone().select(0, sel).autodiff(), y)
    }
}

/// A model split at partition point `k`, both partitions on an autodiff device, for training.
#[derive(Clone, Debug)]
pub struct SplitPair {
    /// The trusted partition `[0, k)`: its output is the exposed feature map.
    pub trusted: Partition,
    /// The untrusted partition `[k, n)`: feature map -> class logits.
    pub untrusted: Partition,
    /// The autodiff device both live on.
    pub device: Device,
}

impl SplitPair {
    /// Splits `model` (plain device) at `k` and moves both partitions to `device`'s autodiff device.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `k` is 0 (nothing to defend: the input itself is exposed) or above the
    /// number of stages `n` (the model's error).
    pub fn new(model: StagedModel, k: usize, device: &Device) -> Result<Self> {
        if k == 0 {
            return Err(Error::Invalid {
                what: "partition point to defend".into(),
                expected: format!(
                    "1..={} (k = 0 exposes the input itself)",
                    model.num_stages()
                ),
                got: "0".into(),
            });
        }
        let ad = device.clone().autodiff();
        // `train()` is burn's transition of an evaluation-mode model to tracked autodiff parameters.
        let (trusted, untrusted) = model.to_device(device).train().split(k)?;
        Ok(Self {
            trusted,
            untrusted,
            device: ad,
        })
    }

    /// The partition point `k`.
    pub fn k(&self) -> usize {
        self.trusted.range().1
    }

    /// Class logits `[b, classes]` of normalised inputs `[b, c, h, w]`, and the feature map at `k`.
    pub(crate) fn forward(&self, x: Tensor<4>) -> Result<(Tensor<4>, Tensor<2>)> {
        let fm = self.trusted.forward(x)?;
        let logits = self.untrusted.forward(fm.clone())?.flatten::<2>(1, 3);
        Ok((fm, logits))
    }

    /// The defended model, joined and in evaluation mode on the plain device (the weight format of
    /// `privsplit_models::weights::save_model`, one file for the model and both partitions).
    ///
    /// # Errors
    /// As `StagedModel::join` (cannot fail for a pair made by [`SplitPair::new`]).
    pub fn into_model(self) -> Result<StagedModel> {
        Ok(StagedModel::join(self.trusted, self.untrusted)?.valid())
    }
}

/// `(correct, mean cross-entropy)` of the main task of `pair` on the batch `idx` (forward passes only).
fn main_task(pair: &SplitPair, data: &DefenceData<'_>, idx: &[usize]) -> Result<(usize, f32)> {
    let (x, y) = data.batch(idx);
    let (_, logits) = pair.forward(data.norm.apply(x))?;
    let logits = logits.detach();
    let n = correct(&logits, &y);
    Ok((n, scalar(&cross_entropy(logits, y))))
}

/// One batch of a partition-point defence: `(networks, optimisers, pixels [b, c, h, w] (autodiff),
/// labels [b], alpha)` -> `(networks, what it measured)`.
pub(crate) type PairStep<'a, S, O> =
    dyn FnMut(S, &mut O, Tensor<4>, Tensor<1, Int>, f32) -> Result<(S, StepReport)> + 'a;

/// Runs a partition-point defence in the guarded loop ([`guarded_loop`]) after checking `data` against the
/// model; `pair` gives the split model inside the state `S`.
#[allow(clippy::too_many_arguments)] // state, optimisers, data, schedule, check, step, accessor, progress
pub(crate) fn run_pair_defence<S: Clone, O: Clone>(
    state: S,
    opt: &mut O,
    data: &DefenceData<'_>,
    cfg: &SemiAdversarialConfig,
    dcfg: &DivergenceConfig,
    step: &mut PairStep<'_, S, O>,
    pair: fn(&S) -> &SplitPair,
    phase: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<DefenceOutcome<S>> {
    {
        let p = pair(&state);
        data.validate(p.trusted.input_shape(), p.trusted.arch().classes)?;
    }
    let mut batch_step = |s: S, o: &mut O, idx: &[usize], alpha: f32| -> Result<(S, StepReport)> {
        let (x, y) = data.batch(idx);
        step(s, o, x, y, alpha)
    };
    let eval = |s: &S, idx: &[usize]| main_task(pair(s), data, idx);
    guarded_loop(
        state,
        opt,
        data.labels.len(),
        cfg,
        dcfg,
        &mut batch_step,
        &eval,
        phase,
        progress,
    )
}
