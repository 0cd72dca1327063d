//! `privsplit collateral`: collateral learning (Ryffel et al. 2019, §5) — train the quadratic private
//! network and its public head, attack the sensitive attribute (the font) from `output(x)`, defend with
//! semi-adversarial training for each alpha, attack again; print a table (and optionally JSON).

use std::path::PathBuf;

use privsplit_experiments::collateral::{
    main_task_fashion_mnist, outcome_table, run_job, CollateralConfig, CollateralData,
    CollateralOverrides,
};
use privsplit_experiments::progress::{training, training_bar};

/// Images to generate, shared by `privsplit collateral` and `privsplit plan collateral`.
#[derive(Debug, clap::Args)]
pub struct SizeArgs {
    /// Training images to generate (--fonts-default, --synthetic).
    #[arg(long, default_value_t = 6000)]
    pub train: usize,
    /// Test images to generate (--fonts-default, --synthetic).
    #[arg(long, default_value_t = 1000)]
    pub test: usize,
}

/// Arguments of `privsplit collateral`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A split written by `privsplit data fonts` (IDX files `{prefix}-...` and `{prefix}-meta.json`).
    #[arg(long, conflicts_with_all = ["fonts_default", "synthetic"])]
    data: Option<PathBuf>,
    /// File prefix of the split in --data.
    #[arg(long, default_value = "fonts")]
    prefix: String,
    /// Generate the default font-character set (digits in two fonts) with --train/--test images.
    #[arg(long)]
    fonts_default: bool,
    /// Use the tiny synthetic seven-segment set (two drawing styles; for smoke tests, not real fonts).
    #[arg(long)]
    synthetic: bool,
    /// Training and test images to generate.
    #[command(flatten)]
    sizes: SizeArgs,
    /// Defence strengths, comma-separated (0 = no defence).
    #[arg(long, value_delimiter = ',', default_value = "0,1.5,3")]
    alpha: Vec<f32>,
    /// Epochs (of every phase or each), attackers, defence adversary, batch size and learning rate.
    #[command(flatten)]
    training: CollateralOverrides,
    /// Use the paper's schedule (10 / 10 / 10 epochs) as the starting point.
    #[arg(long)]
    paper: bool,
    /// Seed of every random step.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Main task only, on real Fashion-MNIST from this folder (default: the Debian package's): trains the
    /// quadratic network for the plain epochs and prints its float and quantised test accuracy (no sensitive
    /// attribute, so no attack).
    #[arg(long, num_args = 0..=1, default_missing_value = privsplit_data::fashion_mnist::DEBIAN_DIR,
          conflicts_with_all = ["data", "fonts_default", "synthetic"])]
    fashion_mnist: Option<PathBuf>,
    /// Also write the outcome as JSON to this file (atomically).
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(flatten)]
    device: super::DeviceArgs,
}

/// Runs `privsplit collateral`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let base = if args.paper {
        CollateralConfig::ryffel2019()
    } else {
        CollateralConfig::default()
    };
    let device = args.device.apply()?;
    let mut cfg = base.with_overrides(&CollateralOverrides {
        device,
        ..args.training
    });
    cfg.alphas.clone_from(&args.alpha);
    cfg.seed = args.seed;
    if let Some(dir) = &args.fashion_mnist {
        println!("{}", main_task_fashion_mnist(&cfg, dir)?);
        return Ok(());
    }
    let idx = args.data.map(|d| (d, args.prefix));
    let sizes = [args.sizes.train, args.sizes.test];
    let data = CollateralData::choose(idx, args.synthetic, args.fonts_default, sizes, args.seed)?;
    let bar = training_bar();
    let outcome = run_job(&cfg, &data, args.json.as_deref(), &mut training(&bar))?;
    bar.finish_and_clear();
    print!("{}", outcome_table(&outcome));
    if let Some(path) = &args.json {
        println!("outcome written to {}", path.display());
    }
    Ok(())
}
