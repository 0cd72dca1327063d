//! `privsplit defend`: train the trusted partition against reconstruction (the reconstruction defence,
//! NoPeek) so that an earlier partition point becomes safe; fresh attackers and the sweep's rule judge
//! every alpha. Glue only: the experiment is `privsplit_experiments::defend`.

use std::path::PathBuf;

use privsplit_experiments::defend::{run_job, DefenceKind, DefendConfig};
use privsplit_experiments::Error;

/// Size presets of `privsplit defend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// The Fashion-MNIST small CNN (about 30 minutes on 2 cores with both defences and 4 alphas).
    Fashion,
    /// The quarter-width CNN on a few hundred images (about a minute; smoke test).
    Tiny,
}

/// Arguments of `privsplit defend`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Size preset.
    #[arg(long, value_enum, default_value = "fashion")]
    pub preset: Preset,
    /// Partition point to defend (trusted partition [0, k); 2 = after pool1 of the small CNN).
    #[arg(long)]
    pub k: Option<usize>,
    /// Defence weights, comma-separated, each > 0 (default: the preset's).
    #[arg(long, value_delimiter = ',')]
    pub alphas: Option<Vec<f32>>,
    /// Defences, comma-separated: reconstruction, nopeek (default: both).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub defences: Option<Vec<DefenceKind>>,
    /// Epochs of defence training per alpha.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Training images of the defence (the first ones of the training split).
    #[arg(long)]
    pub defence_images: Option<usize>,
    /// Largest tolerated main-task accuracy loss, in points (default 2).
    #[arg(long)]
    pub max_accuracy_drop: Option<f64>,
    /// Seed of the defence schedule (shuffling, decoder adversary).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Fashion-MNIST folder (gzipped IDX).
    #[arg(long, default_value = privsplit_data::fashion_mnist::DEBIAN_DIR)]
    pub data_dir: PathBuf,
    /// Folder under which the run folder is created.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Run-folder name prefix.
    #[arg(long, default_value = "defend")]
    pub name: String,
}

/// Runs `privsplit defend`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut cfg = match args.preset {
        Preset::Fashion => DefendConfig::fashion_mnist(),
        Preset::Tiny => DefendConfig::tiny(),
    };
    cfg.k = args.k.unwrap_or(cfg.k);
    if let Some(a) = args.alphas {
        cfg.alphas = a;
    }
    if let Some(d) = args.defences {
        cfg.defences = d;
    }
    cfg.schedule.epochs = args.epochs.unwrap_or(cfg.schedule.epochs);
    cfg.schedule.seed = args.seed.unwrap_or(cfg.schedule.seed);
    cfg.defence_images = args.defence_images.unwrap_or(cfg.defence_images);
    if let Some(p) = args.max_accuracy_drop {
        if !(0.0..=100.0).contains(&p) {
            Err(Error::Invalid {
                what: "--max-accuracy-drop".into(),
                expected: "points in [0, 100]".into(),
                got: p.to_string(),
            })?;
        }
        cfg.max_accuracy_drop = p / 100.0;
    }
    let outcome = run_job(&cfg, &args.data_dir, &args.out, &args.name, &mut |s| {
        eprintln!("{s}")
    })?;
    println!("{}", outcome.summary);
    println!("run folder: {}", outcome.folder.display());
    Ok(())
}
