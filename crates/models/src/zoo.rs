//! The zoo of splittable architectures: VGG-16, ResNet-50, EfficientNet-B0, EfficientNet-Lite0 and a small CNN
//! for 28x28 grey images, each built as a [`StagedModel`] whose stages are the natural cut units.
//!
//! Sources: VGG-16 — Simonyan & Zisserman 2015, Table 1 (configuration D); ResNet-50 — He et al. 2016,
//! Table 1 (bottleneck blocks, stride on the 3x3 conv as in torchvision v1.5); EfficientNet-B0 — Tan & Le 2019,
//! Table 1 (MBConv with squeeze-excitation ratio 0.25, SiLU); EfficientNet-Lite0 — the TensorFlow
//! `efficientnet-lite` variant (no squeeze-excitation, ReLU6, fixed 32-channel stem and 1280-channel head,
//! TensorFlow "SAME" padding, batch-norm epsilon 1e-3).

use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::{AdaptiveAvgPool2dConfig, MaxPool2dConfig};
use burn::nn::{BatchNormConfig, LinearConfig, PaddingConfig2d};
use burn::tensor::Device;

pub use crate::arch::{ArchConfig, ArchKind};
use crate::stage::{
    Act, Bottleneck, ConvBnAct, DenseStage, HeadStage, MbConv, ModelMeta, PoolStage, SqueezeExcite,
    Stage, StageInfo, StagedModel, StemStage,
};
use crate::Result;

/// Tracks the running feature-map shape while stages are appended.
struct Builder<'a> {
    dev: &'a Device,
    shape: [usize; 3],
    stages: Vec<Stage>,
    infos: Vec<StageInfo>,
    /// Batch-norm running statistics created since the last `push` (burn counts them in `num_params`).
    running: std::cell::Cell<usize>,
}

fn conv_out(size: usize, k: usize, s: usize, pad_lo: usize, pad_hi: usize) -> usize {
    (size + pad_lo + pad_hi).saturating_sub(k) / s + 1
}

/// Padding `(lo, hi)`: TensorFlow "SAME" when `tf_same`, else symmetric `k / 2`.
fn padding(size: usize, k: usize, s: usize, tf_same: bool) -> (usize, usize) {
    if tf_same {
        let out = size.div_ceil(s);
        let total = ((out - 1) * s + k).saturating_sub(size);
        (total / 2, total - total / 2)
    } else {
        (k / 2, k / 2)
    }
}

/// A conv block spec.
#[derive(Clone, Copy)]
struct ConvSpec {
    out: usize,
    k: usize,
    s: usize,
    groups: usize,
    bn: bool,
    bias: bool,
    act: Act,
    tf_same: bool,
}

impl<'a> Builder<'a> {
    fn conv(&self, shape: [usize; 3], spec: ConvSpec) -> (ConvBnAct, [usize; 3], u64) {
        let [c, h, w] = shape;
        let (pt, pb) = padding(h, spec.k, spec.s, spec.tf_same);
        let (pl, pr) = padding(w, spec.k, spec.s, spec.tf_same);
        let conv = Conv2dConfig::new([c, spec.out], [spec.k, spec.k])
            .with_stride([spec.s, spec.s])
            .with_padding(PaddingConfig2d::Explicit(pt, pl, pb, pr))
            .with_groups(spec.groups)
            .with_bias(spec.bias)
            .init(self.dev);
        if spec.bn {
            self.running.set(self.running.get() + 2 * spec.out);
        }
        let bn = spec.bn.then(|| {
            BatchNormConfig::new(spec.out)
                .with_epsilon(if spec.tf_same { 1e-3 } else { 1e-5 })
                .init(self.dev)
        });
        let oh = conv_out(h, spec.k, spec.s, pt, pb);
        let ow = conv_out(w, spec.k, spec.s, pl, pr);
        let out_el = (spec.out * oh * ow) as u64;
        let macs = out_el * (c / spec.groups * spec.k * spec.k) as u64;
        let extra = out_el * (u64::from(spec.bn) * 2 + u64::from(spec.act != Act::None));
        (
            ConvBnAct {
                conv,
                bn,
                act: spec.act,
            },
            [spec.out, oh, ow],
            2 * macs + extra,
        )
    }

    fn push(&mut self, name: String, stage: Stage, out: [usize; 3], flops: u64) {
        use burn::module::Module;
        let params = stage.num_params() - self.running.take();
        self.infos.push(StageInfo {
            name,
            output_shape: out,
            params,
            flops,
        });
        self.stages.push(stage);
        self.shape = out;
    }

    fn maxpool(
        &self,
        shape: [usize; 3],
        k: usize,
        s: usize,
        p: usize,
    ) -> (burn::nn::pool::MaxPool2d, [usize; 3], u64) {
        let pool = MaxPool2dConfig::new([k, k])
            .with_strides([s, s])
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .init();
        let out = [
            shape[0],
            conv_out(shape[1], k, s, p, p),
            conv_out(shape[2], k, s, p, p),
        ];
        let flops = (out[0] * out[1] * out[2] * k * k) as u64;
        (pool, out, flops)
    }

    /// Appends the convolution stage `name` of `spec` on the current shape.
    fn conv_stage(&mut self, name: String, spec: ConvSpec) {
        let (conv, out, f) = self.conv(self.shape, spec);
        self.push(name, Stage::Conv(conv), out, f);
    }

    /// Appends the max-pooling stage `name` (`k` x `k` window, stride `s`, padding `p`) on the current
    /// shape.
    fn maxpool_stage(&mut self, name: String, k: usize, s: usize, p: usize) {
        let (pool, out, f) = self.maxpool(self.shape, k, s, p);
        self.push(name, Stage::Pool(PoolStage { pool }), out, f);
    }

    fn dense(&mut self, name: &str, out: usize, act: Act) {
        let inp = self.shape.iter().product::<usize>();
        let linear = LinearConfig::new(inp, out).init(self.dev);
        let flops = 2 * (inp * out) as u64 + out as u64;
        self.push(
            name.into(),
            Stage::Dense(DenseStage { linear, act }),
            [out, 1, 1],
            flops,
        );
    }

    fn head(&mut self, conv: Option<ConvSpec>, classes: usize) {
        let (conv, shape, mut flops) = match conv {
            Some(spec) => {
                let (c, s, f) = self.conv(self.shape, spec);
                (Some(c), s, f)
            }
            None => (None, self.shape, 0),
        };
        flops += (shape[0] * shape[1] * shape[2]) as u64 + 2 * (shape[0] * classes) as u64;
        let fc = LinearConfig::new(shape[0], classes).init(self.dev);
        let head = HeadStage {
            conv,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc,
        };
        self.push("head".into(), Stage::Head(head), [classes, 1, 1], flops);
    }
}

/// Builds the staged model `arch` with freshly initialised weights on `device`.
///
/// # Errors
/// [`crate::Error::Invalid`] for a zero class/channel count, a width multiplier outside (0, 4], an input size too small
/// for the architecture, or a VGG-16 input size that is not a multiple of 32.
pub fn build(arch: &ArchConfig, device: &Device) -> Result<StagedModel> {
    arch.validate()?;
    let input_shape = [arch.in_channels, arch.input_size, arch.input_size];
    let mut b = Builder {
        dev: device,
        shape: input_shape,
        stages: Vec::new(),
        infos: Vec::new(),
        running: std::cell::Cell::new(0),
    };
    let plain = |out, k, s, act| ConvSpec {
        out,
        k,
        s,
        groups: 1,
        bn: false,
        bias: true,
        act,
        tf_same: false,
    };
    let bn = |out, k, s, act| ConvSpec {
        out,
        k,
        s,
        groups: 1,
        bn: true,
        bias: false,
        act,
        tf_same: false,
    };
    match arch.kind {
        ArchKind::TabularMlp => {
            for (i, &h) in crate::arch::TABULAR_HIDDEN.iter().enumerate() {
                b.dense(&format!("fc{}", i + 1), arch.ch(h), Act::Relu);
            }
            b.dense("out", arch.classes, Act::None);
        }
        ArchKind::SmallCnn => {
            for (i, c) in [32usize, 64].into_iter().enumerate() {
                b.conv_stage(format!("conv{}", i + 1), plain(arch.ch(c), 3, 1, Act::Relu));
                b.maxpool_stage(format!("pool{}", i + 1), 2, 2, 0);
            }
            b.dense("fc1", arch.ch(128), Act::Relu);
            b.dense("fc2", arch.classes, Act::None);
        }
        ArchKind::Vgg16 => {
            let cfg: [&[usize]; 5] = [
                &[64, 64],
                &[128, 128],
                &[256, 256, 256],
                &[512, 512, 512],
                &[512, 512, 512],
            ];
            for (blk, convs) in cfg.iter().enumerate() {
                for (j, &c) in convs.iter().enumerate() {
                    let name = format!("conv{}_{}", blk + 1, j + 1);
                    b.conv_stage(name, plain(arch.ch(c), 3, 1, Act::Relu));
                }
                b.maxpool_stage(format!("pool{}", blk + 1), 2, 2, 0);
            }
            b.dense("fc6", arch.ch(4096), Act::Relu);
            b.dense("fc7", arch.ch(4096), Act::Relu);
            b.dense("fc8", arch.classes, Act::None);
        }
        ArchKind::ResNet50 => {
            let (conv, s1, f1) = b.conv(b.shape, bn(arch.ch(64), 7, 2, Act::Relu));
            let (pool, out, f2) = b.maxpool(s1, 3, 2, 1);
            b.push(
                "stem".into(),
                Stage::Stem(StemStage {
                    conv,
                    pool: Some(pool),
                }),
                out,
                f1 + f2,
            );
            for (layer, (planes, blocks, stride)) in
                [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]
                    .into_iter()
                    .enumerate()
            {
                for i in 0..blocks {
                    let s = if i == 0 { stride } else { 1 };
                    let p = arch.ch(planes);
                    let inp = b.shape;
                    let (conv1, o1, fa) = b.conv(inp, bn(p, 1, 1, Act::Relu));
                    let (conv2, o2, fb) = b.conv(o1, bn(p, 3, s, Act::Relu));
                    let (conv3, o3, fc) = b.conv(o2, bn(p * 4, 1, 1, Act::None));
                    let (downsample, fd) = if s != 1 || inp[0] != p * 4 {
                        let (d, _, fd) = b.conv(inp, bn(p * 4, 1, s, Act::None));
                        (Some(d), fd)
                    } else {
                        (None, 0)
                    };
                    let sum = 2 * (o3[0] * o3[1] * o3[2]) as u64;
                    b.push(
                        format!("layer{}.{}", layer + 1, i),
                        Stage::Bottleneck(Bottleneck {
                            conv1,
                            conv2,
                            conv3,
                            downsample,
                        }),
                        o3,
                        fa + fb + fc + fd + sum,
                    );
                }
            }
            b.head(None, arch.classes);
        }
        ArchKind::EfficientNetB0 | ArchKind::EfficientNetLite0 => {
            let lite = arch.kind == ArchKind::EfficientNetLite0;
            let act = if lite { Act::Relu6 } else { Act::Silu };
            let spec = |out, k, s, groups, act| ConvSpec {
                out,
                k,
                s,
                groups,
                bn: true,
                bias: false,
                act,
                tf_same: lite,
            };
            let stem_c = if lite { 32 } else { arch.ch(32) };
            let (conv, out, f) = b.conv(b.shape, spec(stem_c, 3, 2, 1, act));
            b.push(
                "stem".into(),
                Stage::Stem(StemStage { conv, pool: None }),
                out,
                f,
            );
            // (expand ratio, kernel, stride, output channels, repeats): Tan & Le 2019, Table 1.
            let table = [
                (1, 3, 1, 16, 1),
                (6, 3, 2, 24, 2),
                (6, 5, 2, 40, 2),
                (6, 3, 2, 80, 3),
                (6, 5, 1, 112, 3),
                (6, 5, 2, 192, 4),
                (6, 3, 1, 320, 1),
            ];
            let mut idx = 0;
            for (e, k, stride, c_out, reps) in table {
                for r in 0..reps {
                    let s = if r == 0 { stride } else { 1 };
                    let inp = b.shape;
                    let c_in = inp[0];
                    let c_out = arch.ch(c_out);
                    let hidden = c_in * e;
                    let mut flops = 0;
                    let (expand, o1) = if e != 1 {
                        let (c, o, f) = b.conv(inp, spec(hidden, 1, 1, 1, act));
                        flops += f;
                        (Some(c), o)
                    } else {
                        (None, inp)
                    };
                    let (depthwise, o2, f) = b.conv(o1, spec(hidden, k, s, hidden, act));
                    flops += f;
                    let se = (!lite).then(|| {
                        let sq = ((c_in as f64 * 0.25) as usize).max(1);
                        flops += (o2[0] * o2[1] * o2[2]) as u64 * 2 + 4 * (hidden * sq) as u64;
                        SqueezeExcite {
                            reduce: Conv2dConfig::new([hidden, sq], [1, 1]).init(b.dev),
                            expand: Conv2dConfig::new([sq, hidden], [1, 1]).init(b.dev),
                            act,
                        }
                    });
                    let (project, o3, f) = b.conv(o2, spec(c_out, 1, 1, 1, Act::None));
                    flops += f;
                    let residual = s == 1 && c_in == c_out;
                    if residual {
                        flops += (o3[0] * o3[1] * o3[2]) as u64;
                    }
                    b.push(
                        format!("block{idx}"),
                        Stage::MbConv(MbConv {
                            expand,
                            depthwise,
                            se,
                            project,
                            residual,
                        }),
                        o3,
                        flops,
                    );
                    idx += 1;
                }
            }
            let head_c = if lite { 1280 } else { arch.ch(1280) };
            b.head(Some(spec(head_c, 1, 1, 1, act)), arch.classes);
        }
    }
    let meta = ModelMeta {
        arch: arch.clone(),
        input_shape,
        infos: b.infos,
    };
    StagedModel::from_parts(b.stages, meta)
}

#[cfg(test)]
mod tests;
