//! Black-box inverse-network attack (He, Zhang & Lee 2019, "Model inversion attacks against collaborative
//! inference", ACSAC, §4.2): the attacker queries the trusted partition with images of its own dataset
//! (same distribution, disjoint from the victims' images), records the feature maps at the partition point
//! and trains a decoder `feature map -> image` with a pixel loss (mean squared error); at attack time the
//! decoder is applied to the observed feature maps.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Tensor;
use privsplit_models::classifier::batch_indices;
use serde::{Deserialize, Serialize};

use crate::decoder::{Decoder, DecoderConfig};
use crate::{Error, Result};

/// Training settings of a decoder-based attack (inverse network, c-GAN generator).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackTrainConfig {
    /// Passes over the attacker dataset.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Seed of weight initialisation and shuffling.
    pub seed: u64,
    /// Decoder sizes.
    pub decoder: DecoderConfig,
}

impl Default for AttackTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 3,
            batch_size: 64,
            learning_rate: 2e-3,
            seed: 7,
            decoder: DecoderConfig::default(),
        }
    }
}

pub(crate) fn check_pairs(
    fms: &Tensor<4>,
    images: &Tensor<4>,
    cfg: &AttackTrainConfig,
) -> Result<()> {
    if fms.dims()[0] != images.dims()[0] || fms.dims()[0] == 0 {
        return Err(Error::Invalid {
            what: "attacker dataset".into(),
            expected: "as many (non-zero) feature maps as images".into(),
            got: format!("feature maps {:?}, images {:?}", fms.dims(), images.dims()),
        });
    }
    if cfg.batch_size == 0
        || cfg.epochs == 0
        || cfg.learning_rate.is_nan()
        || cfg.learning_rate <= 0.0
    {
        return Err(Error::Invalid {
            what: "attack training config".into(),
            expected: "epochs >= 1, batch_size >= 1, learning_rate > 0".into(),
            got: format!("{cfg:?}"),
        });
    }
    Ok(())
}

fn shape3(t: &Tensor<4>) -> [usize; 3] {
    let d = t.dims();
    [d[1], d[2], d[3]]
}

/// Trains the inverse network on the attacker's `(feature map, image)` pairs: `fms` `[n, c, h, w]`, `images`
/// `[n, C, H, W]` in `[0, 1]` (both on a plain, non-autodiff device). Returns the trained decoder (plain device).
///
/// # Errors
/// [`Error::Invalid`] when the counts differ or the config is degenerate.
pub fn train_inverse(
    fms: &Tensor<4>,
    images: &Tensor<4>,
    cfg: &AttackTrainConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<Decoder> {
    check_pairs(fms, images, cfg)?;
    let plain = fms.device();
    let dev = plain.clone().autodiff();
    dev.seed(cfg.seed);
    let mut dec = Decoder::new(shape3(fms), shape3(images), &cfg.decoder, &dev)?;
    let mut opt = AdamConfig::new().init();
    let n = fms.dims()[0];
    for epoch in 0..cfg.epochs {
        let mut total = 0.0f64;
        let batches = batch_indices(n, cfg.batch_size, cfg.seed, epoch, &plain);
        let nb = batches.len();
        for idx in batches {
            let x = fms.clone().select(0, idx.clone()).autodiff();
            let y = images.clone().select(0, idx).autodiff();
            let loss = (dec.forward(x) - y).powi_scalar(2).mean();
            total += f64::from(loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &dec);
            dec = opt.step(cfg.learning_rate, dec, grads);
        }
        progress(&format!(
            "inverse network epoch {}/{}: mse {:.4}",
            epoch + 1,
            cfg.epochs,
            total / nb as f64
        ));
    }
    Ok(dec.valid())
}

/// Applies a trained decoder to observed feature maps `[n, c, h, w]` in batches of `batch`.
pub fn reconstruct(dec: &Decoder, fms: &Tensor<4>, batch: usize) -> Tensor<4> {
    let n = fms.dims()[0];
    let mut outs = Vec::new();
    let mut i = 0;
    while i < n {
        let len = batch.max(1).min(n - i);
        outs.push(dec.forward(fms.clone().narrow(0, i, len)));
        i += len;
    }
    Tensor::cat(outs, 0)
}
