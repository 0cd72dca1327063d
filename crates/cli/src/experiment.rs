//! The main job, `privsplit run`: one experiment config -> one run folder.
//!
//! Steps, each reported in `report.json` and the human report:
//! 1. font-character dataset (Ryffel et al. 2019, §5) — `privsplit_data::fonts`;
//! 2. collateral learning and the semi-adversarial defence over an alpha sweep — `privsplit_defenses`;
//! 3. encrypted inference of the private quadratic layer with functional encryption — `privsplit_fe`;
//! 4. a partition-point sweep with reconstruction attacks — `privsplit_attacks::sweep`.
//!
//! Everything is written into a `.partial` folder renamed into place at the end (`privsplit_report::RunDir`),
//! so an interrupted run never leaves a folder under its final name.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use privsplit_data::fonts::FontCharConfig;
use privsplit_defenses::experiment::{
    run_collateral, Attacker, CollateralConfig, CollateralOutcome,
};
use privsplit_report::{
    image_grid, line_plot, write_json, GridImage, LinePlot, Report, RunDir, Series,
};
use serde::{Deserialize, Serialize};

use crate::cmd::sweep as sweep_cmd;
use crate::encryption_step::{self, EncryptionConfig, EncryptionOutcome};
use crate::overrides;
use privsplit_attacks::sweep::{run_sweep, SweepConfig, SweepReport};

/// The embedded default config (`crates/cli/src/default-run.toml`).
pub const DEFAULT_CONFIG: &str = include_str!("default-run.toml");

/// A whole experiment, as read from TOML (every section optional, defaults filled in).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Name of the run; the folder is `<out_dir>/<name>-<UTC time>`.
    pub name: String,
    /// Parent folder of run folders.
    pub out_dir: PathBuf,
    /// The font-character dataset.
    pub fonts: FontCharConfig,
    /// Collateral learning and the defence.
    pub collateral: CollateralConfig,
    /// Encrypted inference of the undefended private part.
    pub encryption: EncryptionConfig,
    /// Partition-point sweep with reconstruction attacks.
    pub sweep: SweepStepConfig,
}

/// Settings of the partition-point sweep step (issue: TEE + accelerator layer partitioning).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SweepStepConfig {
    /// Run the step at all.
    pub enabled: bool,
    /// `tiny` (the small CNN at a quarter width; about a minute) or `fashion` (the full Fashion-MNIST sweep).
    pub preset: String,
    /// Fashion-MNIST folder (gzipped IDX). When it is absent the step is skipped and the report says so.
    pub data_dir: PathBuf,
    /// Partition points to evaluate (default: all).
    pub points: Option<Vec<usize>>,
    /// SSIM threshold in `[0, 1]` of the recommendation (default: the preset's, 0.3).
    pub ssim_threshold: Option<f64>,
}

impl Default for SweepStepConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            preset: "tiny".into(),
            data_dir: PathBuf::from(privsplit_data::fashion_mnist::DEBIAN_DIR),
            points: None,
            ssim_threshold: None,
        }
    }
}

impl SweepStepConfig {
    /// The sweep configuration of the preset, with this section's overrides.
    ///
    /// # Errors
    /// An unknown preset or an invalid override.
    pub fn sweep_config(&self) -> anyhow::Result<SweepConfig> {
        let mut c = match self.preset.as_str() {
            "tiny" => SweepConfig::tiny(),
            "fashion" => SweepConfig::fashion_mnist(),
            other => anyhow::bail!("sweep.preset: expected tiny or fashion, got {other:?}"),
        };
        c.points.clone_from(&self.points);
        if let Some(t) = self.ssim_threshold {
            c.ssim_threshold = t;
        }
        c.validate()?;
        Ok(c)
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            name: "default".into(),
            out_dir: PathBuf::from("runs"),
            fonts: FontCharConfig::default(),
            collateral: CollateralConfig::default(),
            encryption: EncryptionConfig::default(),
            sweep: SweepStepConfig::default(),
        }
    }
}

impl RunConfig {
    /// Parses `text` (TOML), applies `--set` overrides, and validates the result.
    ///
    /// # Errors
    /// Malformed TOML, an unknown key, a bad override, or a setting that fails validation.
    pub fn from_toml(text: &str, sets: &[String]) -> anyhow::Result<Self> {
        let mut doc: toml::Table = text.parse().context("config is not valid TOML")?;
        for s in sets {
            overrides::apply(&mut doc, s)?;
        }
        let cfg: RunConfig = toml::Value::Table(doc)
            .try_into()
            .context("config does not match the experiment schema")?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every section.
    ///
    /// # Errors
    /// The first invalid setting, named.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.name.is_empty() || self.name.contains(['/', '\\']) || self.name.starts_with('.') {
            anyhow::bail!(
                "name: expected a non-empty folder name without '/' or a leading '.', got {:?}",
                self.name
            );
        }
        self.fonts.validate()?;
        self.collateral.validate()?;
        self.encryption.validate()?;
        if self.sweep.enabled {
            self.sweep.sweep_config()?;
        }
        Ok(())
    }
}

/// What `run` produced.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    /// The finished run folder.
    pub folder: PathBuf,
    /// Total wall time (s).
    pub seconds: f64,
}

/// The machine-readable report, `report.json`.
#[derive(Debug, Serialize)]
struct RunReport<'a> {
    privsplit_version: &'static str,
    config: &'a RunConfig,
    dataset: DatasetSummary,
    collateral: &'a CollateralOutcome,
    encryption: Option<EncryptionOutcome>,
    sweep: SweepOutcome,
    seconds: StepSeconds,
}

#[derive(Debug, Default, Serialize)]
struct StepSeconds {
    dataset: f64,
    collateral: f64,
    encryption: f64,
    sweep: f64,
}

/// The sweep step's result in `report.json`: the full sweep report is in `sweep/report.json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
enum SweepOutcome {
    Disabled,
    Skipped {
        reason: String,
    },
    Done {
        summary: String,
        recommended_k: Option<usize>,
        folder: String,
    },
}

#[derive(Debug, Serialize)]
struct DatasetSummary {
    train_images: usize,
    test_images: usize,
    rows: usize,
    cols: usize,
    classes: Vec<String>,
    sensitive_attribute: Vec<String>,
}

fn bar(quiet: bool, len: u64, msg: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg:30} [{bar:30}] {pos}/{len} {elapsed_precise}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(msg.to_string());
    pb
}

/// Runs the experiment described by `cfg` and writes its run folder.
///
/// # Errors
/// Any failing step (dataset, training, attack, encryption, I/O); the partial folder is removed.
pub fn run(cfg: &RunConfig, config_text: &str, quiet: bool) -> anyhow::Result<RunSummary> {
    let t0 = Instant::now();
    std::fs::create_dir_all(&cfg.out_dir)
        .with_context(|| format!("cannot create the output folder {}", cfg.out_dir.display()))?;
    let dir = RunDir::create(&cfg.out_dir, &cfg.name)?;
    match run_into(cfg, config_text, quiet, &dir) {
        Ok(seconds) => {
            let folder = dir.finish()?;
            Ok(RunSummary {
                folder,
                seconds: seconds.max(t0.elapsed().as_secs_f64()),
            })
        }
        Err(e) => {
            let _ = dir.abandon();
            Err(e)
        }
    }
}

fn run_into(cfg: &RunConfig, config_text: &str, quiet: bool, dir: &RunDir) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    let out = dir.path();
    dir.write("config.toml", config_text.as_bytes())?;
    let mut secs = StepSeconds::default();

    // 1. Dataset.
    let t = Instant::now();
    let total = (cfg.fonts.train + cfg.fonts.test) as u64;
    let pb = bar(quiet, total, "font characters");
    let data = privsplit_data::fonts::generate_with_progress(&cfg.fonts, &|done, _| {
        pb.set_position(done as u64)
    })
    .context("generating the font-character dataset")?;
    pb.finish_and_clear();
    secs.dataset = t.elapsed().as_secs_f64();
    write_sample_grid(&data.test, &out.join("samples.png"))?;

    // 2. Collateral learning + defence.
    let t = Instant::now();
    let pb = bar(quiet, 0, "collateral");
    let mut phase = String::new();
    let outcome = run_collateral(&cfg.collateral, &data, &mut |p| {
        if p.phase != phase {
            phase.clone_from(&p.phase);
            pb.set_message(p.phase.clone());
            pb.set_length((p.steps * p.epochs) as u64);
        }
        pb.set_position(((p.epoch.saturating_sub(1)) * p.steps + p.step) as u64);
    })
    .context("collateral-learning experiment")?;
    pb.finish_and_clear();
    secs.collateral = t.elapsed().as_secs_f64();
    write_tradeoff_plot(&outcome, &out.join("tradeoff.png"))?;

    // 3. Encrypted inference of the undefended private part.
    let t = Instant::now();
    let encryption = if cfg.encryption.enabled {
        let trained = outcome
            .undefended
            .as_ref()
            .context("the collateral step returned no trained model")?;
        let pb = bar(quiet, 0, "encrypted inference");
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        let e = encryption_step::run(
            &cfg.encryption,
            trained,
            &outcome.undefended_weights,
            &data.test,
        )
        .context("encrypted inference")?;
        pb.finish_and_clear();
        Some(e)
    } else {
        None
    };
    secs.encryption = t.elapsed().as_secs_f64();
    // The trained undefended split, for `privsplit fe keygen --model` and for re-use.
    if let Some(trained) = &outcome.undefended {
        trained.private.save(&out.join("private.safetensors"))?;
        trained.head.save(&out.join("public-head.safetensors"))?;
        let quant = privsplit_fe::QuantConfig {
            p_max: cfg.encryption.p_max,
            q_max: cfg.encryption.q_max,
        };
        let model = encryption_step::quantise(&outcome.undefended_weights, &quant)?;
        dir.write("private-quantised.fe-model", &model.to_bytes())?;
    }

    // 4. Partition-point sweep of the Fashion-MNIST CNN.
    let t = Instant::now();
    let sweep = sweep_step(&cfg.sweep, quiet, out)?;
    secs.sweep = t.elapsed().as_secs_f64();

    let dataset = DatasetSummary {
        train_images: data.train.n,
        test_images: data.test.n,
        rows: data.train.rows,
        cols: data.train.cols,
        classes: data.train.class_names.clone(),
        sensitive_attribute: data.train.sensitive_names.clone(),
    };
    let report = RunReport {
        privsplit_version: env!("CARGO_PKG_VERSION"),
        config: cfg,
        dataset,
        collateral: &outcome,
        encryption,
        sweep,
        seconds: secs,
    };
    write_json(&out.join("report.json"), &report)?;
    // report.json is the machine-readable RunReport above; the human report is Markdown + HTML.
    let human = human_report(&report);
    privsplit_report::write_atomic(&out.join("report.md"), human.to_markdown().as_bytes())?;
    privsplit_report::write_atomic(&out.join("report.html"), human.to_html().as_bytes())?;
    Ok(t0.elapsed().as_secs_f64())
}

fn sweep_step(cfg: &SweepStepConfig, quiet: bool, out: &Path) -> anyhow::Result<SweepOutcome> {
    if !cfg.enabled {
        return Ok(SweepOutcome::Disabled);
    }
    let split = match privsplit_data::fashion_mnist::load(&cfg.data_dir) {
        Ok(s) => s,
        Err(e) => {
            let reason = format!(
                "Fashion-MNIST not readable in {} ({e}); install it with `bash scripts/install-deps.sh` \
                 (Debian package dataset-fashion-mnist)",
                cfg.data_dir.display()
            );
            eprintln!("privsplit run: SWEEP SKIPPED: {reason}");
            return Ok(SweepOutcome::Skipped { reason });
        }
    };
    let sweep_cfg = cfg.sweep_config()?;
    let pb = bar(quiet, 0, "partition sweep");
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    let run = run_sweep(&sweep_cfg, &split, &mut |msg: &str| {
        pb.set_message(msg.to_string())
    })
    .context("partition-point sweep")?;
    pb.finish_and_clear();
    let dir = out.join("sweep");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    sweep_cmd::write_outputs(&run.report, &dir)?;
    privsplit_models::weights::save_model(&run.model, &dir.join("model.safetensors"))?;
    Ok(sweep_done(&run.report))
}

fn sweep_done(r: &SweepReport) -> SweepOutcome {
    SweepOutcome::Done {
        summary: sweep_cmd::summary(r),
        recommended_k: r.recommendation.as_ref().map(|rec| rec.k),
        folder: "sweep".into(),
    }
}

/// A grid of test images: one row per font, ten samples each.
fn write_sample_grid(set: &privsplit_data::ImageSet, path: &Path) -> anyhow::Result<()> {
    let per_row = 10;
    let fonts = set.sensitive_names.len().max(1);
    let sens = set.sensitive.as_deref();
    let px = set.rows * set.cols;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for f in 0..fonts {
        let idx = (0..set.n)
            .filter(|&i| sens.is_none_or(|s| s[i] as usize == f))
            .take(per_row);
        for i in idx {
            images.push(GridImage::Grey {
                rows: set.rows,
                cols: set.cols,
                pixels: &set.pixels[i * px..(i + 1) * px],
            });
            labels.push(
                set.class_names
                    .get(set.labels[i] as usize)
                    .cloned()
                    .unwrap_or_default(),
            );
        }
    }
    image_grid(path, &images, per_row, 3, Some(&labels))?;
    Ok(())
}

fn write_tradeoff_plot(o: &CollateralOutcome, path: &Path) -> anyhow::Result<()> {
    let mut series = vec![Series {
        name: "main task (characters)".into(),
        points: o
            .per_alpha
            .iter()
            .map(|a| (f64::from(a.alpha), f64::from(a.main_accuracy) * 100.0))
            .collect(),
    }];
    for attacker in &o.config.attackers {
        series.push(Series {
            name: format!("collateral ({})", attacker.name()),
            points: o
                .per_alpha
                .iter()
                .filter_map(|a| {
                    a.collateral(*attacker)
                        .map(|c| (f64::from(a.alpha), f64::from(c) * 100.0))
                })
                .collect(),
        });
    }
    let chance = f64::from(o.chance) * 100.0;
    let xs: Vec<f64> = o.per_alpha.iter().map(|a| f64::from(a.alpha)).collect();
    series.push(Series {
        name: "chance (font)".into(),
        points: xs.iter().map(|&x| (x, chance)).collect(),
    });
    let plot = LinePlot {
        title: "Semi-adversarial defence: accuracy vs alpha".into(),
        x_label: "alpha (weight of -L_font)".into(),
        y_label: "test accuracy (%)".into(),
        series,
        y_range: Some((0.0, 100.0)),
        ..LinePlot::default()
    };
    line_plot(path, &plot)?;
    Ok(())
}

fn pct(x: f32) -> String {
    format!("{:.1} %", x * 100.0)
}

fn human_report(r: &RunReport<'_>) -> Report {
    let mut rep = Report::new(format!("privsplit run: {}", r.config.name));
    let d = &r.dataset;
    rep.section("Dataset")
        .paragraph(format!(
            "Font characters: {} train + {} test images, {}x{}, {} classes ({}), sensitive attribute = font ({}).",
            d.train_images,
            d.test_images,
            d.rows,
            d.cols,
            d.classes.len(),
            d.classes.join(" "),
            d.sensitive_attribute.join(", ")
        ))
        .figure("samples.png", "Test samples, one row per font.");
    let o = r.collateral;
    let attackers: Vec<Attacker> = o.config.attackers.clone();
    let mut header: Vec<String> = vec!["alpha".into(), "main accuracy".into()];
    header.extend(
        attackers
            .iter()
            .map(|a| format!("collateral ({})", a.name())),
    );
    let rows = o
        .per_alpha
        .iter()
        .map(|a| {
            let mut row = vec![format!("{}", a.alpha), pct(a.main_accuracy)];
            row.extend(
                attackers
                    .iter()
                    .map(|&at| a.collateral(at).map_or("-".into(), pct)),
            );
            row
        })
        .collect();
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    rep.section("Collateral learning and the semi-adversarial defence")
        .paragraph(format!(
            "Private part: quadratic layer {}->{}->square->{} (output(x), k = {}); public head in clear. \
             The adversaries see only output(x) and predict the font (chance {}). alpha = 0 is no defence. \
             Float test accuracy of the undefended model: {}.",
            o.network.inputs,
            o.network.hidden,
            o.network.outputs,
            o.network.outputs,
            pct(o.chance),
            pct(o.float_test_accuracy)
        ))
        .table(&header_refs, rows)
        .figure("tradeoff.png", "Main-task and collateral accuracy per alpha.");
    if let Some(e) = &r.encryption {
        rep.section("Encrypted inference of the private layer (quadratic functional encryption)")
            .paragraph(format!(
                "The undefended private part, quantised (|P| <= {}, |Q| <= {}), evaluated on ciphertexts: the server \
                 learns output(x) through the functional key and a bounded discrete log (|output| <= {}, table of {} \
                 baby steps), nothing else about x. Decrypted integers equal the quantised plaintext outputs: {}.",
                r.config.encryption.p_max, r.config.encryption.q_max, e.dlog_bound, e.dlog_table_entries, e.exact
            ))
            .table(
                &["model", "images", "accuracy"],
                vec![
                    vec!["float (clear)".into(), e.test_images.to_string(), pct(e.float_accuracy)],
                    vec!["quantised (clear)".into(), e.test_images.to_string(), pct(e.quantised_accuracy)],
                    vec!["quantised (clear), sample".into(), e.samples.to_string(), pct(e.quantised_accuracy_on_samples)],
                    vec!["encrypted, sample".into(), e.samples.to_string(), pct(e.encrypted_accuracy)],
                ],
            )
            .table(
                &["cost", "value"],
                vec![
                    vec!["ciphertext".into(), format!("{} bytes", e.ciphertext_bytes)],
                    vec!["discrete-log table".into(), format!("{:.1} ms", e.dlog_table_ms)],
                    vec!["encrypt, per image".into(), format!("{:.1} ms", e.encrypt_ms_per_image)],
                    vec!["decrypt + classify, per image".into(), format!("{:.1} ms", e.decrypt_classify_ms_per_image)],
                ],
            );
    }
    let sec = rep.section("Partition-point sweep (TEE + accelerator layer partitioning)");
    match &r.sweep {
        SweepOutcome::Disabled => {
            sec.paragraph("Disabled in the config.");
        }
        SweepOutcome::Skipped { reason } => {
            sec.paragraph(format!("SKIPPED: {reason}."));
        }
        SweepOutcome::Done {
            summary, folder, ..
        } => {
            sec.paragraph(format!(
                "Small CNN trained on Fashion-MNIST; at each partition point k the feature map is attacked with \
                 reconstruction attacks and scored with SSIM and PSNR (full report: {folder}/report.md). {summary}."
            ))
            .figure(format!("{folder}/ssim_per_point.png"), "Reconstruction SSIM per partition point.")
            .figure(format!("{folder}/reconstructions.png"), "Originals and reconstructions per partition point.");
        }
    }
    rep.section("Timing").paragraph(format!(
        "dataset {:.1} s, collateral learning + defence {:.1} s, encrypted inference {:.1} s, sweep {:.1} s.",
        r.seconds.dataset, r.seconds.collateral, r.seconds.encryption, r.seconds.sweep
    ));
    rep
}
