//! `privsplit sweep`: partition-point sweep with reconstruction attacks (c-GAN, inverse network, white-box
//! rMLE) and an enclave cost model; recommends the earliest (or cheapest) safe partition point. `privsplit
//! sweep merge` joins reports of subsets; `privsplit sweep --onnx FILE [--cut NODE,...]` attacks any ONNX
//! model black-box.

use std::path::PathBuf;

use privsplit_experiments::sweep::config::LITE0_DEFAULT_SIZE;
use privsplit_experiments::sweep::onnx::onnx_listing;
use privsplit_experiments::sweep::{
    merge_job, run_job, ImageSource, OnnxSpec, SweepConfig, SweepJob, SweepOverrides, SweepPreset,
    SweepSource,
};
use privsplit_models::arch::ArchKind;
use privsplit_models::zoo::ArchConfig;

/// Arguments of `privsplit sweep`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// `merge`: join the reports of sweeps of disjoint partition-point subsets.
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    /// Preset: `fashion` (small CNN on Fashion-MNIST, all three attacks), `tiny` (about a minute; smoke
    /// test) or `lite0` (pretrained EfficientNet-Lite0, all three attacks on crops of the packaged photos).
    #[arg(long, value_enum, default_value = "fashion")]
    pub preset: SweepPreset,
    /// Sweep a zoo architecture instead of a preset: the ImageNet models on RGB crops (--images, default
    /// the packaged photos) at --size px over their coarse points; without --weights, seeded random
    /// weights, labelled UNTRAINED in every output. `small-cnn` is the `fashion` preset.
    #[arg(long, value_enum, conflicts_with = "preset")]
    pub arch: Option<ArchKind>,
    /// Any ONNX model instead of a preset, attacked black-box: its graph runs on the CPU (tract) up to
    /// each --cut node and the c-GAN and inverse network train on those feature maps (crops of --images at
    /// --size). Without --cut: list the candidate cut nodes. White-box rMLE is NOT available for ONNX
    /// models (it needs gradients through the trusted partition): it stays with --arch and --preset.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["preset", "arch"])]
    pub onnx: Option<PathBuf>,
    /// Cut nodes of the --onnx model, comma-separated (node or output-tensor names from the listing).
    #[arg(long, value_delimiter = ',', requires = "onnx", value_name = "NODE")]
    pub cut: Option<Vec<String>>,
    /// Partition points, attacks, safety rule, enclave cost model and sizes (default: the preset's).
    #[command(flatten)]
    pub overrides: SweepOverrides,
    /// Seed of every random step (classifier, attacks, bootstrap, distractors); default: the preset's seeds.
    #[arg(long, conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// Repeat the sweep with each seed (comma-separated) and report mean +- std per point and attack.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Option<Vec<u64>>,
    /// Input size of the ImageNet and --onnx models (pixels; 224 = the pretrained resolution; VGG-16: a
    /// multiple of 32).
    #[arg(long, visible_alias = "size", default_value_t = LITE0_DEFAULT_SIZE)]
    pub input_size: usize,
    /// Model weights to attack: for fashion/tiny, safetensors instead of training; for --arch, privsplit
    /// safetensors or a PyTorch / torchvision state dict (.pth/.pt/.safetensors; without it: UNTRAINED);
    /// for lite0 the pretrained weights, default $PRIVSPLIT_LITE0_WEIGHTS, else $PRIVSPLIT_DATA_DIR/, else
    /// the nearest data-cache/ folder: efficientnet_lite0.safetensors. Use the same file on every machine
    /// of a distributed sweep.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Fashion-MNIST folder (gzipped IDX).
    #[arg(long, default_value = privsplit_data::fashion_mnist::DEBIAN_DIR)]
    pub data_dir: PathBuf,
    /// Folder of PNG/JPEG photographs for the ImageNet and --onnx models, flat or class/image (a
    /// quarter of the photos for evaluation, the rest cut into the attacker's crops); default: the
    /// packaged scikit-image / scikit-learn photos.
    #[arg(long, visible_alias = "images-dir")]
    pub images: Option<PathBuf>,
    /// Folder under which the run folder is created.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Run-folder name prefix.
    #[arg(long, default_value = "sweep")]
    pub name: String,
    /// Device of the victim's and the attacks' training, and CPU threads.
    #[command(flatten)]
    pub device: super::DeviceArgs,
}

/// Subcommands of `privsplit sweep`.
#[derive(Debug, clap::Subcommand)]
pub enum SweepCommand {
    /// Join `report.json` files (or run folders) of disjoint partition-point subsets into one run folder.
    Merge {
        /// Reports (`report.json` or run folders holding one).
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Folder under which the merged run folder is created.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
    },
}

/// Runs `privsplit sweep`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let outcome = if let Some(SweepCommand::Merge { reports, out }) = &args.command {
        merge_job(reports, out)?
    } else if let (Some(path), None) = (&args.onnx, &args.cut) {
        print!("{}", onnx_listing(path, Some(args.input_size))?);
        return Ok(());
    } else {
        let imagenet = args.arch.filter(|a| *a != ArchKind::SmallCnn);
        let mut config = match (imagenet, &args.onnx, &args.cut) {
            (_, Some(f), Some(c)) => {
                SweepConfig::onnx(OnnxSpec::new(f.clone(), c.clone(), args.input_size))
            }
            (Some(a), ..) => SweepConfig::imagenet(ArchConfig::image(a, args.input_size)?),
            _ => args.preset.config(Some(args.input_size)),
        };
        args.overrides.apply(&mut config);
        config.device = args.device.apply()?.unwrap_or(config.device);
        let seeds = args.seeds.clone().or(args.seed.map(|s| vec![s]));
        let images = args.images.clone().map(ImageSource::Folder);
        let source = match &args.onnx {
            Some(_) => SweepSource::Onnx {
                images: images.unwrap_or_else(ImageSource::packaged),
            },
            None => SweepSource::choose(
                imagenet.is_some(),
                args.preset,
                args.data_dir.clone(),
                args.images.clone(),
                args.weights.clone(),
            ),
        };
        let job = SweepJob {
            config,
            source,
            out: args.out.clone(),
            name: args.name.clone(),
            seeds: seeds.unwrap_or_default(),
        };
        run_job(&job, &mut |s| eprintln!("{s}"))?
    };
    println!("{}", outcome.summary);
    println!("run folder: {}", outcome.folder.display());
    Ok(())
}
