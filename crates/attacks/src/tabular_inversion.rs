//! Reconstruction of preprocessed tabular rows from the feature map at a partition point: the three
//! attacks of the image sweep, adapted to rows `[batch, features]` and flat feature maps `[batch, units]`.
//!
//! - Inverse network (black-box; He, Zhang & Lee 2019, ACSAC, §4.2): an MLP decoder `feature map -> row`
//!   (`units -> hidden -> hidden -> features`, ReLU) trained with the mean squared error on the attacker's
//!   own (feature map, row) pairs, obtained by querying the trusted partition.
//! - c-GAN (the seed paper's attack; pix2pix objective of Isola et al. 2017, §3: `L_cGAN + lambda * L1`):
//!   the same decoder as generator and an MLP discriminator that sees a row together with the feature map
//!   it should come from (`[row, feature map] -> hidden -> hidden -> logit`, leaky ReLU 0.2).
//! - White-box rMLE (He et al. 2019, §4.1, eq. (2)): knowing the trusted partition, optimise the row so its
//!   feature map matches, `argmin_x ||f(x) - v||^2 / |v| + lambda * ||x_num||^2 / |x_num|`. The image
//!   total-variation prior has no meaning for rows; the prior here is the standard-normal one of the
//!   standardised numeric slots. Each categorical block is kept on the probability simplex by optimising
//!   logits through a softmax, numeric slots directly; Adam from `z = 0` (numeric means, uniform blocks).
//!
//! All tensors live on a plain (non-autodiff) device; training uses `device.autodiff()` internally.
//! Shuffling uses `ChaCha8Rng(seed)`; weights are initialised from the seeded device RNG.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{leaky_relu, relu, softmax, softplus};
use burn::tensor::{Device, Int, Tensor};
use privsplit_data::tabular::FeatureBlock;
use privsplit_models::stage::Partition;
use privsplit_models::tabular::rows_to_input;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Training settings of the decoder-based tabular attacks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowAttackConfig {
    /// Passes over the attacker rows.
    pub epochs: usize,
    /// Rows per step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Hidden width of the decoder (and of the c-GAN discriminator).
    pub hidden: usize,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
}

impl Default for RowAttackConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 128,
            learning_rate: 2e-3,
            hidden: 256,
            seed: 7,
        }
    }
}

/// c-GAN settings for rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowCganConfig {
    /// Generator (decoder) training settings.
    pub train: RowAttackConfig,
    /// Weight `lambda` of the L1 loss in the generator objective (pix2pix: 100).
    pub l1_weight: f64,
}

impl Default for RowCganConfig {
    fn default() -> Self {
        Self::with_generator(RowAttackConfig::default())
    }
}

impl RowCganConfig {
    /// The row c-GAN whose generator (decoder) trains with `train` (e.g. the inverse network's settings,
    /// so that both decoder attacks get the same budget); L1 weight 100 (pix2pix).
    pub fn with_generator(train: RowAttackConfig) -> Self {
        Self {
            train,
            l1_weight: 100.0,
        }
    }
}

/// rMLE settings for rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowRmleConfig {
    /// Adam steps.
    pub steps: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Weight `lambda` of the standard-normal prior on the numeric slots.
    pub prior_weight: f64,
}

impl Default for RowRmleConfig {
    fn default() -> Self {
        Self {
            steps: 300,
            learning_rate: 0.05,
            prior_weight: 0.01,
        }
    }
}

/// MLP decoder: feature map `[b, units]` -> row `[b, features]` (linear output: standardised numeric slots
/// and one-hot scores).
#[derive(Module, Debug)]
pub struct RowDecoder {
    /// `units -> hidden`.
    pub l1: Linear,
    /// `hidden -> hidden`.
    pub l2: Linear,
    /// `hidden -> features`.
    pub out: Linear,
}

impl RowDecoder {
    /// A decoder from `units` to `features` with `hidden` units per hidden layer.
    pub fn new(units: usize, features: usize, hidden: usize, dev: &Device) -> Self {
        Self {
            l1: LinearConfig::new(units, hidden).init(dev),
            l2: LinearConfig::new(hidden, hidden).init(dev),
            out: LinearConfig::new(hidden, features).init(dev),
        }
    }

    /// `[b, units]` -> `[b, features]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.out
            .forward(relu(self.l2.forward(relu(self.l1.forward(x)))))
    }

    /// Applies the decoder to `fms` `[n, units]` in chunks of 1024 rows.
    pub fn reconstruct(&self, fms: &Tensor<2>) -> Tensor<2> {
        let n = fms.dims()[0];
        let mut outs = Vec::new();
        let mut i = 0;
        while i < n {
            let len = 1024.min(n - i);
            outs.push(self.forward(fms.clone().narrow(0, i, len)));
            i += len;
        }
        Tensor::cat(outs, 0)
    }
}

/// Conditional discriminator: `([b, features], [b, units]) -> [b, 1]` logits.
#[derive(Module, Debug)]
pub struct RowDiscriminator {
    /// `features + units -> hidden`.
    pub l1: Linear,
    /// `hidden -> hidden`.
    pub l2: Linear,
    /// `hidden -> 1`.
    pub out: Linear,
}

impl RowDiscriminator {
    fn new(features: usize, units: usize, hidden: usize, dev: &Device) -> Self {
        Self {
            l1: LinearConfig::new(features + units, hidden).init(dev),
            l2: LinearConfig::new(hidden, hidden).init(dev),
            out: LinearConfig::new(hidden, 1).init(dev),
        }
    }

    fn forward(&self, row: Tensor<2>, fm: Tensor<2>) -> Tensor<2> {
        let x = Tensor::cat(vec![row, fm], 1);
        let x = leaky_relu(self.l1.forward(x), 0.2);
        let x = leaky_relu(self.l2.forward(x), 0.2);
        self.out.forward(x)
    }
}

fn check(fms: &Tensor<2>, rows: &Tensor<2>, cfg: &RowAttackConfig) -> Result<()> {
    let (f, r) = (fms.dims(), rows.dims());
    if f[0] != r[0] || f[0] == 0 {
        return Err(Error::Invalid {
            what: "attacker rows".into(),
            expected: "as many (non-zero) feature maps as rows".into(),
            got: format!("feature maps {f:?}, rows {r:?}"),
        });
    }
    if cfg.epochs == 0
        || cfg.batch_size == 0
        || cfg.hidden == 0
        || cfg.learning_rate.is_nan()
        || cfg.learning_rate <= 0.0
    {
        return Err(Error::Invalid {
            what: "tabular attack config".into(),
            expected: "epochs, batch_size, hidden >= 1 and learning_rate > 0".into(),
            got: format!("{cfg:?}"),
        });
    }
    Ok(())
}

fn batches(n: usize, batch: usize, rng: &mut ChaCha8Rng, dev: &Device) -> Vec<Tensor<1, Int>> {
    let mut idx: Vec<i64> = (0..n as i64).collect();
    idx.shuffle(rng);
    idx.chunks(batch)
        .map(|c| Tensor::<1, Int>::from_ints(c, dev))
        .collect()
}

/// Trains the inverse network on the attacker's pairs: `fms` `[n, units]`, `rows` `[n, features]`.
///
/// # Errors
/// [`Error::Invalid`] when the counts differ or the config is degenerate.
pub fn train_row_inverse(
    fms: &Tensor<2>,
    rows: &Tensor<2>,
    cfg: &RowAttackConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<RowDecoder> {
    check(fms, rows, cfg)?;
    let plain = fms.device();
    let dev = plain.clone().autodiff();
    dev.seed(cfg.seed);
    let mut dec = RowDecoder::new(fms.dims()[1], rows.dims()[1], cfg.hidden, &dev);
    let mut opt = AdamConfig::new().init();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    for epoch in 0..cfg.epochs {
        let (mut total, mut nb) = (0.0f64, 0usize);
        for idx in batches(fms.dims()[0], cfg.batch_size, &mut rng, &plain) {
            let x = fms.clone().select(0, idx.clone()).autodiff();
            let y = rows.clone().select(0, idx).autodiff();
            let loss = (dec.forward(x) - y).powi_scalar(2).mean();
            total += f64::from(loss.clone().into_scalar::<f32>());
            nb += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &dec);
            dec = opt.step(cfg.learning_rate, dec, grads);
        }
        if epoch + 1 == cfg.epochs || (epoch + 1) % 10 == 0 {
            progress(&format!(
                "inverse network epoch {}/{}: mse {:.4}",
                epoch + 1,
                cfg.epochs,
                total / nb.max(1) as f64
            ));
        }
    }
    Ok(dec.valid())
}

/// Trains the c-GAN on the attacker's pairs and returns the generator.
///
/// # Errors
/// As [`train_row_inverse`].
pub fn train_row_cgan(
    fms: &Tensor<2>,
    rows: &Tensor<2>,
    cfg: &RowCganConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<RowDecoder> {
    let tc = &cfg.train;
    check(fms, rows, tc)?;
    let plain = fms.device();
    let dev = plain.clone().autodiff();
    dev.seed(tc.seed);
    let (units, features) = (fms.dims()[1], rows.dims()[1]);
    let mut gen = RowDecoder::new(units, features, tc.hidden, &dev);
    let mut disc = RowDiscriminator::new(features, units, tc.hidden, &dev);
    let mut opt_g = AdamConfig::new().with_beta_1(0.5).init();
    let mut opt_d = AdamConfig::new().with_beta_1(0.5).init();
    let mut rng = ChaCha8Rng::seed_from_u64(tc.seed ^ 0xc6a4);
    for epoch in 0..tc.epochs {
        let (mut dl, mut l1s, mut nb) = (0.0f64, 0.0f64, 0usize);
        for idx in batches(fms.dims()[0], tc.batch_size, &mut rng, &plain) {
            let z = fms.clone().select(0, idx.clone()).autodiff();
            let x = rows.clone().select(0, idx).autodiff();
            let fake = gen.forward(z.clone()).detach();
            let d_loss = softplus(disc.forward(x.clone(), z.clone()).neg(), 1.0).mean()
                + softplus(disc.forward(fake, z.clone()), 1.0).mean();
            dl += f64::from(d_loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(d_loss.backward(), &disc);
            disc = opt_d.step(tc.learning_rate, disc, grads);
            let fake = gen.forward(z.clone());
            let l1 = (fake.clone() - x).abs().mean();
            l1s += f64::from(l1.clone().into_scalar::<f32>());
            let adv = softplus(disc.forward(fake, z).neg(), 1.0).mean();
            let g_loss = adv + l1.mul_scalar(cfg.l1_weight);
            let grads = GradientsParams::from_grads(g_loss.backward(), &gen);
            gen = opt_g.step(tc.learning_rate, gen, grads);
            nb += 1;
        }
        if epoch + 1 == tc.epochs || (epoch + 1) % 10 == 0 {
            let nb = nb.max(1) as f64;
            progress(&format!(
                "c-GAN epoch {}/{}: D {:.3}, L1 {:.4}",
                epoch + 1,
                tc.epochs,
                dl / nb,
                l1s / nb
            ));
        }
    }
    Ok(gen.valid())
}

/// The row `x` from the optimisation variable `z`: numeric slots as they are, each categorical block
/// through a softmax. `blocks` must tile `0..features` (as `Preprocessor::blocks` does).
fn assemble(z: Tensor<2>, blocks: &[FeatureBlock]) -> Tensor<2> {
    let mut parts = Vec::with_capacity(blocks.len());
    for b in blocks {
        match b {
            FeatureBlock::Numeric { index, .. } => parts.push(z.clone().narrow(1, *index, 1)),
            FeatureBlock::Categorical { start, len, .. } => {
                parts.push(softmax(z.clone().narrow(1, *start, *len), 1));
            }
        }
    }
    Tensor::cat(parts, 1)
}

fn numeric_mask(blocks: &[FeatureBlock], features: usize, dev: &Device) -> (Tensor<2>, usize) {
    let mut m = vec![0.0f32; features];
    let mut n = 0;
    for b in blocks {
        if let FeatureBlock::Numeric { index, .. } = b {
            if let Some(v) = m.get_mut(*index) {
                *v = 1.0;
                n += 1;
            }
        }
    }
    (
        Tensor::<1>::from_floats(m.as_slice(), dev).reshape([1, features]),
        n,
    )
}

/// White-box rMLE: the rows `[b, features]` whose feature maps through `trusted` (the partition `[0, k)`
/// of a tabular model, plain device) match `target` `[b, units]`.
///
/// # Errors
/// [`Error::Invalid`] when `trusted` does not start at the input, `blocks` do not tile its input width,
/// `target` does not have its output width, or the config is degenerate.
pub fn row_rmle(
    trusted: &Partition,
    blocks: &[FeatureBlock],
    target: &Tensor<2>,
    cfg: &RowRmleConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<Tensor<2>> {
    let features = trusted.input_shape()[0];
    let units = trusted.output_shape()[0];
    let width: usize = blocks
        .iter()
        .map(|b| match b {
            FeatureBlock::Numeric { .. } => 1,
            FeatureBlock::Categorical { len, .. } => *len,
        })
        .sum();
    let td = target.dims();
    if trusted.range().0 != 0 || width != features || td[1] != units {
        return Err(Error::Invalid {
            what: "rMLE inputs".into(),
            expected: format!(
                "the trusted partition [0, k), blocks tiling {features} features, targets [batch, {units}]"
            ),
            got: format!(
                "partition {:?}, blocks {width} wide, targets {td:?}",
                trusted.range()
            ),
        });
    }
    if cfg.steps == 0
        || cfg.learning_rate.is_nan()
        || cfg.learning_rate <= 0.0
        || cfg.prior_weight.is_nan()
        || cfg.prior_weight < 0.0
    {
        return Err(Error::Invalid {
            what: "rMLE config".into(),
            expected: "steps >= 1, learning_rate > 0, prior_weight >= 0".into(),
            got: format!("{cfg:?}"),
        });
    }
    let plain = target.device();
    let dev = plain.clone().autodiff();
    let model = trusted.clone().to_device(&dev).no_grad();
    let b = td[0];
    let v = target.clone().autodiff();
    let (mask, n_num) = numeric_mask(blocks, features, &dev);
    let mut z = Tensor::<2>::zeros([b, features], &plain);
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let mut m = Tensor::<2>::zeros([b, features], &plain);
    let mut s = Tensor::<2>::zeros([b, features], &plain);
    for step in 1..=cfg.steps {
        let zt = z.clone().autodiff().require_grad();
        let x = assemble(zt.clone(), blocks);
        let fm = model
            .forward(rows_to_input(x.clone()))
            .map_err(|e| Error::Invalid {
                what: "rMLE forward".into(),
                expected: "a runnable trusted partition".into(),
                got: e.to_string(),
            })?;
        let fit = (fm.flatten::<2>(1, 3) - v.clone()).powi_scalar(2).mean();
        let prior = (x * mask.clone())
            .powi_scalar(2)
            .sum()
            .div_scalar((b * n_num.max(1)) as f64);
        let loss = fit.clone() + prior.mul_scalar(cfg.prior_weight);
        let grads = loss.backward();
        let Some(g) = zt.grad(&grads) else {
            return Err(Error::Invalid {
                what: "rMLE gradient".into(),
                expected: "a gradient with respect to the input".into(),
                got: "none".into(),
            });
        };
        m = m.mul_scalar(b1) + g.clone().mul_scalar(1.0 - b1);
        s = s.mul_scalar(b2) + g.powi_scalar(2).mul_scalar(1.0 - b2);
        let mh = m.clone().div_scalar(1.0 - b1.powi(step as i32));
        let sh = s.clone().div_scalar(1.0 - b2.powi(step as i32));
        z = z - (mh / sh.sqrt().add_scalar(eps)).mul_scalar(cfg.learning_rate);
        if step == cfg.steps {
            progress(&format!(
                "rMLE step {step}/{}: feature-map mse {:.5}",
                cfg.steps,
                fit.into_scalar::<f32>()
            ));
        }
    }
    Ok(assemble(z, blocks))
}
