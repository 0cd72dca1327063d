//! `privsplit collateral`: collateral learning (Ryffel et al. 2019, §5) — train the quadratic private
//! network and its public head, attack the sensitive attribute (the font) from `output(x)`, defend with
//! semi-adversarial training for each alpha, attack again; print a table (and optionally JSON).

use std::path::PathBuf;

use crate::encryption_step;
use anyhow::Context;
use privsplit_data::fonts::FontCharConfig;
use privsplit_defenses::{
    run_collateral, run_main_task, Attacker, CollateralConfig, CollateralOutcome,
};
use privsplit_models::adversary::AdversaryKind;

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
    /// Training images to generate (--fonts-default, --synthetic).
    #[arg(long, default_value_t = 6000)]
    train: usize,
    /// Test images to generate (--fonts-default, --synthetic).
    #[arg(long, default_value_t = 1000)]
    test: usize,
    /// Defence strengths, comma-separated (0 = no defence).
    #[arg(long, value_delimiter = ',', default_value = "0,1.5,3")]
    alpha: Vec<f32>,
    /// Epochs of every phase (plain, defence, recovery) unless set separately.
    #[arg(long)]
    epochs: Option<usize>,
    /// Epochs of plain training.
    #[arg(long)]
    plain_epochs: Option<usize>,
    /// Epochs of semi-adversarial training.
    #[arg(long)]
    defence_epochs: Option<usize>,
    /// Epochs of recovery (head and fresh attackers, private part fixed).
    #[arg(long)]
    recovery_epochs: Option<usize>,
    /// Use the paper's schedule (10 / 10 / 10 epochs) as the starting point.
    #[arg(long)]
    paper: bool,
    /// Attackers, comma-separated among cnn, mlp, logistic, knn.
    #[arg(long, value_delimiter = ',', default_value = "cnn,mlp,logistic,knn")]
    attackers: Vec<String>,
    /// Adversary inside the defence: cnn or mlp.
    #[arg(long, default_value = "cnn")]
    defence_adversary: String,
    /// Images per batch.
    #[arg(long)]
    batch: Option<usize>,
    /// Learning rate (SGD with momentum).
    #[arg(long)]
    lr: Option<f64>,
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
}

/// Runs `privsplit collateral`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut cfg = if args.paper {
        CollateralConfig::ryffel2019()
    } else {
        CollateralConfig::default()
    };
    if let Some(e) = args.epochs {
        (cfg.plain_epochs, cfg.defence_epochs, cfg.recovery_epochs) = (e, e, e);
    }
    cfg.plain_epochs = args.plain_epochs.unwrap_or(cfg.plain_epochs);
    cfg.defence_epochs = args.defence_epochs.unwrap_or(cfg.defence_epochs);
    cfg.recovery_epochs = args.recovery_epochs.unwrap_or(cfg.recovery_epochs);
    cfg.alphas = args.alpha.clone();
    cfg.attackers = args
        .attackers
        .iter()
        .map(|a| a.trim().parse::<Attacker>())
        .collect::<Result<_, _>>()
        .context("--attackers")?;
    cfg.defence_adversary = args
        .defence_adversary
        .parse::<AdversaryKind>()
        .context("--defence-adversary")?;
    cfg.batch_size = args.batch.unwrap_or(cfg.batch_size);
    cfg.lr = args.lr.unwrap_or(cfg.lr);
    cfg.seed = args.seed;
    cfg.validate().context("collateral configuration")?;

    if let Some(dir) = &args.fashion_mnist {
        return main_task_fashion_mnist(&cfg, dir);
    }
    let data = if let Some(dir) = &args.data {
        privsplit_data::idx::read_split(dir, &args.prefix)
            .with_context(|| format!("reading the split {} in {}", args.prefix, dir.display()))?
    } else if args.synthetic {
        privsplit_defenses::synthetic::seven_segment_split(args.train, args.test, args.seed)
    } else if args.fonts_default {
        let fc = FontCharConfig {
            seed: args.seed,
            ..FontCharConfig::small(args.train, args.test)
        };
        eprintln!(
            "generating {} + {} font-character images ...",
            args.train, args.test
        );
        privsplit_data::fonts::generate(&fc).context("generating the font-character set")?
    } else {
        anyhow::bail!("choose the data: --data DIR, --fonts-default or --synthetic");
    };

    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:28} [{bar:30}] {pos}/{len} loss {prefix}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut phase = String::new();
    let outcome = run_collateral(&cfg, &data, &mut |p| {
        if p.phase != phase {
            phase.clone_from(&p.phase);
            bar.set_message(p.phase.clone());
            bar.set_length((p.steps * p.epochs) as u64);
        }
        bar.set_position((p.epoch.saturating_sub(1) * p.steps + p.step) as u64);
        bar.set_prefix(format!("{:.4}", p.loss));
    })
    .context("collateral-learning experiment")?;
    bar.finish_and_clear();
    print_table(&outcome);
    if let Some(path) = &args.json {
        privsplit_report::write_json(path, &outcome)?;
        println!("outcome written to {}", path.display());
    }
    Ok(())
}

fn main_task_fashion_mnist(cfg: &CollateralConfig, dir: &std::path::Path) -> anyhow::Result<()> {
    let data = privsplit_data::fashion_mnist::load(dir).with_context(|| {
        format!(
            "loading Fashion-MNIST from {} (bash scripts/install-deps.sh)",
            dir.display()
        )
    })?;
    let o = run_main_task(cfg, &data, &mut |_| {}).context("training the quadratic network")?;
    let trained = o.trained.as_ref().context("no trained model returned")?;
    let quant = privsplit_fe::QuantConfig::default();
    let model = encryption_step::quantise(&o.weights, &quant)?;
    let q_acc = encryption_step::accuracy(
        &encryption_step::quantised_predictions(&model, &trained.head, &data.test)?,
        &data.test.labels,
    );
    println!(
        "Fashion-MNIST main task, quadratic network {} -> {} -> square -> {} + public head: {} train / {} test \
         images, {} epochs, {:.1} s",
        o.network.inputs, o.network.hidden, o.network.outputs, o.train_images, o.test_images, o.epochs, o.seconds
    );
    println!(
        "test accuracy: float {:.2} %, quantised (|P| <= {}, |Q| <= {}) {:.2} %",
        100.0 * o.test_accuracy,
        quant.p_max,
        quant.q_max,
        100.0 * q_acc
    );
    Ok(())
}

fn print_table(o: &CollateralOutcome) {
    println!(
        "collateral learning: {} train / {} test images, network {} -> {} -> square -> {}, chance {:.1} %",
        o.train_images,
        o.test_images,
        o.network.inputs,
        o.network.hidden,
        o.network.outputs,
        100.0 * o.chance
    );
    println!(
        "plain phase {:.1} s ({:.2} s per epoch); float test accuracy of the undefended model {:.2} %",
        o.plain_seconds,
        o.seconds_per_plain_epoch,
        100.0 * o.float_test_accuracy
    );
    let mut header = format!("{:>6} {:>8}", "alpha", "main %");
    for a in &o.config.attackers {
        header.push_str(&format!(" {:>10}", format!("{} %", a.name())));
    }
    header.push_str(&format!(
        " {:>10} {:>10} {:>10}",
        "defence s", "recover s", "attacks s"
    ));
    println!("{header}");
    for a in &o.per_alpha {
        let mut row = format!("{:>6} {:>8.2}", a.alpha, 100.0 * a.main_accuracy);
        for at in &o.config.attackers {
            row.push_str(&match a.collateral(*at) {
                Some(v) => format!(" {:>10.2}", 100.0 * v),
                None => format!(" {:>10}", "-"),
            });
        }
        row.push_str(&format!(
            " {:>10.1} {:>10.1} {:>10.1}",
            a.defence_seconds, a.recovery_seconds, a.attack_seconds
        ));
        println!("{row}");
    }
}
