//! `privsplit sweep`: partition-point sweep with reconstruction attacks (c-GAN, inverse network, white-box
//! rMLE); recommends the earliest safe partition point. `privsplit sweep merge` joins reports of subsets.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use burn::tensor::Device;
use privsplit_attacks::natural::{
    imagenet_norm, lite0_weights_path, load_natural_images, SKIMAGE_DATA_DIR,
};
use privsplit_attacks::rmle::RmleConfig;
use privsplit_attacks::sweep::{
    merge_reports, run_sweep, run_sweep_on, AttackKind, SweepConfig, SweepData, SweepReport,
};
use privsplit_models::weights::{load_model, save_model};
use privsplit_models::zoo::ArchConfig;
use privsplit_report::{
    image_grid, line_plot, read_json, write_json, GridImage, LinePlot, Report, RunDir, Series,
};

/// Arguments of `privsplit sweep`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// `merge`: join the reports of sweeps of disjoint partition-point subsets.
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    /// Preset: `fashion` (small CNN on Fashion-MNIST, all three attacks), `tiny` (seconds; smoke test) or
    /// `lite0` (pretrained EfficientNet-Lite0, white-box rMLE on scikit-image's natural photos).
    #[arg(long, default_value = "fashion")]
    pub preset: String,
    /// Partition points to run, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub points: Option<Vec<usize>>,
    /// Attacks, comma-separated: cgan, inverse, rmle (default: the preset's).
    #[arg(long, value_delimiter = ',')]
    pub attacks: Option<Vec<String>>,
    /// SSIM threshold in [0, 1] for the recommendation (default 0.3, see docs/SWEEP.md).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Evaluation images.
    #[arg(long)]
    pub eval_images: Option<usize>,
    /// Epochs of classifier training (fashion/tiny presets without --weights).
    #[arg(long)]
    pub train_epochs: Option<usize>,
    /// rMLE optimisation steps.
    #[arg(long)]
    pub rmle_steps: Option<usize>,
    /// Input size of the `lite0` preset (pixels; 224 = the pretrained resolution).
    #[arg(long, default_value_t = 96)]
    pub input_size: usize,
    /// Trained model weights (safetensors) to attack instead of training one (fashion/tiny presets); use the
    /// same file on every machine of a distributed sweep.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Fashion-MNIST folder (gzipped IDX).
    #[arg(long, default_value = privsplit_data::fashion_mnist::DEBIAN_DIR)]
    pub data_dir: PathBuf,
    /// Folder of the natural images (lite0 preset).
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
    if let Some(SweepCommand::Merge { reports, out }) = args.command {
        let mut all = Vec::new();
        for p in &reports {
            let file = if p.is_dir() {
                p.join("report.json")
            } else {
                p.clone()
            };
            let r: SweepReport = read_json(&file)
                .with_context(|| format!("reading sweep report {}", file.display()))?;
            all.push(r);
        }
        let merged = merge_reports(all)?;
        let dir = RunDir::create(&out, "sweep-merged")?;
        write_outputs(&merged, dir.path())?;
        let path = dir.finish()?;
        println!("{}", summary(&merged));
        println!("merged run folder: {}", path.display());
        return Ok(());
    }
    let mut cfg = match args.preset.as_str() {
        "fashion" => SweepConfig::fashion_mnist(),
        "tiny" => SweepConfig::tiny(),
        "lite0" => lite0_config(args.input_size),
        other => bail!("--preset: expected fashion, tiny or lite0, got {other:?}"),
    };
    if args.points.is_some() {
        cfg.points = args.points.clone();
    }
    if let Some(e) = args.train_epochs {
        cfg.classifier.epochs = e;
    }
    if let Some(a) = &args.attacks {
        cfg.attacks = a
            .iter()
            .map(|s| s.parse::<AttackKind>())
            .collect::<Result<_, _>>()?;
    }
    if let Some(t) = args.threshold {
        cfg.ssim_threshold = t;
    }
    if let Some(e) = args.eval_images {
        cfg.eval_images = e;
    }
    if let Some(s) = args.rmle_steps {
        cfg.rmle.steps = s;
    }
    cfg.validate()?;
    let dir = RunDir::create(&args.out, &args.name)?;
    let mut progress = |s: &str| eprintln!("{s}");
    let dev = Device::flex();
    let report = if args.preset == "lite0" {
        let weights = args.weights.clone().unwrap_or_else(lite0_weights_path);
        let model = load_model(&cfg.arch, &weights, &dev).with_context(|| {
            format!(
                "loading EfficientNet-Lite0 weights {} (run scripts/install-deps.sh)",
                weights.display()
            )
        })?;
        let (eval, names) = load_natural_images(&args.images_dir, cfg.arch.input_size, &dev)?;
        eprintln!("natural images: {names:?}");
        let data = SweepData {
            attacker: None,
            eval,
            eval_labels: None,
            attacker_labels: None,
        };
        run_sweep_on(&model, &data, &cfg, &mut progress)?
    } else {
        let split = privsplit_data::fashion_mnist::load(&args.data_dir)
            .with_context(|| format!("loading Fashion-MNIST from {}", args.data_dir.display()))?;
        match &args.weights {
            Some(w) => {
                let model = load_model(&cfg.arch, w, &dev)?;
                let data = fashion_data(&cfg, &split, &dev)?;
                let mut report = run_sweep_on(&model, &data, &cfg, &mut progress)?;
                let n = split.test.n;
                let test = privsplit_attacks::victim::images_tensor(&split.test, 0, n, &dev)?;
                let labels = privsplit_attacks::victim::labels(&split.test, 0, n);
                let acc =
                    privsplit_attacks::victim::accuracy(&model, &cfg.norm.apply(test), &labels)?;
                eprintln!("test accuracy of {}: {:.2} %", w.display(), acc * 100.0);
                report.test_accuracy = Some(acc);
                report
            }
            None => {
                let run = run_sweep(&cfg, &split, &mut progress)?;
                save_model(&run.model, &dir.path().join("model.safetensors"))?;
                run.report
            }
        }
    };
    write_outputs(&report, dir.path())?;
    let path = dir.finish()?;
    println!("{}", summary(&report));
    println!("run folder: {}", path.display());
    Ok(())
}

/// The white-box sweep of the pretrained EfficientNet-Lite0 at `size` x `size`: rMLE only, a subset of blocks.
pub fn lite0_config(size: usize) -> SweepConfig {
    let mut c = SweepConfig::fashion_mnist();
    c.arch = ArchConfig::efficientnet_lite0(size, 1000);
    c.points = Some(vec![0, 1, 2, 4, 6, 9, 12, 16]);
    c.attacks = vec![AttackKind::Rmle];
    c.attacker_images = 0;
    c.eval_images = 4;
    c.rmle_images = 4;
    c.rmle = RmleConfig {
        steps: 150,
        learning_rate: 0.1,
        tv_weight: 0.02,
    };
    c.norm = imagenet_norm();
    c.grid_images = 4;
    c.latency_reps = 3;
    c
}

fn fashion_data(
    cfg: &SweepConfig,
    split: &privsplit_data::Split,
    dev: &Device,
) -> anyhow::Result<SweepData> {
    use privsplit_attacks::victim::{images_tensor, labels};
    let tr = &split.train;
    let m = cfg.eval_images.min(split.test.n);
    Ok(SweepData {
        attacker: Some(images_tensor(
            tr,
            tr.n - cfg.attacker_images.min(tr.n),
            tr.n,
            dev,
        )?),
        eval: images_tensor(&split.test, 0, m, dev)?,
        eval_labels: Some(labels(&split.test, 0, m)),
        attacker_labels: Some(labels(tr, tr.n - cfg.attacker_images.min(tr.n), tr.n)),
    })
}

/// One-paragraph summary of the recommendation.
pub fn summary(r: &SweepReport) -> String {
    match &r.recommendation {
        Some(rec) => format!(
            "recommended partition point k={} (after {}): best attack {} SSIM {:.3} < {:.2}; feature map {:?} \
             ({} bytes/image); trusted partition {:.2} MFLOP, {} parameter bytes, {:.3} ms/image",
            rec.k,
            rec.stage,
            rec.best_attack.name(),
            rec.best_ssim,
            r.config.ssim_threshold,
            rec.feature_shape,
            rec.feature_bytes,
            rec.trusted_flops as f64 / 1e6,
            rec.trusted_param_bytes,
            rec.trusted_ms
        ),
        None => format!(
            "no evaluated partition point keeps every attack under SSIM {:.2}: keep the whole model trusted \
             (or lower the threshold)",
            r.config.ssim_threshold
        ),
    }
}

/// Writes `report.json`, `report.md`, `report.html`, `ssim_psnr.png` and `reconstructions.png` into `dir`.
///
/// # Errors
/// Report-writing errors.
pub fn write_outputs(r: &SweepReport, dir: &Path) -> anyhow::Result<()> {
    write_json(&dir.join("report.json"), r)?;
    let attacks: Vec<AttackKind> = r.config.attacks.clone();
    // SSIM and PSNR per partition point.
    let mut ssim_series = Vec::new();
    let mut psnr_series = Vec::new();
    for a in &attacks {
        let pts = |f: &dyn Fn(&privsplit_attacks::sweep::AttackScore) -> f64| -> Vec<(f64, f64)> {
            r.points
                .iter()
                .filter_map(|p| {
                    p.attacks
                        .iter()
                        .find(|s| s.attack == *a)
                        .map(|s| (p.k as f64, f(s)))
                })
                .filter(|(_, y)| y.is_finite())
                .collect()
        };
        ssim_series.push(Series {
            name: format!("{} SSIM", a.name()),
            points: pts(&|s| s.ssim),
        });
        psnr_series.push(Series {
            name: format!("{} PSNR (dB)", a.name()),
            points: pts(&|s| s.psnr),
        });
    }
    let ks: Vec<f64> = r.points.iter().map(|p| p.k as f64).collect();
    if let (Some(&lo), Some(&hi)) = (ks.first(), ks.last()) {
        ssim_series.push(Series {
            name: format!("threshold {:.2}", r.config.ssim_threshold),
            points: vec![(lo, r.config.ssim_threshold), (hi, r.config.ssim_threshold)],
        });
        if let Some(b) = &r.baseline {
            ssim_series.push(Series {
                name: "mean-image baseline".into(),
                points: vec![(lo, b.ssim), (hi, b.ssim)],
            });
            if let Some(cs) = b.class_mean_ssim {
                ssim_series.push(Series {
                    name: "class-mean baseline".into(),
                    points: vec![(lo, cs), (hi, cs)],
                });
            }
        }
    }
    let have_points = r.points.iter().any(|p| !p.attacks.is_empty());
    if have_points {
        line_plot(
            &dir.join("ssim_per_point.png"),
            &LinePlot {
                title: format!(
                    "Reconstruction SSIM per partition point ({:?})",
                    r.config.arch.kind
                ),
                x_label: "partition point k".into(),
                y_label: "SSIM".into(),
                series: ssim_series,
                y_range: Some((0.0, 1.0)),
                ..LinePlot::default()
            },
        )?;
        line_plot(
            &dir.join("psnr_per_point.png"),
            &LinePlot {
                title: format!(
                    "Reconstruction PSNR per partition point ({:?})",
                    r.config.arch.kind
                ),
                x_label: "partition point k".into(),
                y_label: "PSNR (dB)".into(),
                series: psnr_series,
                ..LinePlot::default()
            },
        )?;
    }
    // Reconstruction grid: one row per (k, attack), originals first.
    let [c, h, w] = r.image_shape;
    let px = c * h * w;
    let g = r.originals.len().checked_div(px).unwrap_or(0);
    let to_f32 = |v: &[u8]| -> Vec<f32> { v.iter().map(|&b| f32::from(b) / 255.0).collect() };
    let mut bufs: Vec<(String, Vec<f32>)> = Vec::new();
    for i in 0..g {
        bufs.push((
            format!("original {i}"),
            to_f32(&r.originals[i * px..(i + 1) * px]),
        ));
    }
    for p in &r.points {
        for s in &p.attacks {
            for i in 0..g.min(s.grid.len() / px.max(1)) {
                bufs.push((
                    format!("k={} {}", p.k, s.attack.name()),
                    to_f32(&s.grid[i * px..(i + 1) * px]),
                ));
            }
        }
    }
    if g > 0 {
        let imgs: Vec<GridImage<'_>> = bufs
            .iter()
            .map(|(_, d)| {
                if c == 3 {
                    GridImage::Rgb {
                        height: h,
                        width: w,
                        data: d,
                    }
                } else {
                    GridImage::GreyF32 {
                        rows: h,
                        cols: w,
                        data: &d[..h * w],
                    }
                }
            })
            .collect();
        let labels: Vec<String> = bufs.iter().map(|(l, _)| l.clone()).collect();
        let scale = if h <= 32 { 3 } else { 1 };
        image_grid(
            &dir.join("reconstructions.png"),
            &imgs,
            g,
            scale,
            Some(&labels),
        )?;
    }
    // Human report.
    let mut doc = Report::new(format!("Partition-point sweep: {:?}", r.config.arch.kind));
    let s = doc.section("Recommendation");
    s.paragraph(summary(r));
    if let Some(a) = r.model_accuracy {
        s.paragraph(format!(
            "Test accuracy of the full model on the evaluation images: {:.2} %",
            a * 100.0
        ));
    }
    if let Some(b) = &r.baseline {
        s.paragraph(format!(
            "Mean-image baseline (answer the attacker dataset's mean image): SSIM {:.3}, PSNR {:.2} dB",
            b.ssim, b.psnr
        ));
        if let (Some(cs), Some(cp)) = (b.class_mean_ssim, b.class_mean_psnr) {
            s.paragraph(format!(
                "Class-mean baseline (answer the mean image of the true class, i.e. learn only the class): \
                 SSIM {cs:.3}, PSNR {cp:.2} dB"
            ));
        }
    }
    let mut header = vec![
        "k".to_string(),
        "after stage".into(),
        "feature map".into(),
        "bytes".into(),
        "trusted MFLOP".into(),
        "trusted param bytes".into(),
        "trusted ms".into(),
        "untrusted ms".into(),
    ];
    for a in &attacks {
        header.push(format!("{} SSIM", a.name()));
        header.push(format!("{} PSNR dB", a.name()));
        header.push(format!("{} acc.", a.name()));
    }
    let rows: Vec<Vec<String>> = r
        .points
        .iter()
        .map(|p| {
            let mut row = vec![
                p.k.to_string(),
                p.stage.clone(),
                format!("{:?}", p.feature_shape),
                p.feature_bytes.to_string(),
                format!("{:.3}", p.trusted_flops as f64 / 1e6),
                p.trusted_param_bytes.to_string(),
                format!("{:.3}", p.trusted_ms),
                format!("{:.3}", p.untrusted_ms),
            ];
            for a in &attacks {
                match p.attacks.iter().find(|s| s.attack == *a) {
                    Some(s) => {
                        row.push(format!("{:.3}", s.ssim));
                        row.push(format!("{:.2}", s.psnr));
                        row.push(
                            s.accuracy
                                .map(|x| format!("{:.1} %", x * 100.0))
                                .unwrap_or_else(|| "-".into()),
                        );
                    }
                    None => row.extend(["-".to_string(), "-".into(), "-".into()]),
                }
            }
            row
        })
        .collect();
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let s = doc.section("Per partition point");
    s.table(&header_refs, rows);
    if have_points {
        s.figure(
            "ssim_per_point.png",
            "Mean SSIM of each attack per partition point",
        );
        s.figure(
            "psnr_per_point.png",
            "Mean PSNR (dB) of each attack per partition point",
        );
    }
    if g > 0 {
        s.figure(
            "reconstructions.png",
            "Originals, then each attack's reconstructions at each partition point",
        );
    }
    doc.section("Run").paragraph(format!(
        "Sweep time {:.1} s (classifier training {:.1} s). Configuration in report.json.",
        r.seconds, r.train_seconds
    ));
    privsplit_report::write_atomic(&dir.join("report.md"), doc.to_markdown().as_bytes())?;
    privsplit_report::write_atomic(&dir.join("report.html"), doc.to_html().as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `privsplit sweep --preset tiny` produces a complete run folder (needs Debian dataset-fashion-mnist).
    #[test]
    fn tiny_sweep_writes_a_complete_run_folder() {
        let data = PathBuf::from(privsplit_data::fashion_mnist::DEBIAN_DIR);
        if !data.join("train-images-idx3-ubyte.gz").is_file() {
            eprintln!(
                "skipping: {} missing (run scripts/install-deps.sh)",
                data.display()
            );
            return;
        }
        let out = std::env::temp_dir().join(format!("privsplit-sweep-cli-{}", std::process::id()));
        let args = Args {
            command: None,
            preset: "tiny".into(),
            points: Some(vec![0, 4, 6]),
            attacks: Some(vec!["inverse".into(), "rmle".into()]),
            threshold: None,
            eval_images: Some(8),
            train_epochs: Some(1),
            rmle_steps: Some(10),
            input_size: 96,
            weights: None,
            data_dir: data,
            images_dir: PathBuf::from(SKIMAGE_DATA_DIR),
            out: out.clone(),
            name: "tiny".into(),
        };
        run(args).expect("sweep");
        let runs: Vec<PathBuf> = std::fs::read_dir(&out)
            .expect("out")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        assert_eq!(runs.len(), 1, "{runs:?}");
        for f in [
            "report.json",
            "report.md",
            "report.html",
            "ssim_per_point.png",
            "psnr_per_point.png",
            "reconstructions.png",
            "model.safetensors",
        ] {
            assert!(runs[0].join(f).is_file(), "missing {f}");
        }
        let r: SweepReport = read_json(&runs[0].join("report.json")).expect("report");
        assert_eq!(r.points.iter().map(|p| p.k).collect::<Vec<_>>(), [0, 4, 6]);
        assert!(r.points.iter().all(|p| p.attacks.len() == 2));
        // Merging the run with itself is rejected (same points twice).
        let dup = run(Args {
            command: Some(SweepCommand::Merge {
                reports: vec![runs[0].clone(), runs[0].clone()],
                out: out.clone(),
            }),
            ..Args {
                command: None,
                preset: "tiny".into(),
                points: None,
                attacks: None,
                threshold: Some(2.0),
                eval_images: None,
                train_epochs: None,
                rmle_steps: None,
                input_size: 96,
                weights: None,
                data_dir: PathBuf::new(),
                images_dir: PathBuf::new(),
                out: out.clone(),
                name: "x".into(),
            }
        });
        assert!(dup.is_err());
        let _ = std::fs::remove_dir_all(&out);
    }
}
