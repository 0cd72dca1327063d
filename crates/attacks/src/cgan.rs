//! c-GAN reconstruction attack (the seed paper's attack; conditional GAN of Isola et al. 2017,
//! "Image-to-image translation with conditional adversarial networks" (pix2pix), §3: loss
//! `L_cGAN(G, D) + lambda * L1(G)`, PatchGAN discriminator conditioned on the input).
//!
//! The generator is the [`Decoder`] (feature map -> image). The discriminator sees an image together with the
//! feature map it should come from: the feature map is reduced to a few channels by a 1x1 conv, resized
//! (nearest) to the image size and concatenated with the image; two 4x4 stride-2 convs with leaky ReLU and a
//! 3x3 conv give a grid of patch logits. Trained on the attacker dataset (disjoint from the evaluation
//! images) with Adam; losses are binary cross-entropy on the patch logits plus `l1_weight` times the L1
//! pixel loss for the generator.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{leaky_relu, softplus};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use privsplit_models::classifier::batch_indices;
use serde::{Deserialize, Serialize};

use crate::decoder::Decoder;
use crate::inverse::{check_pairs, AttackTrainConfig};
use crate::Result;

/// c-GAN settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CganConfig {
    /// Generator (decoder) training settings.
    pub train: AttackTrainConfig,
    /// Weight of the L1 pixel loss in the generator loss (pix2pix: 100).
    pub l1_weight: f64,
    /// Channels the feature map is reduced to before it is shown to the discriminator.
    pub cond_channels: usize,
    /// Channels of the discriminator's first conv (doubled in the second).
    pub disc_channels: usize,
}

impl Default for CganConfig {
    fn default() -> Self {
        Self::with_generator(AttackTrainConfig::default())
    }
}

impl CganConfig {
    /// The c-GAN whose generator (decoder) trains with `train` (e.g. the inverse network's settings, so
    /// that both decoder attacks get the same budget); L1 weight 100 (pix2pix), the feature map reduced to
    /// 8 channels, 16 discriminator channels.
    pub fn with_generator(train: AttackTrainConfig) -> Self {
        Self {
            train,
            l1_weight: 100.0,
            cond_channels: 8,
            disc_channels: 16,
        }
    }
}

/// PatchGAN discriminator conditioned on the feature map: `(image [b, C, H, W], feature map [b, c, h, w]) ->
/// patch logits [b, 1, H/4, W/4]`.
#[derive(Module, Debug)]
pub struct Discriminator {
    /// 1x1 conv reducing the feature map.
    pub cond: Conv2d,
    /// 4x4 stride-2 conv.
    pub c1: Conv2d,
    /// 4x4 stride-2 conv.
    pub c2: Conv2d,
    /// 3x3 conv to one logit per patch.
    pub out: Conv2d,
}

impl Discriminator {
    /// Builds a discriminator for feature maps of `fm_channels` channels and images of `img_channels`.
    pub fn new(fm_channels: usize, img_channels: usize, cfg: &CganConfig, dev: &Device) -> Self {
        let d = cfg.disc_channels.max(1);
        let k4 = |i, o| {
            Conv2dConfig::new([i, o], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(dev)
        };
        Self {
            cond: Conv2dConfig::new([fm_channels, cfg.cond_channels.max(1)], [1, 1]).init(dev),
            c1: k4(img_channels + cfg.cond_channels.max(1), d),
            c2: k4(d, 2 * d),
            out: Conv2dConfig::new([2 * d, 1], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(dev),
        }
    }

    /// Patch logits `[b, 1, h', w']`.
    pub fn forward(&self, image: Tensor<4>, fm: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = image.dims();
        let c = self.cond.forward(fm);
        let c = interpolate(
            c,
            InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([h, w]),
        );
        let x = Tensor::cat(vec![image, c], 1);
        let x = leaky_relu(self.c1.forward(x), 0.2);
        let x = leaky_relu(self.c2.forward(x), 0.2);
        self.out.forward(x)
    }
}

/// Mean binary cross-entropy of logits against an all-`target` label: `softplus(-l)` for 1, `softplus(l)` for 0.
fn bce(logits: Tensor<4>, target_real: bool) -> Tensor<1> {
    if target_real {
        softplus(logits.neg(), 1.0).mean()
    } else {
        softplus(logits, 1.0).mean()
    }
}

/// Trains the c-GAN on the attacker's `(feature map, image)` pairs (`[n, c, h, w]`, `[n, C, H, W]` in
/// `[0, 1]`, plain device) and returns the generator (plain device).
///
/// # Errors
/// [`crate::Error::Invalid`] when the counts differ or the config is degenerate.
pub fn train_cgan(
    fms: &Tensor<4>,
    images: &Tensor<4>,
    cfg: &CganConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<Decoder> {
    let tc = &cfg.train;
    check_pairs(fms, images, tc)?;
    let plain = fms.device();
    let dev = plain.clone().autodiff();
    dev.seed(tc.seed);
    let fd = fms.dims();
    let id = images.dims();
    let mut gen = Decoder::new(
        [fd[1], fd[2], fd[3]],
        [id[1], id[2], id[3]],
        &tc.decoder,
        &dev,
    )?;
    let mut disc = Discriminator::new(fd[1], id[1], cfg, &dev);
    let mut opt_g = AdamConfig::new().with_beta_1(0.5).init();
    let mut opt_d = AdamConfig::new().with_beta_1(0.5).init();
    let n = fd[0];
    for epoch in 0..tc.epochs {
        let (mut gl, mut dl, mut l1s) = (0.0f64, 0.0f64, 0.0f64);
        let batches = batch_indices(n, tc.batch_size, tc.seed ^ 0xc6a4, epoch, &plain);
        let nb = batches.len();
        for idx in batches {
            let z = fms.clone().select(0, idx.clone()).autodiff();
            let x = images.clone().select(0, idx).autodiff();
            // Discriminator step: real pairs -> 1, generated pairs -> 0.
            let fake = gen.forward(z.clone()).detach();
            let d_loss = bce(disc.forward(x.clone(), z.clone()), true)
                + bce(disc.forward(fake, z.clone()), false);
            dl += f64::from(d_loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(d_loss.backward(), &disc);
            disc = opt_d.step(tc.learning_rate, disc, grads);
            // Generator step: fool the discriminator + L1 to the true image.
            let fake = gen.forward(z.clone());
            let l1 = (fake.clone() - x).abs().mean();
            let adv = bce(disc.forward(fake, z), true);
            l1s += f64::from(l1.clone().into_scalar::<f32>());
            let g_loss = adv + l1.mul_scalar(cfg.l1_weight);
            gl += f64::from(g_loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(g_loss.backward(), &gen);
            gen = opt_g.step(tc.learning_rate, gen, grads);
        }
        let nb = nb as f64;
        progress(&format!(
            "c-GAN epoch {}/{}: D {:.3}, G {:.3}, L1 {:.4}",
            epoch + 1,
            tc.epochs,
            dl / nb,
            gl / nb,
            l1s / nb
        ));
    }
    Ok(gen.valid())
}
