//! `privsplit data`: produce the font-character dataset or convert Fashion-MNIST, as gzipped IDX files
//! (`privsplit_data::idx::write_split` layout) plus a `contact-sheet.png`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use privsplit_data::{fashion_mnist, fonts, idx, FontCharConfig, ImageSet};
use privsplit_report::{image_grid, write_json, GridImage};

/// Arguments of `privsplit data`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DataCommand {
    /// Render characters from TrueType fonts (label = character, sensitive attribute = font).
    Fonts(FontsArgs),
    /// Convert Fashion-MNIST (Debian package dataset-fashion-mnist) into the same layout.
    FashionMnist(FashionArgs),
}

#[derive(Debug, clap::Args)]
struct FontsArgs {
    /// Output folder (created if missing); files are prefixed `fonts-`.
    #[arg(long)]
    out: PathBuf,
    /// Number of training images.
    #[arg(long, default_value_t = 60_000)]
    train: usize,
    /// Number of test images.
    #[arg(long, default_value_t = 10_000)]
    test: usize,
    /// The characters, one class each (e.g. 0123456789 or ABCDEFGHIJKLMNOPQRSTUVWXYZ).
    #[arg(long, default_value = "0123456789")]
    chars: String,
    /// A font: built-in name (dejavu-sans, dejavu-serif, dejavu-sans-mono, ...), packaged font (urw-z003,
    /// vollkorn) or a .ttf/.otf path. Repeat for several; default dejavu-sans and dejavu-serif
    /// (privsplit), urw-z003 and vollkorn (authors).
    #[arg(long = "font")]
    fonts: Vec<String>,
    /// Seed of every random step.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Generation: `privsplit` (MNIST-like size normalisation and centring) or `authors` (Ryffel et
    /// al.'s repository: natural size, centre-of-mass crop, packaged fonts urw-z003 and vollkorn,
    /// per-image standardisation at training time).
    #[arg(long, default_value = "privsplit")]
    mode: privsplit_data::FontMode,
    /// Elastic-deformation alpha, 28x28 output pixels (Simard et al. 2003); 0 disables it.
    /// Default 34 (privsplit), 75.3 (authors).
    #[arg(long)]
    elastic_alpha: Option<f32>,
    /// Elastic-deformation sigma, 28x28 output pixels. Default 4 (privsplit), 9 (authors).
    #[arg(long)]
    elastic_sigma: Option<f32>,
    /// Samples per (font, character) on the contact sheet.
    #[arg(long, default_value_t = 3)]
    samples: usize,
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
        DataCommand::FashionMnist(a) => run_fashion(a),
    }
}

fn run_fonts(a: FontsArgs) -> anyhow::Result<()> {
    let defaults = FontCharConfig::for_mode(a.mode);
    let cfg = FontCharConfig {
        chars: a.chars,
        fonts: if a.fonts.is_empty() {
            defaults.fonts.clone()
        } else {
            a.fonts
        },
        train: a.train,
        test: a.test,
        seed: a.seed,
        elastic_alpha: a.elastic_alpha.unwrap_or(defaults.elastic_alpha),
        elastic_sigma: a.elastic_sigma.unwrap_or(defaults.elastic_sigma),
        ..defaults
    };
    cfg.validate().context("invalid font-dataset options")?;
    fonts::check_coverage(&cfg.chars, &cfg.fonts).context("checking the fonts")?;
    let total = (cfg.train + cfg.test) as u64;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("rendering");
    let started = Instant::now();
    let split = fonts::generate_with_progress(&cfg, &|done, _| bar.set_position(done as u64))
        .context("generating the font-character dataset")?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(images = total, seconds = secs, "rendered font characters");
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    idx::write_split(&a.out, "fonts", &split)
        .with_context(|| format!("writing IDX files to {}", a.out.display()))?;
    write_json(&a.out.join("fonts-config.json"), &cfg).context("writing fonts-config.json")?;
    // Contact sheet: one row per font, `samples` images per character.
    let set = if split.train.n > 0 {
        &split.train
    } else {
        &split.test
    };
    let n_fonts = set.sensitive_names.len();
    let n_chars = set.class_names.len();
    let mut picks = Vec::new();
    let mut labels = Vec::new();
    let sens = set.sensitive.as_deref().unwrap_or(&[]);
    for f in 0..n_fonts {
        for c in 0..n_chars {
            let found: Vec<usize> = (0..set.n)
                .filter(|&i| {
                    usize::from(set.labels[i]) == c
                        && sens.get(i).is_some_and(|&s| usize::from(s) == f)
                })
                .take(a.samples.max(1))
                .collect();
            for i in found {
                picks.push(i);
                labels.push(format!("{} f{f}", set.class_names[c]));
            }
        }
    }
    let sheet = a.out.join("contact-sheet.png");
    if picks.is_empty() {
        tracing::warn!("no images: contact sheet skipped");
    } else {
        contact_sheet(set, &picks, &labels, n_chars * a.samples.max(1), &sheet)?;
    }
    println!(
        "wrote {} train + {} test images ({} chars x {} fonts: {}) to {} in {secs:.1} s; contact sheet {} (row = font f<i>)",
        split.train.n,
        split.test.n,
        n_chars,
        n_fonts,
        set.sensitive_names.join(", "),
        a.out.display(),
        sheet.display()
    );
    Ok(())
}

fn contact_sheet(
    set: &ImageSet,
    picks: &[usize],
    labels: &[String],
    cols: usize,
    path: &Path,
) -> anyhow::Result<()> {
    let images: Vec<GridImage<'_>> = picks
        .iter()
        .filter_map(|&i| set.image(i))
        .map(|pixels| GridImage::Grey {
            rows: set.rows,
            cols: set.cols,
            pixels,
        })
        .collect();
    image_grid(path, &images, cols.max(1), 2, Some(labels))
        .with_context(|| format!("writing {}", path.display()))
}

fn run_fashion(a: FashionArgs) -> anyhow::Result<()> {
    let split = fashion_mnist::load(&a.dir).with_context(|| {
        format!(
            "loading Fashion-MNIST from {} (install the Debian package dataset-fashion-mnist, or pass --dir)",
            a.dir.display()
        )
    })?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    idx::write_split(&a.out, "fashion-mnist", &split)
        .with_context(|| format!("writing IDX files to {}", a.out.display()))?;
    let set = &split.train;
    let k = a.samples.max(1);
    let mut picks = Vec::new();
    let mut labels = Vec::new();
    for (c, name) in set.class_names.iter().enumerate() {
        for i in (0..set.n)
            .filter(|&i| usize::from(set.labels[i]) == c)
            .take(k)
        {
            picks.push(i);
            labels.push(name.clone());
        }
    }
    let sheet = a.out.join("contact-sheet.png");
    contact_sheet(set, &picks, &labels, k, &sheet)?;
    println!(
        "wrote {} train + {} test Fashion-MNIST images to {}; contact sheet {} (row = class)",
        split.train.n,
        split.test.n,
        a.out.display(),
        sheet.display()
    );
    Ok(())
}
