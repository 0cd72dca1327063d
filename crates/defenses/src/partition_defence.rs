//! What the partition-point defences share: the model split at the partition point `k` into the trusted
//! partition `T = [0, k)` (whose feature map `f_k(x)` the untrusted host sees) and the untrusted partition
//! `U = [k, n)` (the rest of the main task), their training data, and the guarded loop they run in.
//!
//! Both defences ([`crate::reconstruction`], [`crate::nopeek`]) implement [`PartitionDefence`] and train in
//! [`train_defence`]: `T` learns a feature map `f_k(x)` that keeps the main task but reveals less of `x`;
//! the model is joined back ([`SplitPair::into_model`]) and saved in the usual weight format, so that
//! `privsplit serve` serves it at the same partition point.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use privsplit_attacks::rmle::InputNorm;
use privsplit_models::stage::{Partition, StagedModel};
use privsplit_models::train::Progress;

use crate::divergence::{guarded_loop, DefenceOutcome, DivergenceConfig};
use crate::schedule::{MainTerm, SemiAdversarialConfig, StepReport};
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
    let (_, m) = MainTerm::measure(logits.detach(), &y);
    Ok((m.main_correct, m.main))
}

/// One training batch of a partition-point defence: pixels `x` `[b, c, h, w]` in `[0, 1]` and labels `y`
/// `[b]` on the autodiff device, the normalisation between pixels and the model input, the weight `alpha`
/// of the defence's term and the learning rate `lr` of every network.
#[derive(Clone, Debug)]
pub struct PairBatch<'a> {
    /// Pixels `[b, c, h, w]` in `[0, 1]` (autodiff device).
    pub x: Tensor<4>,
    /// Main-task labels `[b]`.
    pub y: Tensor<1, Int>,
    /// Normalisation between pixels and the model input.
    pub norm: &'a InputNorm,
    /// Weight of the defence's term, >= 0 (0 = the main task alone).
    pub alpha: f32,
    /// Learning rate of every network's optimiser.
    pub lr: f64,
}

/// A defence of the partition point: the networks it trains around a [`SplitPair`], their optimiser
/// states, and one batch of its training. Implemented by the settings of each defence
/// ([`crate::reconstruction::ReconstructionOptions`], [`crate::nopeek::NoPeekOptions`]); trained by
/// [`train_defence`].
pub trait PartitionDefence {
    /// The networks trained: the split model and any adversary (cloneable: a clone is a snapshot).
    type Networks: Clone;
    /// Their optimiser states (cloneable: a clone is a snapshot).
    type Optimizers: Clone;

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the bad setting.
    fn validate(&self) -> Result<()>;

    /// The divergence check and its response.
    fn divergence(&self) -> &DivergenceConfig;

    /// The split model inside `nets`.
    fn pair(nets: &Self::Networks) -> &SplitPair;

    /// One batch: the networks after the step and what it measured (`sensitive` is the defence's own
    /// measure of what the feature map reveals, see each defence).
    ///
    /// # Errors
    /// Model errors (a shape mismatch).
    fn step(
        &self,
        nets: Self::Networks,
        opt: &mut Self::Optimizers,
        batch: PairBatch<'_>,
    ) -> Result<(Self::Networks, StepReport)>;
}

/// Trains `nets` with `defence` for `cfg.epochs` epochs on `data` (batches of `cfg.batch_size` shuffled from
/// `cfg.seed`, `cfg.optimizer`'s learning rate for every network, weight `cfg.alpha`) in the guarded loop of
/// [`crate::divergence`], after checking the settings and `data` against the model: the outcome says
/// `diverged` when the main task left the band and could not be brought back, and lists every divergence
/// event.
///
/// # Errors
/// [`Error::Invalid`] on a bad config, settings or data (counts, image shape, a label out of range); model
/// errors.
pub fn train_defence<D: PartitionDefence>(
    defence: &D,
    nets: D::Networks,
    opt: &mut D::Optimizers,
    data: &DefenceData<'_>,
    cfg: &SemiAdversarialConfig,
    phase: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<DefenceOutcome<D::Networks>> {
    defence.validate()?;
    {
        let p = D::pair(&nets);
        data.validate(p.trusted.input_shape(), p.trusted.arch().classes)?;
    }
    let lr = cfg.optimizer.lr;
    let mut step = |n: D::Networks,
                    o: &mut D::Optimizers,
                    idx: &[usize],
                    alpha: f32|
     -> Result<(D::Networks, StepReport)> {
        let (x, y) = data.batch(idx);
        let norm = data.norm;
        defence.step(
            n,
            o,
            PairBatch {
                x,
                y,
                norm,
                alpha,
                lr,
            },
        )
    };
    let eval = |n: &D::Networks, idx: &[usize]| main_task(D::pair(n), data, idx);
    guarded_loop(
        nets,
        opt,
        data.labels.len(),
        cfg,
        defence.divergence(),
        &mut step,
        &eval,
        phase,
        progress,
    )
}
