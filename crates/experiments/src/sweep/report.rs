//! The sweep's run folder: `report.json` (the [`SweepReport`]), `report.md` / `report.html`,
//! `points.csv` (one row per partition point and attack), SSIM and PSNR plots (PNG + SVG) and the
//! reconstruction grid `reconstructions.png` (rows = partition points, columns = attack x image, the
//! originals in the first row).

use std::path::Path;

use privsplit_attacks::ReconstructionAttack;
use privsplit_report::{
    image_grid, line_plot, write_atomic, write_csv, write_json, GridImage, LinePlot, Report, Series,
};

use super::{AttackScore, SweepReport};
use crate::Result;

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
    let kind = format!("{:?}", r.config.arch.kind);
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
/// only when a point was attacked; the grid only with grid images).
pub const FILES: [&str; 10] = [
    "report.json",
    "report.md",
    "report.html",
    "points.csv",
    "ssim_per_point.png",
    "ssim_per_point.svg",
    "psnr_per_point.png",
    "psnr_per_point.svg",
    "reconstructions.png",
    "model.safetensors",
];

/// Cost columns of a point: k, stage, feature-map shape and bytes, trusted MFLOP, trusted parameter bytes,
/// trusted and untrusted ms (`digits` decimals for MFLOP and ms).
fn cost_cells(p: &super::PointResult, digits: usize) -> Vec<String> {
    vec![
        p.k.to_string(),
        p.stage.clone(),
        format!("{:?}", p.feature_shape),
        p.feature_bytes.to_string(),
        format!("{:.digits$}", p.trusted_flops as f64 / 1e6),
        p.trusted_param_bytes.to_string(),
        format!("{:.digits$}", p.trusted_ms),
        format!("{:.digits$}", p.untrusted_ms),
    ]
}

/// Header of `points.csv` (one row per partition point and attack; units in the column names).
pub const POINTS_CSV_HEADER: [&str; 14] = [
    "k",
    "stage",
    "feature_map",
    "feature_bytes",
    "trusted_mflop",
    "trusted_param_bytes",
    "trusted_ms",
    "untrusted_ms",
    "attack",
    "ssim",
    "ssim_std",
    "psnr_db",
    "accuracy_on_reconstructions",
    "images",
];

/// The rows of `points.csv`.
pub fn points_csv_rows(r: &SweepReport) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for p in &r.points {
        for s in &p.attacks {
            let mut row = cost_cells(p, 4);
            row.extend([
                s.attack.name().into(),
                format!("{:.4}", s.ssim),
                format!("{:.4}", s.ssim_std),
                format!("{:.3}", s.psnr),
                s.accuracy.map(|a| format!("{a:.4}")).unwrap_or_default(),
                s.images.to_string(),
            ]);
            rows.push(row);
        }
    }
    rows
}

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

fn human_report(r: &SweepReport, have_points: bool, grid: bool) -> Report {
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
    let (header, rows) = point_table(r);
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let s = doc.section("Per partition point");
    s.table(&header_refs, rows);
    s.paragraph("The same numbers, one row per point and attack: points.csv.");
    if have_points {
        s.figure(
            "ssim_per_point.png",
            "Mean SSIM of each attack per partition point (also .svg)",
        );
        s.figure(
            "psnr_per_point.png",
            "Mean PSNR (dB) of each attack per partition point (also .svg)",
        );
    }
    if grid {
        s.figure(
            "reconstructions.png",
            "Row 1: originals; then one row per partition point; columns: attack x image",
        );
    }
    doc.section("Run").paragraph(format!(
        "Sweep time {:.1} s (classifier training {:.1} s). Configuration in report.json.",
        r.seconds, r.train_seconds
    ));
    doc
}

/// The per-point table of the human report: cost columns, then SSIM / PSNR / accuracy per attack.
fn point_table(r: &SweepReport) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = [
        "k",
        "after stage",
        "feature map",
        "bytes",
        "trusted MFLOP",
        "trusted param bytes",
        "trusted ms",
        "untrusted ms",
    ]
    .map(String::from)
    .to_vec();
    for a in &r.config.attacks {
        header.push(format!("{} SSIM", a.name()));
        header.push(format!("{} PSNR dB", a.name()));
        header.push(format!("{} acc.", a.name()));
    }
    let rows = r
        .points
        .iter()
        .map(|p| {
            let mut row = cost_cells(p, 3);
            for a in &r.config.attacks {
                match p.attacks.iter().find(|s| s.attack == *a) {
                    Some(s) => {
                        row.push(format!("{:.3}", s.ssim));
                        row.push(format!("{:.2}", s.psnr));
                        row.push(
                            s.accuracy
                                .map_or_else(|| "-".into(), |x| format!("{:.1} %", x * 100.0)),
                        );
                    }
                    None => row.extend(["-".to_string(), "-".into(), "-".into()]),
                }
            }
            row
        })
        .collect();
    (header, rows)
}
