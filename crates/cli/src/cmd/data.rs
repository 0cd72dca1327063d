//! `privsplit data`: produce the font-character dataset or convert Fashion-MNIST, as gzipped IDX files
//! (`privsplit_data::idx::write_split` layout) plus a `contact-sheet.png`; or write SYNTHETIC TON_IoT
//! rows in the real file's layout.

use std::path::PathBuf;

use privsplit_data::fashion_mnist;
use privsplit_experiments::datasets::{convert_fashion_mnist, write_fonts, FontsJob};
use privsplit_experiments::progress::bar;

/// Arguments of `privsplit data`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DataCommand {
    /// Render characters from TrueType fonts (label = character, sensitive attribute = font).
    Fonts(FontsJob),
    /// Convert Fashion-MNIST (Debian package dataset-fashion-mnist) into the same layout.
    FashionMnist(FashionArgs),
    /// Write SYNTHETIC network-traffic rows in the exact layout of TON_IoT's train_test_network.csv
    /// (the real class proportions; not TON_IoT measurements).
    TonIot(TonIotArgs),
}

#[derive(Debug, clap::Args)]
struct TonIotArgs {
    /// Number of rows (the real file has 211,043).
    #[arg(long, default_value_t = 211_043)]
    rows: usize,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output CSV file (written atomically).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
struct FashionArgs {
    /// Folder with the four Fashion-MNIST IDX files.
    #[arg(long, default_value = fashion_mnist::DEBIAN_DIR)]
    dir: PathBuf,
    /// Output folder (created if missing); files are prefixed `fashion-mnist-`.
    #[arg(long)]
    out: PathBuf,
    /// Samples per class on the contact sheet.
    #[arg(long, default_value_t = 8)]
    samples: usize,
}

/// Runs `privsplit data`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        DataCommand::Fonts(a) => run_fonts(a),
        DataCommand::FashionMnist(a) => {
            println!("{}", convert_fashion_mnist(&a.dir, &a.out, a.samples)?);
            Ok(())
        }
        DataCommand::TonIot(a) => {
            let cfg = privsplit_data::tabular::TonIotGenConfig {
                rows: a.rows,
                seed: a.seed,
            };
            privsplit_data::tabular::write_synthetic(&a.out, &cfg)?;
            println!(
                "wrote {} SYNTHETIC rows in the TON_IoT layout to {} (generator seed {}; not TON_IoT data)",
                a.rows,
                a.out.display(),
                a.seed
            );
            Ok(())
        }
    }
}

fn run_fonts(a: FontsJob) -> anyhow::Result<()> {
    let cfg = a.config();
    let bar = bar(false, (cfg.train + cfg.test) as u64, "rendering");
    let done = write_fonts(&cfg, &a.out, a.samples, &|n, _| bar.set_position(n as u64))?;
    bar.finish_and_clear();
    println!("{done}");
    Ok(())
}
