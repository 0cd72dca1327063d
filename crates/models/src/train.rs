//! A small shared training toolkit: optimisers, seeded initialisation and shuffling, batch iteration,
//! evaluation in eval mode, progress reporting.
//!
//! Everything random takes a seed: [`seeded_init`] replaces burn's (global, thread-shared) initialiser
//! by a Kaiming-uniform draw from a seeded ChaCha generator, and [`epoch_batches`] shuffles from
//! `(seed, epoch)`. Same seed, same numbers, whatever other threads do.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::device::DeviceChoice;
use crate::tensor::{labels_batch, Features};
use crate::{Error, Result};

/// The random generator behind every seeded step: ChaCha8 from `rand_chacha`, whose output for a seed is
/// fixed by the crate (unlike `StdRng`, which rand may change between versions), so a seeded run reproduces.
pub type SeedRng = rand_chacha::ChaCha8Rng;

/// Which gradient-descent rule to use.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Stochastic gradient descent with (PyTorch-style, undampened) momentum.
    Sgd {
        /// Momentum factor in `[0, 1)`; 0 disables momentum.
        momentum: f64,
    },
    /// Adam (Kingma & Ba 2015) with its default betas (0.9, 0.999).
    Adam,
}

/// An optimiser and its learning rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    /// The update rule.
    pub kind: OptimizerKind,
    /// Learning rate (step size), > 0.
    pub lr: f64,
}

impl OptimizerConfig {
    /// SGD with momentum, the optimiser of Ryffel et al. 2019 (§5: Adam diverged for alpha > 0.5).
    pub fn sgd(lr: f64, momentum: f64) -> Self {
        Self {
            kind: OptimizerKind::Sgd { momentum },
            lr,
        }
    }

    /// Adam with learning rate `lr`.
    pub fn adam(lr: f64) -> Self {
        Self {
            kind: OptimizerKind::Adam,
            lr,
        }
    }

    /// Checks `lr > 0` (finite) and `momentum` in `[0, 1)`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `what`.
    pub fn validate(&self, what: &str) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::Invalid {
                what: format!("{what}: learning rate"),
                expected: "a finite value > 0".into(),
                got: self.lr.to_string(),
            });
        }
        if let OptimizerKind::Sgd { momentum } = self.kind {
            if !(0.0..1.0).contains(&momentum) {
                return Err(Error::Invalid {
                    what: format!("{what}: momentum"),
                    expected: "a value in [0, 1)".into(),
                    got: momentum.to_string(),
                });
            }
        }
        Ok(())
    }

    /// A fresh optimiser (no state) of this kind.
    pub fn init(&self) -> ModuleOptimizer {
        match self.kind {
            OptimizerKind::Sgd { momentum } if momentum > 0.0 => SgdConfig::new()
                .with_momentum(Some(MomentumConfig {
                    momentum,
                    dampening: 0.0,
                    nesterov: false,
                }))
                .init(),
            OptimizerKind::Sgd { .. } => SgdConfig::new().init(),
            OptimizerKind::Adam => AdamConfig::new().init(),
        }
    }
}

/// A training schedule for one network.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per gradient step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Optimiser and learning rate.
    pub optimizer: OptimizerConfig,
    /// Seed of the shuffling (and of the initialisation where the caller initialises with it).
    pub seed: u64,
    /// Where the network trains (`--device`; default `flex`, the CPU).
    #[serde(default)]
    pub device: DeviceChoice,
}

impl TrainConfig {
    /// Checks `batch_size > 0` and the optimiser.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `what`.
    pub fn validate(&self, what: &str) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::Invalid {
                what: format!("{what}: batch size"),
                expected: "> 0".into(),
                got: "0".into(),
            });
        }
        self.optimizer.validate(what)
    }
}

/// A progress report, sent after every gradient step and at the end of each epoch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Progress {
    /// What is being trained (e.g. `"plain"`, `"defence alpha=1.5"`, `"attack cnn"`).
    pub phase: String,
    /// Current epoch, from 1.
    pub epoch: usize,
    /// Epochs in this phase.
    pub epochs: usize,
    /// Steps done in this epoch.
    pub step: usize,
    /// Steps per epoch.
    pub steps: usize,
    /// Mean training loss over the steps done in this epoch (cross-entropy, nats).
    pub loss: f32,
}

/// A network that maps a feature table `[batch, features]` to class logits `[batch, classes]`.
pub trait Classifier: Module {
    /// Class logits `[batch, classes]` of `x` `[batch, features]`.
    fn logits(&self, x: Tensor<2>) -> Tensor<2>;
}

/// Shuffled batches of `0..n` for `epoch`, from `seed`: a permutation cut into chunks of `batch_size`.
pub fn epoch_batches(n: usize, batch_size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = SeedRng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    idx.shuffle(&mut rng);
    idx.chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

/// Cross-entropy of `logits` `[batch, classes]` against `labels` `[batch]` (mean over the batch, nats).
pub fn cross_entropy(
    logits: Tensor<2>,
    labels: burn::tensor::Tensor<1, burn::tensor::Int>,
) -> Tensor<1> {
    let device = logits.device();
    CrossEntropyLossConfig::new()
        .init(&device)
        .forward(logits, labels)
}

/// A per-epoch hook of [`fit`]: `(epoch from 1, the model as it stands)`; an error stops training.
pub type EpochHook<'a, M> = dyn FnMut(usize, &M) -> Result<()> + 'a;

/// Trains `model` on `(x, y)` with cross-entropy, shuffling each epoch from `cfg.seed` (one optimiser
/// state for the whole run).
///
/// `model` must live on an autodiff device (e.g. `Device::flex().autodiff()`); `x` rows are images or
/// features, `y` the class of each row. `progress` receives a [`Progress`] after every step; `on_epoch`,
/// when given, is called as `on_epoch(epoch, &model)` (epoch from 1) after every epoch with the model as
/// it stands: the hook for per-epoch evaluation, e.g. the mean test accuracy of the last epochs (Ryffel et
/// al.'s evaluation, public repository `learn/collateral`).
///
/// # Errors
/// [`Error::Invalid`] when `x.rows != y.len()`, the set is empty, or `cfg` is invalid;
/// [`Error::Diverged`] when a loss is not finite; any error `on_epoch` returns, which stops training.
#[allow(clippy::too_many_arguments)] // the model, the set (2), the schedule, the device and three hooks
pub fn fit<M: Classifier>(
    mut model: M,
    x: &Features,
    y: &[u8],
    cfg: &TrainConfig,
    device: &Device,
    phase: &str,
    progress: &mut dyn FnMut(Progress),
    mut on_epoch: Option<&mut EpochHook<'_, M>>,
) -> Result<M> {
    cfg.validate(phase)?;
    check_xy(x, y, phase)?;
    let mut optim = cfg.optimizer.init();
    for epoch in 0..cfg.epochs {
        let batches = epoch_batches(x.rows, cfg.batch_size, cfg.seed, epoch);
        let steps = batches.len();
        let mut loss_sum = 0.0f32;
        for (step, idx) in batches.iter().enumerate() {
            let xb = x.batch(idx, device)?;
            let yb = labels_batch(y, idx, device)?;
            let loss = cross_entropy(model.logits(xb), yb);
            let l = scalar(&loss);
            if !l.is_finite() {
                return Err(Error::Diverged {
                    phase: phase.to_string(),
                    epoch: epoch + 1,
                    loss: l,
                });
            }
            loss_sum += l;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(cfg.optimizer.lr, model, grads);
            progress(Progress {
                phase: phase.to_string(),
                epoch: epoch + 1,
                epochs: cfg.epochs,
                step: step + 1,
                steps,
                loss: loss_sum / (step + 1) as f32,
            });
        }
        if let Some(hook) = on_epoch.as_mut() {
            hook(epoch + 1, &model)?;
        }
    }
    Ok(model)
}

/// The value of a one-element tensor (e.g. a loss), as `f32`; NaN when it cannot be read.
pub fn scalar(t: &Tensor<1>) -> f32 {
    t.to_data().iter::<f32>().next().unwrap_or(f32::NAN)
}

/// Predicted class (argmax of the logits) of every row of `x`, in eval mode (`model.valid()`, no autodiff),
/// `batch_size` rows at a time.
///
/// # Errors
/// [`Error::Invalid`] when `x` is empty or `batch_size == 0`.
pub fn predict<M: Classifier>(model: &M, x: &Features, batch_size: usize) -> Result<Vec<usize>> {
    let logits = eval_rows(model, x, batch_size, |m, t| m.logits(t))?;
    let classes = logits.cols;
    Ok((0..logits.rows)
        .map(|r| {
            let row = logits.row(r);
            let mut best = 0;
            for c in 1..classes {
                if row[c] > row[best] {
                    best = c;
                }
            }
            best
        })
        .collect())
}

/// Applies `f` (in eval mode, on the model's device) to `x` in chunks of `batch_size` rows and collects the
/// `[rows, out]` results into one table.
///
/// # Errors
/// [`Error::Invalid`] when `x` is empty or `batch_size == 0`.
pub fn eval_rows<M: Module>(
    model: &M,
    x: &Features,
    batch_size: usize,
    f: impl Fn(&M, Tensor<2>) -> Tensor<2>,
) -> Result<Features> {
    if x.rows == 0 || batch_size == 0 {
        return Err(Error::Invalid {
            what: "evaluation input".into(),
            expected: "at least one row and batch size > 0".into(),
            got: format!("{} rows, batch size {batch_size}", x.rows),
        });
    }
    let m = model.valid();
    // The model's own device (where it was trained or loaded), `flex` for a model without parameters.
    let device = m.devices().into_iter().next().unwrap_or_else(Device::flex);
    let mut data = Vec::new();
    let mut cols = 0;
    let mut start = 0;
    while start < x.rows {
        let end = (start + batch_size).min(x.rows);
        let t = Tensor::from_data(
            TensorData::new(
                x.data[start * x.cols..end * x.cols].to_vec(),
                [end - start, x.cols],
            ),
            &device,
        );
        let out = f(&m, t);
        cols = out.dims()[1];
        let v = out
            .into_data()
            .try_into_vec_as::<f32>()
            .map_err(|e| Error::Invalid {
                what: "network output".into(),
                expected: "f32 values".into(),
                got: format!("{e:?}"),
            })?;
        data.extend(v);
        start = end;
    }
    Features::new(data, x.rows, cols)
}

/// Fraction of `pred` equal to `y`, in `[0, 1]`; 0 for empty input.
pub fn accuracy(pred: &[usize], y: &[u8]) -> f32 {
    if pred.is_empty() {
        return 0.0;
    }
    let ok = pred
        .iter()
        .zip(y)
        .filter(|(p, t)| **p == usize::from(**t))
        .count();
    ok as f32 / pred.len() as f32
}

/// The chance level of `y`: the frequency of its most common value, in `[0, 1]` (0 for empty input).
pub fn majority_rate(y: &[u8]) -> f32 {
    if y.is_empty() {
        return 0.0;
    }
    let mut counts = [0usize; 256];
    for &v in y {
        counts[usize::from(v)] += 1;
    }
    counts.iter().copied().max().unwrap_or(0) as f32 / y.len() as f32
}

/// Replaces every float parameter of `module` by a seeded Kaiming-uniform draw, PyTorch's default for
/// `Linear`/`Conv2d`: `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` for weights and the biases that follow them
/// (He et al. 2015; `torch.nn.Linear.reset_parameters`). `fan_in` is `shape[0]` for a burn `Linear` weight
/// `[d_in, d_out]` and `in_channels * kh * kw` for a `Conv2d` weight `[out, in, kh, kw]`. Normalisation
/// layers (`BatchNorm`, `LayerNorm`, ...: scale 1, shift 0, running mean 0, running variance 1) keep their
/// initial values, as in PyTorch (a uniform draw would make a running variance negative).
pub fn seeded_init<M: Module>(module: M, seed: u64) -> M {
    struct Init {
        rng: SeedRng,
        fan_in: usize,
        /// Depth inside normalisation layers (their parameters are left alone).
        in_norm: usize,
    }
    fn is_norm(container_type: &str) -> bool {
        container_type.starts_with("Struct:") && container_type.ends_with("Norm")
    }
    impl ModuleMapper for Init {
        fn enter_module(&mut self, _name: &str, container_type: &str) {
            if is_norm(container_type) {
                self.in_norm += 1;
            }
        }
        fn exit_module(&mut self, _name: &str, container_type: &str) {
            if is_norm(container_type) {
                self.in_norm = self.in_norm.saturating_sub(1);
            }
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if self.in_norm > 0 {
                return param;
            }
            param.map(|t| {
                let dims = t.dims();
                match D {
                    2 => self.fan_in = dims[0],
                    4 => self.fan_in = dims[1] * dims[2] * dims[3],
                    _ => {}
                }
                let bound = 1.0 / (self.fan_in.max(1) as f32).sqrt();
                let n: usize = dims.iter().product();
                let vals: Vec<f32> = (0..n).map(|_| self.rng.gen_range(-bound..bound)).collect();
                let rg = t.is_require_grad();
                let device = t.device();
                Tensor::<D>::from_data(TensorData::new(vals, dims), &device).set_require_grad(rg)
            })
        }
    }
    let mut init = Init {
        rng: SeedRng::seed_from_u64(seed),
        fan_in: 1,
        in_norm: 0,
    };
    module.map(&mut init)
}

/// All float parameters of `module`, flattened in visiting order (for checks that frozen parts do not move).
pub fn parameter_values<M: Module>(module: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.extend(param.val().to_data().iter::<f32>());
        }
    }
    let mut c = Collect(Vec::new());
    module.visit(&mut c);
    c.0
}

fn check_xy(x: &Features, y: &[u8], what: &str) -> Result<()> {
    if x.rows == 0 || x.rows != y.len() {
        return Err(Error::Invalid {
            what: format!("{what}: training set"),
            expected: "as many labels as rows, at least one".into(),
            got: format!("{} rows, {} labels", x.rows, y.len()),
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn batches_are_a_seeded_permutation() {
        let a = epoch_batches(10, 3, 7, 0);
        assert_eq!(a.len(), 4);
        let mut all: Vec<usize> = a.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(a, epoch_batches(10, 3, 7, 0));
        assert_ne!(a, epoch_batches(10, 3, 7, 1));
        assert_ne!(a, epoch_batches(10, 3, 8, 0));
    }

    /// A seeded ResNet-50 (batch norm in every block): reproducible, finite, and its batch-norm layers keep
    /// PyTorch's initial values (running variance 1), while convolution weights are redrawn per seed.
    #[test]
    fn seeded_init_leaves_normalisation_layers_alone() {
        let dev = Device::flex();
        let arch = crate::zoo::ArchConfig::resnet50(32, 5).with_width(1.0 / 16.0);
        let build = |seed| seeded_init(crate::zoo::build(&arch, &dev).expect("build"), seed);
        let x = Tensor::<4>::ones([1, 3, 32, 32], &dev);
        let out = |m: &crate::stage::StagedModel| -> Vec<f32> {
            m.forward(x.clone())
                .expect("forward")
                .into_data()
                .iter::<f32>()
                .collect()
        };
        let (a, b, c) = (build(3), build(3), build(4));
        let (ya, yb, yc) = (out(&a), out(&b), out(&c));
        assert!(ya.iter().all(|v| v.is_finite()), "{ya:?}");
        assert_eq!(ya, yb);
        assert_ne!(ya, yc);
        struct NormVars(Vec<f32>, usize);
        impl burn::module::ModuleVisitor for NormVars {
            fn enter_module(&mut self, _: &str, t: &str) {
                if t == "Struct:BatchNorm" {
                    self.1 += 1;
                }
            }
            fn exit_module(&mut self, _: &str, t: &str) {
                if t == "Struct:BatchNorm" {
                    self.1 -= 1;
                }
            }
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                if self.1 > 0 {
                    self.0.extend(p.val().to_data().iter::<f32>());
                }
            }
        }
        let mut v = NormVars(Vec::new(), 0);
        a.visit(&mut v);
        assert!(!v.0.is_empty(), "no batch-norm parameter visited");
        assert!(
            v.0.iter().all(|&p| p == 0.0 || p == 1.0),
            "batch norm changed"
        );
    }

    #[test]
    fn accuracy_and_chance() {
        assert_eq!(accuracy(&[0, 1, 1, 2], &[0, 1, 0, 2]), 0.75);
        assert_eq!(majority_rate(&[3, 3, 1, 3]), 0.75);
        assert_eq!(majority_rate(&[]), 0.0);
    }

    #[test]
    fn bad_optimiser_settings_are_rejected() {
        assert!(OptimizerConfig::sgd(0.0, 0.9).validate("t").is_err());
        assert!(OptimizerConfig::sgd(0.1, 1.0).validate("t").is_err());
        assert!(OptimizerConfig::adam(f64::NAN).validate("t").is_err());
        assert!(OptimizerConfig::sgd(0.1, 0.9).validate("t").is_ok());
    }
}
