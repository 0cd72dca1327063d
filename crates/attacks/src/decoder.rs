//! The decoder shared by the c-GAN generator and the inverse network: feature map at a partition point ->
//! image. Sized from the feature map's shape: a flat feature map `[f, 1, 1]` goes through a fully connected
//! layer to a `[c0, s, s]` grid (s = image side / 4, at most [`MAX_FLAT_GRID`]); a spatial one through a 3x3 conv. Then repeated
//! (nearest x2 upsampling, 3x3 conv, ReLU) until the image size is reached (the last step resizes to it
//! exactly), and a final 3x3 conv with a sigmoid gives pixels in `[0, 1]`. The design follows the
//! generator of the seed paper's c-GAN attack and He et al. 2019's inverse network (upsampling
//! deconvolution stack), scaled down for CPU training.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Largest side of the grid a flat feature map is mapped to: at 96 px the image side / 4 would be 24, and
/// the fully connected layer from 1000 logits to `64 x 24 x 24` would hold 37 M weights; capped at 8 it
/// holds `1000 x 64 x 64` = 4 M and the decoder upsamples 8 -> 16 -> 32 -> 64 -> 96. 28x28 images
/// (grid 7) are unaffected.
pub const MAX_FLAT_GRID: usize = 8;

/// Decoder sizes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecoderConfig {
    /// Channels at the decoder's lowest resolution; halved at each upsampling (never below `min_channels`).
    pub channels: usize,
    /// Lowest channel count.
    pub min_channels: usize,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self {
            channels: 64,
            min_channels: 16,
        }
    }
}

/// Static plan of a decoder.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderPlan {
    /// Feature-map shape `[c, h, w]`.
    pub input: [usize; 3],
    /// Grid `[c0, h0, w0]` after the first layer.
    pub start: [usize; 3],
    /// Output sizes `[h, w]` of each upsampling step.
    pub ups: Vec<[usize; 2]>,
    /// Image shape `[c, h, w]`.
    pub output: [usize; 3],
}

/// Feature map `[b, c, h, w]` -> image `[b, C, H, W]` in `[0, 1]`.
#[derive(Module, Debug)]
pub struct Decoder {
    /// Fully connected input layer (flat feature maps).
    pub fc: Option<Linear>,
    /// 3x3 input conv (spatial feature maps).
    pub input_conv: Option<Conv2d>,
    /// One 3x3 conv after each upsampling step.
    pub up_convs: Vec<Conv2d>,
    /// Final 3x3 conv to the image channels.
    pub out_conv: Conv2d,
    /// The plan (not a parameter).
    #[module(skip)]
    pub plan: DecoderPlan,
}

fn conv3(c_in: usize, c_out: usize, dev: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(dev)
}

/// Upsampling sizes from `from` to `to`, doubling each step, the last one exact.
fn up_steps(from: [usize; 2], to: [usize; 2]) -> Vec<[usize; 2]> {
    let mut cur = from;
    let mut steps = Vec::new();
    while cur[0] < to[0] || cur[1] < to[1] {
        cur = [(cur[0] * 2).min(to[0]), (cur[1] * 2).min(to[1])];
        steps.push(cur);
    }
    if cur != to {
        steps.push(to);
    }
    steps
}

impl Decoder {
    /// Builds a decoder from the feature-map shape `input` `[c, h, w]` to the image shape `output`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero dimension or a feature map larger than the image.
    pub fn new(
        input: [usize; 3],
        output: [usize; 3],
        cfg: &DecoderConfig,
        dev: &Device,
    ) -> Result<Self> {
        if input.contains(&0) || output.contains(&0) || cfg.channels == 0 || cfg.min_channels == 0 {
            return Err(Error::Invalid {
                what: "decoder shapes".into(),
                expected: "non-zero dimensions and channel counts".into(),
                got: format!("feature map {input:?}, image {output:?}, {cfg:?}"),
            });
        }
        if input[1] > output[1] || input[2] > output[2] {
            return Err(Error::Invalid {
                what: "feature map".into(),
                expected: format!("spatial size <= the image's {:?}", &output[1..]),
                got: format!("{input:?}"),
            });
        }
        let flat = input[1] == 1 && input[2] == 1;
        let (fc, input_conv, start) = if flat {
            let grid = |side: usize| side.div_ceil(4).clamp(1, MAX_FLAT_GRID);
            let s = [grid(output[1]), grid(output[2])];
            let c0 = cfg.channels;
            (
                Some(LinearConfig::new(input[0], c0 * s[0] * s[1]).init(dev)),
                None,
                [c0, s[0], s[1]],
            )
        } else {
            (
                None,
                Some(conv3(input[0], cfg.channels, dev)),
                [cfg.channels, input[1], input[2]],
            )
        };
        let ups = up_steps([start[1], start[2]], [output[1], output[2]]);
        let mut c = start[0];
        let mut up_convs = Vec::new();
        for _ in &ups {
            let next = (c / 2).max(cfg.min_channels);
            up_convs.push(conv3(c, next, dev));
            c = next;
        }
        if ups.is_empty() {
            // Same resolution as the image: one more conv for capacity.
            let next = (c / 2).max(cfg.min_channels);
            up_convs.push(conv3(c, next, dev));
            c = next;
        }
        Ok(Self {
            fc,
            input_conv,
            up_convs,
            out_conv: conv3(c, output[0], dev),
            plan: DecoderPlan {
                input,
                start,
                ups,
                output,
            },
        })
    }

    /// `[b, c, h, w]` feature maps -> `[b, C, H, W]` images in `[0, 1]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let b = x.dims()[0];
        let [c0, h0, w0] = self.plan.start;
        let mut x = match (&self.fc, &self.input_conv) {
            (Some(fc), _) => relu(fc.forward(x.flatten::<2>(1, 3))).reshape([b, c0, h0, w0]),
            (None, Some(conv)) => relu(conv.forward(x)),
            (None, None) => x,
        };
        let mut steps = self.plan.ups.iter();
        for conv in &self.up_convs {
            if let Some(&size) = steps.next() {
                x = interpolate(
                    x,
                    InterpolateOptions::new(InterpolateMode::Nearest).with_output_size(size),
                );
            }
            x = relu(conv.forward(x));
        }
        sigmoid(self.out_conv.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_maps_every_feature_shape_to_the_image_shape() {
        let dev = Device::flex();
        for input in [
            [64, 7, 7],
            [32, 14, 14],
            [128, 1, 1],
            [1, 28, 28],
            [8, 3, 5],
        ] {
            let d =
                Decoder::new(input, [1, 28, 28], &DecoderConfig::default(), &dev).expect("decoder");
            let y = d.forward(Tensor::<4>::ones([2, input[0], input[1], input[2]], &dev));
            assert_eq!(y.dims(), [2, 1, 28, 28], "{input:?}");
        }
        assert_eq!(up_steps([7, 7], [28, 28]), vec![[14, 14], [28, 28]]);
        assert_eq!(
            up_steps([3, 3], [28, 28]),
            vec![[6, 6], [12, 12], [24, 24], [28, 28]]
        );
        assert!(Decoder::new([4, 32, 32], [1, 28, 28], &DecoderConfig::default(), &dev).is_err());
        // A flat feature map at 96 px starts from the capped 8x8 grid, not 24x24.
        let d = Decoder::new([1000, 1, 1], [3, 96, 96], &DecoderConfig::default(), &dev)
            .expect("flat 96");
        assert_eq!(d.plan.start, [64, 8, 8]);
        assert_eq!(d.plan.ups, vec![[16, 16], [32, 32], [64, 64], [96, 96]]);
        let y = d.forward(Tensor::<4>::ones([1, 1000, 1, 1], &dev));
        assert_eq!(y.dims(), [1, 3, 96, 96]);
        let d = Decoder::new([10, 1, 1], [1, 28, 28], &DecoderConfig::default(), &dev)
            .expect("flat 28");
        assert_eq!(d.plan.start, [64, 7, 7]);
    }
}
