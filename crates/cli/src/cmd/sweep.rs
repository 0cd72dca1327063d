//! `privsplit sweep`: partition-point sweep with reconstruction attacks (c-GAN, inverse network, white-box
//! rMLE) and an enclave cost model; recommends the earliest (or cheapest) safe partition point. `privsplit
//! sweep merge` joins reports of subsets; `privsplit sweep --onnx FILE [--cut NODE,...]` attacks any ONNX
//! model black-box.

use std::path::PathBuf;

use privsplit_attacks::ReconstructionAttack;
use privsplit_experiments::sweep::config::LITE0_DEFAULT_SIZE;
use privsplit_experiments::sweep::onnx::onnx_listing;
use privsplit_experiments::sweep::{
    merge_job, run_job, ImageSource, Objective, OnnxSpec, Reference, SafetyRule, SweepConfig,
    SweepJob, SweepPreset, SweepSource, TeeTarget,
};
use privsplit_models::weights::lite0_weights_path;

use super::arch::Arch;

/// One element of `--points`: a partition point, `coarse` (stem, each stage, head) or `all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointArg {
    /// Partition point `k`.
    K(usize),
    /// The coarse points (`SweepConfig::coarse_points`: the architecture's, or every ONNX cut).
    Coarse,
    /// Every point `0..=n`.
    All,
}

impl std::str::FromStr for PointArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "coarse" => Ok(Self::Coarse),
            "all" => Ok(Self::All),
            _ => s.parse().map(Self::K).map_err(|_| {
                format!("{s:?}: expected a partition point (integer), `coarse` or `all`")
            }),
        }
    }
}

/// The points of `--points` for `config` (`None`: every point).
fn resolve_points(args: &[PointArg], config: &SweepConfig) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for a in args {
        match a {
            PointArg::All => return None,
            PointArg::Coarse => out.extend(config.coarse_points()),
            PointArg::K(k) => out.push(*k),
        }
    }
    Some(out)
}

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
    pub arch: Option<Arch>,
    /// Any ONNX model instead of a preset, attacked black-box: its graph runs on the CPU (tract) up to
    /// each --cut node and the c-GAN and inverse network train on those feature maps (crops of --images at
    /// --size). Without --cut: list the candidate cut nodes. White-box rMLE is NOT available for ONNX
    /// models (it needs gradients through the trusted partition): it stays with --arch and --preset.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["preset", "arch"])]
    pub onnx: Option<PathBuf>,
    /// Cut nodes of the --onnx model, comma-separated (node or output-tensor names from the listing).
    #[arg(long, value_delimiter = ',', requires = "onnx", value_name = "NODE")]
    pub cut: Option<Vec<String>>,
    /// Partition points, comma-separated: integers, `coarse` (input, stem, each stage, head) or `all`
    /// (default: the preset's, i.e. all for the small CNN, coarse for the ImageNet models).
    #[arg(long, value_delimiter = ',')]
    pub points: Option<Vec<PointArg>>,
    /// Attacks, comma-separated (default: the preset's).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub attacks: Option<Vec<ReconstructionAttack>>,
    /// Safety rule: `leakage` (SSIM gain over the strongest prior-only baseline within the margin and
    /// identification at chance; default) or `threshold` (every attack's mean SSIM below --ssim-threshold).
    #[arg(long, value_enum)]
    pub rule: Option<SafetyRule>,
    /// SSIM threshold in [0, 1] of the threshold rule (default 0.3, see docs/SWEEP.md).
    #[arg(long, visible_alias = "ssim-threshold")]
    pub threshold: Option<f64>,
    /// What the host is assumed to learn anyway, the floor of the leakage rule: `label` (the predicted class
    /// only: gain over the prior-only baselines, identification against chance; default) or `output` (the
    /// logits, which the untrusted partition computes at every point: no more than the attacks at k = n).
    #[arg(long, value_enum)]
    pub reference: Option<Reference>,
    /// Margin of the leakage rule: largest tolerated upper bound of the SSIM gain's 95 % CI (default 0.05).
    #[arg(long)]
    pub margin: Option<f64>,
    /// Candidates N of the identification test (the true input + N - 1 of the same predicted class).
    #[arg(long)]
    pub candidates: Option<usize>,
    /// Which safe point to recommend: `earliest-safe` (default) or `cheapest-safe` (lowest estimated
    /// trusted-in-TEE + untrusted latency).
    #[arg(long, value_enum)]
    pub objective: Option<Objective>,
    /// TEE of the cost model: sgx1 (93 MiB usable EPC), sgx2:<usable MiB>, sev-snp or tdx.
    #[arg(long)]
    pub tee: Option<TeeTarget>,
    /// Images per trusted-partition call in the cost model.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Seed of every random step (classifier, attacks, bootstrap, distractors); default: the preset's seeds.
    #[arg(long, conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// Repeat the sweep with each seed (comma-separated) and report mean +- std per point and attack.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Option<Vec<u64>>,
    /// Evaluation images.
    #[arg(long)]
    pub eval_images: Option<usize>,
    /// Attacker images (crops for the ImageNet models) the c-GAN and inverse network train on.
    #[arg(long)]
    pub attacker_images: Option<usize>,
    /// Training epochs of the c-GAN, the inverse network and the label decoder.
    #[arg(long)]
    pub attack_epochs: Option<usize>,
    /// Images rMLE attacks (the first evaluation images).
    #[arg(long)]
    pub rmle_images: Option<usize>,
    /// Distractor images of the identification test.
    #[arg(long)]
    pub distractors: Option<usize>,
    /// Epochs of classifier training (fashion/tiny presets without --weights).
    #[arg(long)]
    pub train_epochs: Option<usize>,
    /// rMLE optimisation steps.
    #[arg(long)]
    pub rmle_steps: Option<usize>,
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
        let imagenet = args.arch.filter(|a| *a != Arch::SmallCnn);
        let mut config = match (imagenet, &args.onnx, &args.cut) {
            (_, Some(f), Some(c)) => {
                SweepConfig::onnx(OnnxSpec::new(f.clone(), c.clone(), args.input_size))
            }
            (Some(a), ..) => SweepConfig::imagenet(a.config(args.input_size)),
            _ => args.preset.config(Some(args.input_size)),
        };
        if let Some(p) = &args.points {
            config.points = resolve_points(p, &config);
        }
        if let Some(a) = &args.attacks {
            config.attacks.clone_from(a);
        }
        config.classifier.epochs = args.train_epochs.unwrap_or(config.classifier.epochs);
        config.ssim_threshold = args.threshold.unwrap_or(config.ssim_threshold);
        config.eval_images = args.eval_images.unwrap_or(config.eval_images);
        config.rmle.steps = args.rmle_steps.unwrap_or(config.rmle.steps);
        config.rmle_images = args.rmle_images.unwrap_or(config.rmle_images);
        config.attacker_images = args.attacker_images.unwrap_or(config.attacker_images);
        config.rule.distractor_images = args.distractors.unwrap_or(config.rule.distractor_images);
        if let Some(e) = args.attack_epochs {
            config.inverse.epochs = e;
            config.cgan.train.epochs = e;
        }
        config.rule.rule = args.rule.unwrap_or(config.rule.rule);
        config.rule.reference = args.reference.unwrap_or(config.rule.reference);
        config.rule.margin = args.margin.unwrap_or(config.rule.margin);
        config.rule.candidates = args.candidates.unwrap_or(config.rule.candidates);
        config.rule.objective = args.objective.unwrap_or(config.rule.objective);
        config.enclave.tee = args.tee.unwrap_or(config.enclave.tee);
        config.enclave.batch = args.batch.unwrap_or(config.enclave.batch);
        config.device = args.device.apply()?.unwrap_or(config.device);
        let seeds = match (&args.seeds, args.seed) {
            (Some(s), _) => s.clone(),
            (None, Some(s)) => vec![s],
            (None, None) => Vec::new(),
        };
        let images = args
            .images
            .clone()
            .map_or_else(ImageSource::packaged, ImageSource::Folder);
        let source = if args.onnx.is_some() {
            SweepSource::Onnx { images }
        } else if imagenet.is_some() {
            SweepSource::Images {
                images,
                weights: args.weights.clone(),
            }
        } else if args.preset.natural_images() {
            SweepSource::Images {
                images,
                weights: Some(args.weights.clone().unwrap_or_else(lite0_weights_path)),
            }
        } else {
            SweepSource::FashionMnist {
                data_dir: args.data_dir.clone(),
                weights: args.weights.clone(),
            }
        };
        let job = SweepJob {
            config,
            source,
            out: args.out.clone(),
            name: args.name.clone(),
            seeds,
        };
        run_job(&job, &mut |s| eprintln!("{s}"))?
    };
    println!("{}", outcome.summary);
    println!("run folder: {}", outcome.folder.display());
    Ok(())
}
