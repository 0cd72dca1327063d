//! Staged (splittable) models: an ordered list of stages, the natural cut units of an architecture.
//!
//! A model with `n` stages has the partition points `k = 0..=n`. Partition point `k` splits the model into
//! the *trusted* partition `[0, k)` (runs inside the enclave) and the *untrusted* partition `[k, n)` (runs on
//! the host / accelerator); the feature map at `k` (the output of stage `k - 1`, or the input image when
//! `k = 0`) is what the untrusted host sees (background.md §1). Running the two partitions in sequence equals
//! the full model exactly (same stages, same order, same floating-point operations).
//!
//! Every feature map is a `Tensor<4>` `[batch, channels, height, width]`; flat vectors (after a fully
//! connected layer) are `[batch, features, 1, 1]`.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AdaptiveAvgPool2d, MaxPool2d};
use burn::nn::{BatchNorm, Linear};
use burn::tensor::activation::{relu, relu6, sigmoid, silu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::arch::ArchConfig;
use crate::{Error, Result};

/// Element-wise activation after a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    /// Identity.
    #[default]
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)` (MobileNet / EfficientNet-Lite).
    Relu6,
    /// `x * sigmoid(x)` (swish; EfficientNet).
    Silu,
}

impl Act {
    /// Applies the activation.
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Act::None => x,
            Act::Relu => relu(x),
            Act::Relu6 => relu6(x),
            Act::Silu => silu(x),
        }
    }
}

/// Convolution, optional batch normalisation, activation: `act(bn(conv(x)))`.
#[derive(Module, Debug)]
pub struct ConvBnAct {
    /// The convolution.
    pub conv: Conv2d,
    /// Batch normalisation (absent in VGG-16 and the small CNN).
    pub bn: Option<BatchNorm>,
    /// The activation.
    #[module(skip)]
    pub act: Act,
}

impl ConvBnAct {
    /// `[b, c_in, h, w] -> [b, c_out, h', w']`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv.forward(x);
        let x = match &self.bn {
            Some(bn) => bn.forward(x),
            None => x,
        };
        self.act.apply(x)
    }
}

/// A max-pooling stage (VGG-16, small CNN).
#[derive(Module, Debug)]
pub struct PoolStage {
    /// The pooling layer.
    pub pool: MaxPool2d,
}

/// A fully connected stage: flattens `[b, c, h, w]` to `[b, c*h*w]`, applies `act(linear(.))` and returns
/// `[b, features, 1, 1]`.
#[derive(Module, Debug)]
pub struct DenseStage {
    /// The fully connected layer (burn stores its weight as `[in, out]`).
    pub linear: Linear,
    /// The activation.
    #[module(skip)]
    pub act: Act,
}

/// A stem: a convolution block optionally followed by max pooling (ResNet-50: 7x7/2 conv + 3x3/2 max pool;
/// EfficientNet: 3x3/2 conv).
#[derive(Module, Debug)]
pub struct StemStage {
    /// The convolution block.
    pub conv: ConvBnAct,
    /// Optional max pooling after it.
    pub pool: Option<MaxPool2d>,
}

/// ResNet bottleneck block (He et al. 2016, "Deep Residual Learning", Table 1; stride on the 3x3 conv as in
/// torchvision's ResNet v1.5): `relu(bn(conv1x1(relu(bn(conv3x3(relu(bn(conv1x1(x)))))))) + shortcut(x))`.
#[derive(Module, Debug)]
pub struct Bottleneck {
    /// 1x1 reduce.
    pub conv1: ConvBnAct,
    /// 3x3 (carries the stride).
    pub conv2: ConvBnAct,
    /// 1x1 expand (no activation before the sum).
    pub conv3: ConvBnAct,
    /// Projection shortcut (1x1 conv + bn) when the shape changes.
    pub downsample: Option<ConvBnAct>,
}

/// Squeeze-and-excitation (Hu et al. 2018): `x * sigmoid(expand(act(reduce(avgpool(x)))))`.
#[derive(Module, Debug)]
pub struct SqueezeExcite {
    /// 1x1 conv reducing channels (with bias).
    pub reduce: Conv2d,
    /// 1x1 conv restoring channels (with bias).
    pub expand: Conv2d,
    /// Activation between them.
    #[module(skip)]
    pub act: Act,
}

/// Mobile inverted bottleneck (MBConv; Sandler et al. 2018, Tan & Le 2019 "EfficientNet" Table 1):
/// optional 1x1 expansion, depthwise conv, optional squeeze-excitation, 1x1 projection, identity skip when
/// stride 1 and the channel count is unchanged.
#[derive(Module, Debug)]
pub struct MbConv {
    /// 1x1 expansion (absent when the expand ratio is 1).
    pub expand: Option<ConvBnAct>,
    /// Depthwise k x k conv (carries the stride).
    pub depthwise: ConvBnAct,
    /// Squeeze-excitation (absent in EfficientNet-Lite).
    pub se: Option<SqueezeExcite>,
    /// 1x1 projection (no activation).
    pub project: ConvBnAct,
    /// Whether the identity skip connection is used.
    #[module(skip)]
    pub residual: bool,
}

/// Classifier head: optional 1x1 conv block, global average pooling, fully connected layer; output
/// `[b, classes, 1, 1]` (logits).
#[derive(Module, Debug)]
pub struct HeadStage {
    /// Optional 1x1 conv block before pooling (EfficientNet).
    pub conv: Option<ConvBnAct>,
    /// Global average pooling.
    pub pool: AdaptiveAvgPool2d,
    /// Fully connected classifier (burn stores its weight as `[in, out]`).
    pub fc: Linear,
}

/// One stage: the cut unit of a staged model.
#[derive(Module, Debug)]
pub enum Stage {
    /// A convolution block.
    Conv(ConvBnAct),
    /// Max pooling.
    Pool(PoolStage),
    /// A fully connected layer on the flattened input.
    Dense(DenseStage),
    /// A stem.
    Stem(StemStage),
    /// A ResNet bottleneck block.
    Bottleneck(Bottleneck),
    /// An MBConv block.
    MbConv(MbConv),
    /// A classifier head.
    Head(HeadStage),
}

impl Stage {
    /// Runs the stage on `[b, c, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Stage::Conv(c) => c.forward(x),
            Stage::Pool(p) => p.pool.forward(x),
            Stage::Dense(d) => {
                let b = x.dims()[0];
                let y = d.act.apply(d.linear.forward(x.flatten::<2>(1, 3)));
                let f = y.dims()[1];
                y.reshape([b, f, 1, 1])
            }
            Stage::Stem(s) => {
                let x = s.conv.forward(x);
                match &s.pool {
                    Some(p) => p.forward(x),
                    None => x,
                }
            }
            Stage::Bottleneck(bl) => {
                let shortcut = match &bl.downsample {
                    Some(d) => d.forward(x.clone()),
                    None => x.clone(),
                };
                let y = bl.conv3.forward(bl.conv2.forward(bl.conv1.forward(x)));
                relu(y + shortcut)
            }
            Stage::MbConv(m) => {
                let input = x.clone();
                let x = match &m.expand {
                    Some(e) => e.forward(x),
                    None => x,
                };
                let x = m.depthwise.forward(x);
                let x = match &m.se {
                    Some(se) => {
                        let [b, c, _, _] = x.dims();
                        let s = x.clone().mean_dim(3).mean_dim(2).reshape([b, c, 1, 1]);
                        let s = sigmoid(se.expand.forward(se.act.apply(se.reduce.forward(s))));
                        x * s
                    }
                    None => x,
                };
                let x = m.project.forward(x);
                if m.residual {
                    x + input
                } else {
                    x
                }
            }
            Stage::Head(h) => {
                let x = match &h.conv {
                    Some(c) => c.forward(x),
                    None => x,
                };
                let x = h.pool.forward(x);
                let b = x.dims()[0];
                let y = h.fc.forward(x.flatten::<2>(1, 3));
                let f = y.dims()[1];
                y.reshape([b, f, 1, 1])
            }
        }
    }
}

/// Static description of one stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageInfo {
    /// Stage name (e.g. `conv1`, `layer2.3`, `block5`, `head`).
    pub name: String,
    /// Output feature map shape `[channels, height, width]`; flat outputs are `[features, 1, 1]`.
    pub output_shape: [usize; 3],
    /// Number of trainable parameters of the stage (batch-norm running statistics excluded).
    pub params: usize,
    /// Floating-point operations of one forward pass of one image through the stage (a multiply-add counts
    /// as 2; activations, pooling and batch normalisation counted as 1 per element).
    pub flops: u64,
}

/// Architecture-level metadata shared by a staged model and its partitions.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelMeta {
    /// The architecture the model was built from.
    pub arch: ArchConfig,
    /// Input shape `[channels, height, width]`.
    pub input_shape: [usize; 3],
    /// One entry per stage.
    pub infos: Vec<StageInfo>,
}

impl ModelMeta {
    /// Shape of the feature map at partition point `k` (`k = 0`: the input).
    pub fn shape_at(&self, k: usize) -> [usize; 3] {
        if k == 0 {
            self.input_shape
        } else {
            self.infos
                .get(k - 1)
                .map(|i| i.output_shape)
                .unwrap_or(self.input_shape)
        }
    }
}

fn check_input(what: &str, x: &Tensor<4>, expected: [usize; 3]) -> Result<()> {
    let d = x.dims();
    if d[1..] != expected {
        return Err(Error::Invalid {
            what: what.to_string(),
            expected: format!("[batch, {}, {}, {}]", expected[0], expected[1], expected[2]),
            got: format!("{d:?}"),
        });
    }
    Ok(())
}

/// A model as an ordered list of stages (a burn [`Module`]).
///
/// Tensor names in weight files are `stages.<global stage index>.<Variant>.<layer>...`, the same for the
/// full model and for both of its partitions, so one weight file serves all three.
#[derive(Module, Debug)]
pub struct StagedModel {
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// Architecture metadata (not a parameter).
    #[module(skip)]
    pub meta: ModelMeta,
}

impl StagedModel {
    /// Assembles a model from built stages. The caller (the zoo) guarantees `stages.len() == meta.infos.len()`.
    pub fn from_parts(stages: Vec<Stage>, meta: ModelMeta) -> Result<Self> {
        if stages.len() != meta.infos.len() {
            return Err(Error::Invalid {
                what: "staged model".into(),
                expected: format!("{} stage infos", stages.len()),
                got: format!("{}", meta.infos.len()),
            });
        }
        Ok(Self { stages, meta })
    }

    /// Number of stages `n`; the partition points are `k = 0..=n`.
    pub fn num_stages(&self) -> usize {
        self.stages.len()
    }

    /// Name, output shape, parameter count and FLOPs of every stage.
    pub fn stage_infos(&self) -> Vec<StageInfo> {
        self.meta.infos.clone()
    }

    /// Input shape `[channels, height, width]`.
    pub fn input_shape(&self) -> [usize; 3] {
        self.meta.input_shape
    }

    /// Output shape `[classes, 1, 1]`.
    pub fn output_shape(&self) -> [usize; 3] {
        self.meta.shape_at(self.num_stages())
    }

    /// Shape `[c, h, w]` of the feature map at partition point `k`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `k > n`.
    pub fn shape_at(&self, k: usize) -> Result<[usize; 3]> {
        check_point(k, self.num_stages())?;
        Ok(self.meta.shape_at(k))
    }

    /// The architecture this model was built from.
    pub fn arch(&self) -> &ArchConfig {
        &self.meta.arch
    }

    /// Metadata (architecture, shapes).
    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    /// Runs stages `[from, to)` on `x` = the feature map at partition point `from`, `[batch, c, h, w]`, and
    /// returns the feature map at `to`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `from > to`, `to > n`, or `x` does not have the shape of the feature map at
    /// `from`.
    pub fn forward_range(&self, x: Tensor<4>, from: usize, to: usize) -> Result<Tensor<4>> {
        check_range(from, to, self.num_stages())?;
        check_input(
            &format!("input of stages [{from}, {to})"),
            &x,
            self.meta.shape_at(from),
        )?;
        let mut x = x;
        for s in &self.stages[from..to] {
            x = s.forward(x);
        }
        Ok(x)
    }

    /// Full forward pass: `[batch, c, h, w]` -> logits `[batch, classes]`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `x` does not have the model's input shape.
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        let y = self.forward_range(x, 0, self.num_stages())?;
        Ok(y.flatten::<2>(1, 3))
    }

    /// Splits at partition point `k`: (trusted `[0, k)`, untrusted `[k, n)`).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `k > n`.
    pub fn split(self, k: usize) -> Result<(Partition, Partition)> {
        let n = self.num_stages();
        check_point(k, n)?;
        let mut trusted = Vec::with_capacity(n);
        let mut untrusted = Vec::with_capacity(n);
        for (i, s) in self.stages.into_iter().enumerate() {
            if i < k {
                trusted.push(Some(s));
                untrusted.push(None);
            } else {
                trusted.push(None);
                untrusted.push(Some(s));
            }
        }
        Ok((
            Partition {
                stages: trusted,
                meta: self.meta.clone(),
                from: 0,
                to: k,
            },
            Partition {
                stages: untrusted,
                meta: self.meta,
                from: k,
                to: n,
            },
        ))
    }

    /// Joins a trusted partition `[0, k)` and an untrusted partition `[k, n)` of the same architecture back
    /// into a model (the inverse of [`StagedModel::split`]); e.g. after training the two partitions apart.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the ranges do not meet at one partition point and cover `[0, n)`, or the
    /// architectures differ.
    pub fn join(trusted: Partition, untrusted: Partition) -> Result<Self> {
        let n = trusted.stages.len();
        let ok = trusted.from == 0
            && trusted.to == untrusted.from
            && untrusted.to == n
            && untrusted.stages.len() == n
            && trusted.meta.arch == untrusted.meta.arch;
        if !ok {
            return Err(Error::Invalid {
                what: "partitions to join".into(),
                expected: format!("[0, k) and [k, {n}) of one architecture"),
                got: format!(
                    "[{}, {}) and [{}, {})",
                    trusted.from, trusted.to, untrusted.from, untrusted.to
                ),
            });
        }
        let k = trusted.to;
        let mut stages = Vec::with_capacity(n);
        for (i, (t, u)) in trusted.stages.into_iter().zip(untrusted.stages).enumerate() {
            let s = if i < k { t } else { u };
            stages.push(s.ok_or_else(|| Error::Invalid {
                what: "partitions to join".into(),
                expected: format!("stage {i} filled"),
                got: "an empty slot".into(),
            })?);
        }
        Self::from_parts(stages, trusted.meta)
    }

    /// The partition `[from, to)` of this model (a copy of those stages).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `from > to` or `to > n`.
    pub fn partition(&self, from: usize, to: usize) -> Result<Partition> {
        check_range(from, to, self.num_stages())?;
        let stages = self
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| (from <= i && i < to).then(|| s.clone()))
            .collect();
        Ok(Partition {
            stages,
            meta: self.meta.clone(),
            from,
            to,
        })
    }
}

fn check_point(k: usize, n: usize) -> Result<()> {
    if k > n {
        return Err(Error::Invalid {
            what: "partition point".into(),
            expected: format!("0..={n}"),
            got: k.to_string(),
        });
    }
    Ok(())
}

fn check_range(from: usize, to: usize, n: usize) -> Result<()> {
    check_point(from, n)?;
    check_point(to, n)?;
    if from > to {
        return Err(Error::Invalid {
            what: "stage range".into(),
            expected: format!("from <= to <= {n}"),
            got: format!("[{from}, {to})"),
        });
    }
    Ok(())
}

/// A contiguous range of stages `[from, to)` of a staged model (a burn [`Module`]).
///
/// Holds `n` slots; only the slots inside the range are filled, so tensor names in weight files are the same
/// as the full model's (`stages.<global index>...`).
#[derive(Module, Debug)]
pub struct Partition {
    /// `n` slots, `Some` exactly for the stages in `[from, to)`.
    pub stages: Vec<Option<Stage>>,
    /// Architecture metadata (not a parameter).
    #[module(skip)]
    pub meta: ModelMeta,
    /// First stage (inclusive).
    #[module(skip)]
    pub from: usize,
    /// Last stage (exclusive).
    #[module(skip)]
    pub to: usize,
}

impl Partition {
    /// `(from, to)`: the stage range `[from, to)`.
    pub fn range(&self) -> (usize, usize) {
        (self.from, self.to)
    }

    /// Shape `[c, h, w]` of the feature map this partition consumes (at partition point `from`).
    pub fn input_shape(&self) -> [usize; 3] {
        self.meta.shape_at(self.from)
    }

    /// Shape `[c, h, w]` of the feature map this partition produces (at partition point `to`).
    pub fn output_shape(&self) -> [usize; 3] {
        self.meta.shape_at(self.to)
    }

    /// Infos of the stages in `[from, to)`.
    pub fn stage_infos(&self) -> Vec<StageInfo> {
        self.meta.infos[self.from..self.to].to_vec()
    }

    /// Total FLOPs of one image through the partition.
    pub fn flops(&self) -> u64 {
        self.stage_infos().iter().map(|i| i.flops).sum()
    }

    /// Total parameter count of the partition.
    pub fn params(&self) -> usize {
        self.stage_infos().iter().map(|i| i.params).sum()
    }

    /// The architecture the model was built from.
    pub fn arch(&self) -> &ArchConfig {
        &self.meta.arch
    }

    /// Runs the partition on the feature map at `from`, `[batch, c, h, w]`, returning the feature map at `to`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `x` does not have shape `[batch, input_shape()]`.
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        check_input(
            &format!("input of partition [{}, {})", self.from, self.to),
            &x,
            self.input_shape(),
        )?;
        let mut x = x;
        for s in self.stages[self.from..self.to].iter().flatten() {
            x = s.forward(x);
        }
        Ok(x)
    }

    /// Moves the partition to `device` (e.g. a `cuda` device for the untrusted partition).
    pub fn on_device(self, device: &Device) -> Self {
        self.to_device(device)
    }
}
