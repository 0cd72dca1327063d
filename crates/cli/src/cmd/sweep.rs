//! `privsplit sweep`: partition-point sweep with reconstruction attacks (c-GAN, inverse network, white-box
//! rMLE) and an enclave cost model; recommends the earliest (or cheapest) safe partition point. `privsplit
//! sweep merge` joins reports of subsets; `privsplit sweep --onnx FILE [--cut NODE,...]` attacks any ONNX
//! model black-box.

use std::path::PathBuf;

use privsplit_attacks::ReconstructionAttack;
use privsplit_data::natural::SKIMAGE_DATA_DIR;
use privsplit_experiments::sweep::config::LITE0_DEFAULT_SIZE;
use privsplit_experiments::sweep::onnx::onnx_candidates;
use privsplit_experiments::sweep::{
    merge_job, run_job, Objective, OnnxSpec, Reference, SafetyRule, SweepConfig, SweepJob,
    SweepPreset, SweepSource, TeeTarget,
};
use privsplit_models::weights::lite0_weights_path;

/// Arguments of `privsplit sweep`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// `merge`: join the reports of sweeps of disjoint partition-point subsets.
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    /// Preset: `fashion` (small CNN on Fashion-MNIST, all three attacks), `tiny` (about a minute; smoke
    /// test) or `lite0` (pretrained EfficientNet-Lite0, white-box rMLE on scikit-image's natural photos).
    #[arg(long, value_enum, default_value = "fashion")]
    pub preset: SweepPreset,
    /// Any ONNX model, attacked black-box instead of a preset: its graph runs on the CPU (tract) up to each
    /// --cut node and the c-GAN and inverse network are trained on those feature maps, with crops of
    /// scikit-image's photographs (--images-dir) at --input-size. Without --cut: list the candidate cut
    /// nodes. White-box rMLE needs gradients through the trusted partition and is not available here: it
    /// stays with the zoo models (--preset, PyTorch weights).
    #[arg(long, value_name = "FILE")]
    pub onnx: Option<PathBuf>,
    /// Cut nodes of the --onnx model, comma-separated (node names or output-tensor names from the listing);
    /// partition point k exposes the k-th of them in graph order.
    #[arg(long, value_delimiter = ',', requires = "onnx", value_name = "NODE")]
    pub cut: Option<Vec<String>>,
    /// Images per ONNX runtime call (--onnx).
    #[arg(long, default_value_t = 16)]
    pub onnx_batch: usize,
    /// Partition points to run, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub points: Option<Vec<usize>>,
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
    /// What the host learns anyway, the floor of the leakage rule: `output` (the logits, which the untrusted
    /// partition computes at every point; default) or `label` (the predicted class only).
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
    /// Epochs of classifier training (fashion/tiny presets without --weights).
    #[arg(long)]
    pub train_epochs: Option<usize>,
    /// rMLE optimisation steps.
    #[arg(long)]
    pub rmle_steps: Option<usize>,
    /// Input size (pixels) of the `lite0` preset (224 = the pretrained resolution) and of --onnx models
    /// (overrides the graph's declared height and width where the graph allows).
    #[arg(long, default_value_t = LITE0_DEFAULT_SIZE)]
    pub input_size: usize,
    /// Trained model weights (safetensors) to attack instead of training one (fashion/tiny presets; for
    /// lite0 the pretrained weights, default $PRIVSPLIT_LITE0_WEIGHTS, else $PRIVSPLIT_DATA_DIR/, else the
    /// nearest data-cache/ folder: efficientnet_lite0.safetensors); use the same file on every machine of a
    /// distributed sweep.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Fashion-MNIST folder (gzipped IDX).
    #[arg(long, default_value = privsplit_data::fashion_mnist::DEBIAN_DIR)]
    pub data_dir: PathBuf,
    /// Folder of the natural images (lite0 preset, --onnx).
    #[arg(long, default_value = SKIMAGE_DATA_DIR)]
    pub images_dir: PathBuf,
    /// Folder under which the run folder is created.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Run-folder name prefix.
    #[arg(long, default_value = "sweep")]
    pub name: String,
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
        let (model, cands) = onnx_candidates(path, Some(args.input_size))?;
        println!(
            "candidate cut nodes of {} (input {}, {} x {} pixels; --cut NAME,...):",
            path.display(),
            model.input_name(),
            args.input_size,
            args.input_size
        );
        println!("{:<28} {:<22} feature map [c, h, w]", "node", "op");
        for c in &cands {
            let shape = c
                .shape
                .as_ref()
                .map_or("? (graph refuses this size)".into(), |s| format!("{s:?}"));
            println!("{:<28} {:<22} {shape}", c.name, c.op);
        }
        return Ok(());
    } else {
        let mut config = match (&args.onnx, &args.cut) {
            (Some(path), Some(cuts)) => SweepConfig::onnx(OnnxSpec {
                path: path.clone(),
                cuts: cuts.clone(),
                input_size: args.input_size,
                batch: args.onnx_batch,
            }),
            _ => args.preset.config(Some(args.input_size)),
        };
        if args.points.is_some() {
            config.points.clone_from(&args.points);
        }
        if let Some(a) = &args.attacks {
            config.attacks.clone_from(a);
        }
        config.classifier.epochs = args.train_epochs.unwrap_or(config.classifier.epochs);
        config.ssim_threshold = args.threshold.unwrap_or(config.ssim_threshold);
        config.eval_images = args.eval_images.unwrap_or(config.eval_images);
        config.rmle.steps = args.rmle_steps.unwrap_or(config.rmle.steps);
        config.rule.rule = args.rule.unwrap_or(config.rule.rule);
        config.rule.reference = args.reference.unwrap_or(config.rule.reference);
        config.rule.margin = args.margin.unwrap_or(config.rule.margin);
        config.rule.candidates = args.candidates.unwrap_or(config.rule.candidates);
        config.rule.objective = args.objective.unwrap_or(config.rule.objective);
        config.enclave.tee = args.tee.unwrap_or(config.enclave.tee);
        config.enclave.batch = args.batch.unwrap_or(config.enclave.batch);
        let seeds = match (&args.seeds, args.seed) {
            (Some(s), _) => s.clone(),
            (None, Some(s)) => vec![s],
            (None, None) => Vec::new(),
        };
        let source = if args.onnx.is_some() {
            SweepSource::Onnx {
                images_dir: args.images_dir.clone(),
            }
        } else if args.preset.natural_images() {
            SweepSource::Natural {
                images_dir: args.images_dir.clone(),
                weights: args.weights.clone().unwrap_or_else(lite0_weights_path),
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
