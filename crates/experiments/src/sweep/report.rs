//! The sweep's run folder: `report.json` (the [`SweepReport`]), `report.md` / `report.html`,
//! `points.csv` (one row per partition point and attack), `verdicts.csv` (one row per point),
//! `priors.csv` (prior-only baselines), `seeds.csv` (with repeated seeds), SSIM, PSNR,
//! SSIM-gain, identification and enclave-latency plots (PNG + SVG) and the reconstruction grid `reconstructions.png`
//! (rows = partition points, columns = attack x image, the originals in the first row).

use std::path::Path;

use privsplit_attacks::ReconstructionAttack;
use privsplit_report::{
    image_grid, line_plot, write_atomic, write_csv, write_json, GridImage, LinePlot, Report, Series,
};

use super::summary::summary;
use super::tables::{
    leakage_table, point_table, points_csv_rows, priors_csv_rows, repeats_table, seeds_csv_rows,
    verdicts_csv_rows, POINTS_CSV_HEADER, PRIORS_CSV_HEADER, SEEDS_CSV_HEADER, VERDICTS_CSV_HEADER,
};
use super::{AttackScore, ModelWeights, SweepReport};
use crate::Result;

/// The score of `attack` at each point, as `(k, f(score))` with finite values only.
fn per_point(
    r: &SweepReport,
    attack: ReconstructionAttack,
    f: impl Fn(&AttackScore) -> f64,
) -> Vec<(f64, f64)> {
    r.points
        .iter()
        .filter_map(|p| {
            p.attacks
                .iter()
                .find(|s| s.attack == attack)
                .map(|s| (p.k as f64, f(s)))
        })
        .filter(|(_, y)| y.is_finite())
        .collect()
}

/// A horizontal line from the first to the last partition point.
fn level(r: &SweepReport, name: String, y: f64) -> Option<Series> {
    let (lo, hi) = (r.points.first()?.k as f64, r.points.last()?.k as f64);
    Some(Series {
        name,
        points: vec![(lo, y), (hi, y)],
    })
}

fn write_plots(r: &SweepReport, dir: &Path) -> Result<()> {
    let mut ssim = Vec::new();
    let mut psnr = Vec::new();
    for &a in &r.config.attacks {
        ssim.push(Series {
            name: format!("{} SSIM", a.name()),
            points: per_point(r, a, |s| s.ssim),
        });
        psnr.push(Series {
            name: format!("{} PSNR (dB)", a.name()),
            points: per_point(r, a, |s| s.psnr),
        });
    }
    let t = r.config.ssim_threshold;
    ssim.extend(level(r, format!("threshold {t:.2}"), t));
    if let Some(b) = &r.baseline {
        ssim.extend(level(r, "mean-image baseline".into(), b.ssim));
        if let Some(cs) = b.class_mean_ssim {
            ssim.extend(level(r, "class-mean baseline".into(), cs));
        }
    }
    let kind = r.config.model_name();
    line_plot(
        &dir.join("ssim_per_point.png"),
        &LinePlot {
            title: format!("Reconstruction SSIM per partition point ({kind})"),
            x_label: "partition point k".into(),
            y_label: "SSIM".into(),
            series: ssim,
            y_range: Some((0.0, 1.0)),
            ..LinePlot::default()
        },
    )?;
    write_gain_plot(r, dir)?;
    write_identification_plot(r, dir)?;
    write_enclave_plot(r, dir)?;
    line_plot(
        &dir.join("psnr_per_point.png"),
        &LinePlot {
            title: format!("Reconstruction PSNR per partition point ({kind})"),
            x_label: "partition point k".into(),
            y_label: "PSNR (dB)".into(),
            series: psnr,
            ..LinePlot::default()
        },
    )?;
    Ok(())
}

/// SSIM gain over the strongest prior-only baseline per attack, with the upper bound of its 95 % interval
/// and the margin (`gain_per_point.png` / `.svg`); nothing without leakage statistics.
fn write_gain_plot(r: &SweepReport, dir: &Path) -> Result<()> {
    let mut series = Vec::new();
    for &a in &r.config.attacks {
        let gain = |f: fn(&super::Leakage) -> f64| {
            per_point(r, a, move |s| s.leakage.as_ref().map_or(f64::NAN, f))
        };
        let points = gain(|l| l.gain);
        if points.is_empty() {
            continue;
        }
        series.push(Series {
            name: format!("{} SSIM gain", a.name()),
            points,
        });
        series.push(Series {
            name: format!("{} 95 % CI upper", a.name()),
            points: gain(|l| l.gain_ci95[1]),
        });
    }
    if series.is_empty() {
        return Ok(());
    }
    let m = r.config.rule.margin;
    let floor = r
        .floor
        .as_ref()
        .filter(|f| f.from_output)
        .map_or(0.0, |f| f.gain);
    series.extend(level(
        r,
        format!("floor {floor:+.3} + margin {m:.2}"),
        floor + m,
    ));
    series.extend(level(r, "prior-only baseline (gain 0)".into(), 0.0));
    line_plot(
        &dir.join("gain_per_point.png"),
        &LinePlot {
            title: "SSIM gain over the strongest prior-only baseline per partition point".into(),
            x_label: "partition point k".into(),
            y_label: "SSIM gain".into(),
            series,
            ..LinePlot::default()
        },
    )?;
    Ok(())
}

/// Identification top-1 accuracy per attack with the lower bound of its Wilson 95 % interval, chance `1 / N`
/// and the floor the rule compares the lower bound with (`identification_per_point.png` / `.svg`); nothing
/// without identification statistics.
fn write_identification_plot(r: &SweepReport, dir: &Path) -> Result<()> {
    let mut series = Vec::new();
    for &a in &r.config.attacks {
        let id = |f: fn(&privsplit_attacks::tabular_metrics::Reidentification) -> f64| {
            per_point(r, a, move |s| {
                s.leakage
                    .as_ref()
                    .and_then(|l| l.identification.as_ref())
                    .map_or(f64::NAN, f)
            })
        };
        let points = id(|i| i.top1);
        if points.is_empty() {
            continue;
        }
        series.push(Series {
            name: format!("{} top-1", a.name()),
            points,
        });
        series.push(Series {
            name: format!("{} 95 % CI lower", a.name()),
            points: id(|i| i.ci95[0]),
        });
    }
    if series.is_empty() {
        return Ok(());
    }
    let chance = 1.0 / r.config.rule.candidates.max(1) as f64;
    series.extend(level(
        r,
        format!("chance 1/{}", r.config.rule.candidates),
        chance,
    ));
    if let Some(f) = r.floor.as_ref().filter(|f| f.from_output) {
        series.extend(level(r, "floor (output at k = n)".into(), f.identification));
    }
    line_plot(
        &dir.join("identification_per_point.png"),
        &LinePlot {
            title: format!(
                "Identification of the input among {} same-class candidates per partition point",
                r.config.rule.candidates
            ),
            x_label: "partition point k".into(),
            y_label: "top-1 accuracy".into(),
            series,
            y_range: Some((0.0, 1.0)),
            ..LinePlot::default()
        },
    )?;
    Ok(())
}

/// Measured CPU latency of both partitions and the TEE estimate of the trusted one
/// (`enclave_per_point.png` / `.svg`).
fn write_enclave_plot(r: &SweepReport, dir: &Path) -> Result<()> {
    let pts = |f: fn(&super::PointResult) -> Option<f64>| -> Vec<(f64, f64)> {
        r.points
            .iter()
            .filter_map(|p| f(p).map(|y| (p.k as f64, y)))
            .collect()
    };
    let tee = r
        .points
        .iter()
        .find_map(|p| p.enclave.as_ref().map(|e| e.tee.to_string()))
        .unwrap_or_else(|| "TEE".into());
    line_plot(
        &dir.join("enclave_per_point.png"),
        &LinePlot {
            title: format!("Latency per image per partition point (trusted estimate: {tee})"),
            x_label: "partition point k".into(),
            y_label: "ms per image".into(),
            series: vec![
                Series {
                    name: "trusted, measured (CPU)".into(),
                    points: pts(|p| Some(p.trusted_ms)),
                },
                Series {
                    name: format!("trusted, estimated ({tee})"),
                    points: pts(|p| p.enclave.as_ref().map(|e| e.estimated_ms)),
                },
                Series {
                    name: "untrusted, measured (CPU)".into(),
                    points: pts(|p| Some(p.untrusted_ms)),
                },
            ],
            ..LinePlot::default()
        },
    )?;
    Ok(())
}

/// The reconstruction grid: one row per partition point (the originals first), one column per attack and
/// grid image. Returns whether a grid was written (there are grid images).
pub fn write_grid(r: &SweepReport, path: &Path) -> Result<bool> {
    let [c, h, w] = r.image_shape;
    let px = c * h * w;
    let g = r.originals.len().checked_div(px).unwrap_or(0);
    if g == 0 || r.config.attacks.is_empty() {
        return Ok(false);
    }
    let to_f32 = |v: &[u8]| -> Vec<f32> { v.iter().map(|&b| f32::from(b) / 255.0).collect() };
    let blank = vec![1.0f32; px];
    let mut cells: Vec<(String, Vec<f32>)> = Vec::new();
    for a in &r.config.attacks {
        for i in 0..g {
            cells.push((
                format!("original {i} | {}", a.name()),
                to_f32(&r.originals[i * px..(i + 1) * px]),
            ));
        }
    }
    for p in &r.points {
        for &a in &r.config.attacks {
            let s = p.attacks.iter().find(|s| s.attack == a);
            for i in 0..g {
                let cell = s
                    .filter(|s| s.grid.len() >= (i + 1) * px)
                    .map(|s| to_f32(&s.grid[i * px..(i + 1) * px]));
                let label = format!("k={} {} #{i}", p.k, a.name());
                cells.push((label, cell.unwrap_or_else(|| blank.clone())));
            }
        }
    }
    let imgs: Vec<GridImage<'_>> = cells
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
    let labels: Vec<String> = cells.iter().map(|(l, _)| l.clone()).collect();
    let scale = if h <= 32 { 3 } else { 1 };
    let cols = g * r.config.attacks.len();
    image_grid(path, &imgs, cols, scale, Some(&labels))?;
    Ok(true)
}

/// The files of a sweep's run folder (`model.safetensors` only when the model was trained there; the plots
/// only when a point was attacked, the gain and identification plots and `priors.csv` only with an attacker
/// dataset; the grid only with grid images). With repeated seeds also `seeds.csv` and one `seed-<seed>/` folder per seed.
pub const FILES: [&str; 18] = [
    "report.json",
    "report.md",
    "report.html",
    "points.csv",
    "verdicts.csv",
    "priors.csv",
    "ssim_per_point.png",
    "ssim_per_point.svg",
    "psnr_per_point.png",
    "psnr_per_point.svg",
    "gain_per_point.png",
    "gain_per_point.svg",
    "identification_per_point.png",
    "identification_per_point.svg",
    "enclave_per_point.png",
    "enclave_per_point.svg",
    "reconstructions.png",
    "model.safetensors",
];

/// Writes the run folder of a sweep into `dir` (see the module docs).
///
/// # Errors
/// Report-writing errors.
pub fn write_outputs(r: &SweepReport, dir: &Path) -> Result<()> {
    write_json(&dir.join("report.json"), r)?;
    write_csv(
        &dir.join("points.csv"),
        &POINTS_CSV_HEADER,
        &points_csv_rows(r),
    )?;
    write_csv(
        &dir.join("verdicts.csv"),
        &VERDICTS_CSV_HEADER,
        &verdicts_csv_rows(r),
    )?;
    if !r.priors.is_empty() {
        write_csv(
            &dir.join("priors.csv"),
            &PRIORS_CSV_HEADER,
            &priors_csv_rows(r),
        )?;
    }
    if r.repeats.is_some() {
        write_csv(
            &dir.join("seeds.csv"),
            &SEEDS_CSV_HEADER,
            &seeds_csv_rows(r),
        )?;
    }
    let have_points = r.points.iter().any(|p| !p.attacks.is_empty());
    if have_points {
        write_plots(r, dir)?;
    }
    let grid = write_grid(r, &dir.join("reconstructions.png"))?;
    let doc = human_report(r, have_points, grid);
    write_atomic(&dir.join("report.md"), doc.to_markdown().as_bytes())?;
    write_atomic(&dir.join("report.html"), doc.to_html().as_bytes())?;
    Ok(())
}

/// Whether any attack has leakage statistics (the gain plot exists).
fn dir_has_gain(r: &SweepReport) -> bool {
    r.points
        .iter()
        .any(|p| p.attacks.iter().any(|a| a.leakage.is_some()))
}

fn human_report(r: &SweepReport, have_points: bool, grid: bool) -> Report {
    let tag = r.config.weights.as_ref().and_then(ModelWeights::tag);
    let mut doc = Report::new(format!(
        "Partition-point sweep: {}{}",
        r.config.model_name(),
        tag.map_or_else(String::new, |t| format!(" ({t})"))
    ));
    if let Some(w) = &r.config.weights {
        doc.section("Model").paragraph(format!(
            "{} at {} px: {}",
            r.config.model_name(),
            r.config.arch.input_size,
            w.label()
        ));
    }
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
    for p in &r.priors {
        s.paragraph(format!(
            "Prior-only baseline '{}' (uses at most the predicted class): SSIM {:.3}, PSNR {:.2} dB",
            p.prior.name(),
            p.ssim,
            p.psnr
        ));
    }
    let (header, rows) = point_table(r);
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let s = doc.section("Per partition point");
    s.table(&header_refs, rows);
    s.paragraph("The same numbers, one row per point and attack: points.csv.");
    let (lh, lr) = leakage_table(r);
    if !lr.is_empty() {
        s.paragraph(
            "Leakage beyond the predicted label (gain CI: percentile bootstrap, Efron & Tibshirani 1993; \
             identification CI: Wilson):",
        );
        s.table(&lh, lr);
    }
    for v in r.verdicts.iter().filter(|v| !v.reasons.is_empty()) {
        s.paragraph(format!(
            "k={} {}: {}",
            v.k,
            if v.safe { "safe" } else { "unsafe" },
            v.reasons.join("; ")
        ));
    }
    if have_points {
        s.figure(
            "ssim_per_point.png",
            "Mean SSIM of each attack per partition point (also .svg)",
        );
        s.figure(
            "psnr_per_point.png",
            "Mean PSNR (dB) of each attack per partition point (also .svg)",
        );
        if dir_has_gain(r) {
            s.figure(
                "gain_per_point.png",
                "SSIM gain over the strongest prior-only baseline, its 95 % CI upper bound and the margin (also .svg)",
            );
            s.figure(
                "identification_per_point.png",
                "Identification top-1 among same-class candidates, its 95 % CI lower bound and chance (also .svg)",
            );
        }
        s.figure(
            "enclave_per_point.png",
            "Latency per image: trusted partition measured and estimated in the TEE, untrusted partition (also .svg)",
        );
    }
    if grid {
        s.figure(
            "reconstructions.png",
            "Row 1: originals; then one row per partition point; columns: attack x image",
        );
    }
    if let Some((h, rows)) = repeats_table(r) {
        let seeds = r
            .repeats
            .as_ref()
            .map(|x| x.seeds.clone())
            .unwrap_or_default();
        let s = doc.section("Repeated seeds");
        s.paragraph(format!(
            "Seeds {seeds:?}, mean +- sample std (seeds.csv; each seed's run folder: seed-<seed>/). Per-seed \
             recommendations: {:?}.",
            r.repeats.as_ref().map(|x| x.recommended.clone()).unwrap_or_default()
        ));
        s.table(&h, rows);
    }
    doc.section("Run").paragraph(format!(
        "Sweep time {:.1} s (classifier training {:.1} s). Configuration in report.json.",
        r.seconds, r.train_seconds
    ));
    doc
}
