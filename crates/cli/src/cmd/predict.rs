//! `privsplit predict`: top-5 ImageNet classes of image files with a zoo model and its weights, to check that
//! the weights are right before sweeping.

use std::path::PathBuf;

use privsplit_models::arch::ArchKind;
use privsplit_models::device::device_name;
use privsplit_models::imagenet::predict_files;
use privsplit_models::zoo::ArchConfig;

/// Arguments of `privsplit predict`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The architecture (an ImageNet model: 1000 classes).
    #[arg(long, value_enum)]
    pub arch: ArchKind,
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
    /// Where the forward pass runs, and CPU threads.
    #[command(flatten)]
    pub device: super::DeviceArgs,
}

/// Runs `privsplit predict`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let choice = a.device.apply()?.unwrap_or_default();
    let arch = ArchConfig::image(a.arch, a.input_size)?;
    let dev = choice.resolve()?;
    let all = predict_files(&arch, &a.weights, &a.images, a.top, &dev)?;
    println!("device: {}", device_name(&dev));
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
