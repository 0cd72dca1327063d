//! Architecture configs: which zoo model, its input size, class count and width (serde, with a named
//! constructor per published variant, each citing its source in [`crate::zoo`]).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Which architecture (`--arch` on the command line: `small-cnn`, `vgg16`, `resnet50`, `efficientnet-b0`,
/// `efficientnet-lite0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ArchKind {
    /// Small CNN for 28x28 grey images: conv1, pool1, conv2, pool2, fc1, fc2 (6 stages).
    SmallCnn,
    /// VGG-16: 13 conv stages, 5 pool stages, fc6, fc7, fc8 (21 stages).
    Vgg16,
    /// ResNet-50: stem, 16 bottleneck blocks, head (18 stages).
    #[cfg_attr(feature = "clap", value(name = "resnet50"))]
    ResNet50,
    /// EfficientNet-B0: stem, 16 MBConv blocks, head (18 stages).
    #[cfg_attr(feature = "clap", value(name = "efficientnet-b0"))]
    EfficientNetB0,
    /// EfficientNet-Lite0: stem, 16 MBConv blocks, head (18 stages).
    #[cfg_attr(feature = "clap", value(name = "efficientnet-lite0"))]
    EfficientNetLite0,
    /// Tabular MLP (intrusion detection on TON_IoT rows): input `[features, 1, 1]` (`in_channels` =
    /// features, `input_size` = 1), hidden fc1..fc4 of [`TABULAR_HIDDEN`] units (x width) with
    /// ReLU, then the output layer (5 stages; see [`crate::tabular`]).
    #[cfg_attr(feature = "clap", value(skip))]
    TabularMlp,
}

/// Hidden-layer widths of the tabular MLP at width multiplier 1.
pub const TABULAR_HIDDEN: [usize; 4] = [256, 128, 64, 32];

/// An architecture with its input size, class count and width multiplier (serde; named constructors).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchConfig {
    /// The architecture.
    pub kind: ArchKind,
    /// Input channels (1 for grey, 3 for RGB).
    pub in_channels: usize,
    /// Input height and width in pixels (square).
    pub input_size: usize,
    /// Number of output classes.
    pub classes: usize,
    /// Channel width multiplier (1.0 = the paper's widths; smaller for CPU tests).
    pub width: f64,
}

impl ArchConfig {
    /// The small Fashion-MNIST CNN: 1x28x28 input, 10 classes, conv 32/64 channels, 128 hidden units.
    pub fn small_cnn() -> Self {
        Self {
            kind: ArchKind::SmallCnn,
            in_channels: 1,
            input_size: 28,
            classes: 10,
            width: 1.0,
        }
    }
    /// VGG-16 on 3 x `input_size` x `input_size` (`input_size` a multiple of 32).
    pub fn vgg16(input_size: usize, classes: usize) -> Self {
        Self {
            kind: ArchKind::Vgg16,
            in_channels: 3,
            input_size,
            classes,
            width: 1.0,
        }
    }
    /// ResNet-50 on 3 x `input_size` x `input_size`.
    pub fn resnet50(input_size: usize, classes: usize) -> Self {
        Self {
            kind: ArchKind::ResNet50,
            in_channels: 3,
            input_size,
            classes,
            width: 1.0,
        }
    }
    /// EfficientNet-B0 on 3 x `input_size` x `input_size`.
    pub fn efficientnet_b0(input_size: usize, classes: usize) -> Self {
        Self {
            kind: ArchKind::EfficientNetB0,
            in_channels: 3,
            input_size,
            classes,
            width: 1.0,
        }
    }
    /// EfficientNet-Lite0 on 3 x `input_size` x `input_size` (1000 classes for the ImageNet weights).
    pub fn efficientnet_lite0(input_size: usize, classes: usize) -> Self {
        Self {
            kind: ArchKind::EfficientNetLite0,
            in_channels: 3,
            input_size,
            classes,
            width: 1.0,
        }
    }
    /// Same architecture with channel widths scaled by `width` (e.g. 0.25 for fast CPU tests).
    pub fn with_width(mut self, width: f64) -> Self {
        self.width = width;
        self
    }
    /// Same architecture with another input channel count.
    pub fn with_in_channels(mut self, c: usize) -> Self {
        self.in_channels = c;
        self
    }

    /// Coarse partition points: the input (`k = 0`), the end of the stem, the end of every stage of the
    /// published design, and the logits (after the head), ascending. VGG-16: after each pool and each fc
    /// layer (Simonyan & Zisserman 2015, Table 1, configuration D); ResNet-50: stem, `layer1`..`layer4`,
    /// head (He et al. 2016, Table 1: 3, 4, 6, 3 blocks); EfficientNet-B0/Lite0: stem, the seven MBConv
    /// stages (Tan & Le 2019, Table 1: 1, 2, 2, 3, 3, 4, 1 blocks), head. The small CNN and the tabular MLP
    /// are small enough that every point is coarse.
    pub fn coarse_points(&self) -> Vec<usize> {
        match self.kind {
            ArchKind::Vgg16 => vec![0, 3, 6, 10, 14, 18, 19, 20, 21],
            ArchKind::ResNet50 => vec![0, 1, 4, 8, 14, 17, 18],
            ArchKind::EfficientNetB0 | ArchKind::EfficientNetLite0 => {
                vec![0, 1, 2, 4, 6, 9, 12, 16, 17, 18]
            }
            ArchKind::SmallCnn => (0..=6).collect(),
            ArchKind::TabularMlp => (0..=TABULAR_HIDDEN.len() + 1).collect(),
        }
    }

    pub(crate) fn ch(&self, c: usize) -> usize {
        if (self.width - 1.0).abs() < f64::EPSILON {
            c
        } else {
            ((c as f64 * self.width).round() as usize).max(4)
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |expected: &str, got: String| {
            Err(Error::Invalid {
                what: "architecture config".into(),
                expected: expected.into(),
                got,
            })
        };
        if self.in_channels == 0 || self.classes == 0 {
            return bad(
                "in_channels >= 1 and classes >= 1",
                format!("in_channels {}, classes {}", self.in_channels, self.classes),
            );
        }
        if !(self.width > 0.0 && self.width <= 4.0) {
            return bad("width multiplier in (0, 4]", self.width.to_string());
        }
        let min = match self.kind {
            ArchKind::TabularMlp => 1,
            ArchKind::SmallCnn => 4,
            _ => 32,
        };
        if self.input_size < min {
            return bad(&format!("input_size >= {min}"), self.input_size.to_string());
        }
        if self.kind == ArchKind::Vgg16 && !self.input_size.is_multiple_of(32) {
            return bad(
                "VGG-16 input_size a multiple of 32",
                self.input_size.to_string(),
            );
        }
        Ok(())
    }
}
