//! The run folder of the defend experiment: `report.json` (everything, machine-readable), `report.md` /
//! `report.html` (tables, the trade-off plot, the enclave saving), `alphas.csv` (one row per defence and
//! alpha, the undefended model first), `tradeoff.png` / `.svg` (main-task accuracy against the largest
//! SSIM gain over the prior-only baseline at `k`, one curve per defence from the undefended point, safe
//! points marked) and, per model, a sweep run folder with its weights (`undefended/`,
//! `<defence>-alpha-<alpha>/`).

use std::path::Path;

use privsplit_attacks::ReconstructionAttack;
use privsplit_report::{line_plot, write_atomic, write_csv, write_json, LinePlot, Report, Series};

use super::run::{AlphaResult, AttackSummary, CutCost, DefendReport, Status, MODEL_FILE};
use crate::sweep::Verdict;
use crate::Result;

/// Files at the top of a defend run folder.
pub const FILES: [&str; 7] = [
    "report.json",
    "report.md",
    "report.html",
    "alphas.csv",
    "tradeoff.png",
    "tradeoff.svg",
    "config.toml",
];

/// Header of `alphas.csv`.
pub const ALPHAS_CSV_HEADER: [&str; 13] = [
    "defence",
    "alpha",
    "final_alpha",
    "status",
    "diverged",
    "test_accuracy",
    "accuracy_drop_points",
    "max_ssim_gain",
    "cgan_ssim",
    "inverse_ssim",
    "rmle_ssim",
    "safe_by_rule",
    "folder",
];

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(String::new, |x| format!("{x:.digits$}"))
}

/// The measured columns of an `alphas.csv` row, `test_accuracy` to `safe_by_rule`: the test accuracy in
/// `[0, 1]`, its drop from the undefended model in points, the largest SSIM gain, each attack's SSIM at `k`
/// and the rule's verdict.
fn measured_cells(
    test_accuracy: f64,
    accuracy_drop: f64,
    max_gain: Option<f64>,
    attacks: &[AttackSummary],
    verdict: Option<&Verdict>,
) -> Vec<String> {
    let ssim_of = |attack: ReconstructionAttack| {
        opt(
            attacks.iter().find(|a| a.attack == attack).map(|a| a.ssim),
            4,
        )
    };
    vec![
        format!("{test_accuracy:.4}"),
        format!("{:.2}", accuracy_drop * 100.0),
        opt(max_gain, 4),
        ssim_of(ReconstructionAttack::Cgan),
        ssim_of(ReconstructionAttack::Inverse),
        ssim_of(ReconstructionAttack::Rmle),
        verdict.map_or(String::new(), |v| v.safe.to_string()),
    ]
}

/// The CSV rows: the undefended model (defence `none`, alpha 0), then every result.
pub fn alpha_rows(r: &DefendReport) -> Vec<Vec<String>> {
    let u = &r.undefended;
    let undefended = measured_cells(
        u.test_accuracy,
        0.0,
        u.max_gain,
        &u.attacks,
        u.verdict.as_ref(),
    );
    let first: Vec<String> = ["none", "0", "0", "undefended", "false"]
        .into_iter()
        .map(String::from)
        .chain(undefended)
        .chain(["undefended".to_string()])
        .collect();
    let results = r.results.iter().map(|a| -> Vec<String> {
        let head = [
            a.defence.name().to_string(),
            a.alpha.to_string(),
            a.final_alpha.to_string(),
            a.status.label().to_string(),
            a.diverged.to_string(),
        ];
        let measured = measured_cells(
            a.test_accuracy,
            a.accuracy_drop,
            a.max_gain,
            &a.attacks,
            a.verdict.as_ref(),
        );
        head.into_iter()
            .chain(measured)
            .chain([a.folder.clone()])
            .collect()
    });
    std::iter::once(first).chain(results).collect()
}

/// The trade-off plot's series: per defence, the undefended point then each non-diverged alpha (x = largest
/// SSIM gain at `k`, y = test accuracy in %); one marker series per safe point; the accuracy budget.
pub fn tradeoff_series(r: &DefendReport) -> Vec<Series> {
    let u = &r.undefended;
    let origin = u.max_gain.map(|g| (g, u.test_accuracy * 100.0));
    let mut series = Vec::new();
    for &d in &r.config.defences {
        let mut points: Vec<(f64, f64)> = origin.into_iter().collect();
        points.extend(
            r.results
                .iter()
                .filter(|a| a.defence == d && a.status != Status::Diverged)
                .filter_map(|a| a.max_gain.map(|g| (g, a.test_accuracy * 100.0))),
        );
        series.push(Series {
            name: format!("{} (alpha {:?})", d.name(), r.config.alphas),
            points,
        });
    }
    for a in r
        .results
        .iter()
        .filter(|a| matches!(a.status, Status::Defended | Status::SafeOverBudget))
    {
        if let Some(g) = a.max_gain {
            series.push(Series {
                name: format!(
                    "safe at k={}: {} alpha {}",
                    r.config.k,
                    a.defence.name(),
                    a.alpha
                ),
                points: vec![(g, a.test_accuracy * 100.0)],
            });
        }
    }
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    if let (Some(lo), Some(hi)) = (
        xs.iter().copied().reduce(f64::min),
        xs.iter().copied().reduce(f64::max),
    ) {
        let y = (u.test_accuracy - r.config.max_accuracy_drop) * 100.0;
        series.push(Series {
            name: format!(
                "accuracy budget (undefended - {:.0} points)",
                r.config.max_accuracy_drop * 100.0
            ),
            points: vec![(lo, y), (hi, y)],
        });
    }
    series
}

fn cost_line(c: &CutCost) -> String {
    format!(
        "k={}: {:.2} MFLOP, {} parameter bytes, {:.3} ms per image (TEE estimate)",
        c.k,
        c.trusted_flops as f64 / 1e6,
        c.trusted_param_bytes,
        c.estimated_ms
    )
}

/// One paragraph: whether some alpha made `k` safe within the budget, else how close the best came; and
/// the enclave saving of the cut at `k` against the undefended reference.
pub fn summary(r: &DefendReport) -> String {
    let k = r.config.k;
    let u = &r.undefended;
    let undefended_safe = u.verdict.as_ref().is_some_and(|v| v.safe);
    let mut s = format!(
        "Partition point k={k} (after {}) of {:?}; undefended test accuracy {:.2} %, largest SSIM gain at k {} ({}). ",
        r.stage,
        r.config.sweep.arch.kind,
        u.test_accuracy * 100.0,
        opt(u.max_gain, 3),
        if undefended_safe { "already safe" } else { "unsafe" }
    );
    let defended: Vec<&AlphaResult> = r.defended().collect();
    if defended.is_empty() {
        let best = r
            .results
            .iter()
            .filter(|a| {
                a.status != Status::Diverged && a.accuracy_drop <= r.config.max_accuracy_drop
            })
            .filter_map(|a| a.max_gain.map(|g| (a, g)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        s.push_str(&format!(
            "No alpha made k={k} safe by the rule within {:.0} points of main-task accuracy. ",
            r.config.max_accuracy_drop * 100.0
        ));
        if let Some((a, g)) = best {
            s.push_str(&format!(
                "Closest within the budget: {} alpha {} (largest SSIM gain {g:+.3}, test accuracy {:.2} %). ",
                a.defence.name(),
                a.alpha,
                a.test_accuracy * 100.0
            ));
        }
    } else {
        let names: Vec<String> = defended
            .iter()
            .map(|a| {
                format!(
                    "{} alpha {} ({:.2} %, gain {})",
                    a.defence.name(),
                    a.alpha,
                    a.test_accuracy * 100.0,
                    opt(a.max_gain, 3)
                )
            })
            .collect();
        s.push_str(&format!(
            "Safe at k={k} by the rule within the budget: {}. ",
            names.join(", ")
        ));
    }
    let diverged = r.results.iter().filter(|a| a.diverged).count();
    if diverged > 0 {
        s.push_str(&format!(
            "{diverged} run(s) DIVERGED (reported as such, never as defended). "
        ));
    }
    match (&u.reference, &u.at_k) {
        (Some(refc), Some(at)) if refc.k > at.k => s.push_str(&format!(
            "Undefended reference cut ({}) {}; the cut at k={k} saves {:.2} MFLOP and {} parameter bytes in the enclave, {}.",
            if u.recommendation.is_some() { "the recommendation" } else { "no safe point: the whole model" },
            cost_line(refc),
            (refc.trusted_flops.saturating_sub(at.trusted_flops)) as f64 / 1e6,
            refc.trusted_param_bytes.saturating_sub(at.trusted_param_bytes),
            latency_change(refc.estimated_ms - at.estimated_ms)
        )),
        (Some(refc), _) => s.push_str(&format!(
            "Undefended reference cut {}: no saving from k={k}.",
            cost_line(refc)
        )),
        _ => {}
    }
    s
}

/// The `--model` spec of `privsplit serve` for the small CNN at `arch`'s width: `small-cnn`, or
/// `small-cnn%25` for the quarter-width CNN of the tiny preset.
pub fn serve_spec(arch: &privsplit_models::zoo::ArchConfig) -> String {
    if (arch.width - 1.0).abs() < 1e-12 {
        "small-cnn".into()
    } else {
        format!("small-cnn%{}", arch.width * 100.0)
    }
}

/// Header of the per-alpha table of the human reports ([`result_rows`]).
pub const RESULT_HEADER: [&str; 10] = [
    "defence",
    "alpha",
    "final alpha",
    "status",
    "test acc %",
    "acc drop (points)",
    "max SSIM gain",
    "c-GAN SSIM",
    "inverse SSIM",
    "rMLE SSIM",
];

/// The per-alpha table of the human reports: the undefended model, then every result (columns
/// [`RESULT_HEADER`]).
pub fn result_rows(r: &DefendReport) -> Vec<Vec<String>> {
    alpha_rows(r)
        .into_iter()
        .map(|row| {
            vec![
                row[0].clone(),
                row[1].clone(),
                row[2].clone(),
                row[3].clone(),
                format!("{:.2}", row[5].parse::<f64>().unwrap_or(f64::NAN) * 100.0),
                row[6].clone(),
                row[7].clone(),
                row[8].clone(),
                row[9].clone(),
                row[10].clone(),
            ]
        })
        .collect()
}

fn human(r: &DefendReport) -> Report {
    let mut doc = Report::new(format!(
        "Defending partition point k={} of {:?}",
        r.config.k, r.config.sweep.arch.kind
    ));
    let s = doc.section("Summary");
    s.paragraph(summary(r));
    s.paragraph(
        "Status: `defended` = safe at k by the sweep's rule (fresh c-GAN, inverse network and rMLE trained \
         from scratch on the defended feature maps; SSIM gain over the strongest prior-only baseline within \
         the margin, identification at the floor) and within the accuracy budget; `DIVERGED` runs left the \
         divergence band and are never counted as defended.",
    );
    let s = doc.section("Per defence and alpha");
    s.table(&RESULT_HEADER, result_rows(r));
    s.figure(
        "tradeoff.png",
        "Main-task test accuracy against the largest SSIM gain over the prior-only baseline at k, per alpha \
         (from the undefended point); safe points marked (also .svg)",
    );
    for a in &r.results {
        let mut lines = Vec::new();
        if let Some(v) = a.verdict.as_ref().filter(|v| !v.reasons.is_empty()) {
            lines.push(v.reasons.join("; "));
        }
        for e in &a.divergence_events {
            lines.push(format!(
                "divergence at epoch {} step {}: accuracy {:.3}, loss {:.3}, alpha {} -> {}",
                e.epoch, e.step, e.accuracy, e.loss, e.alpha, e.response
            ));
        }
        if !lines.is_empty() {
            s.paragraph(format!(
                "{} alpha {}: {}",
                a.defence.name(),
                a.alpha,
                lines.join(" | ")
            ));
        }
    }
    let s = doc.section("Files");
    s.paragraph(format!(
        "alphas.csv (one row per model); undefended/ and <defence>-alpha-<alpha>/: each model's sweep report \
         (report.md, points.csv, reconstructions.png) and its weights {MODEL_FILE}, servable with \
         `privsplit serve trusted|untrusted --model {} --weights <folder>/{MODEL_FILE} --partition {}`.",
        serve_spec(&r.config.sweep.arch),
        r.config.k
    ));
    doc.section("Run").paragraph(format!(
        "{}. Wall time {:.1} s; per step: {}.",
        r.provenance.summary(),
        r.seconds,
        r.provenance
            .step_seconds
            .iter()
            .map(|(s, t)| format!("{s} {t:.1} s"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    doc
}

/// The trade-off plot ([`tradeoff_series`]) as PNG at `path` and SVG next to it; `false` (nothing written)
/// when no model has a measured SSIM gain.
///
/// # Errors
/// Report-writing errors.
pub fn write_tradeoff_plot(r: &DefendReport, path: &Path) -> Result<bool> {
    let series = tradeoff_series(r);
    if series.iter().all(|s| s.points.is_empty()) {
        return Ok(false);
    }
    line_plot(
        path,
        &LinePlot {
            title: format!(
                "Main-task accuracy vs reconstruction gain at k={} per alpha",
                r.config.k
            ),
            x_label: "largest SSIM gain over the prior-only baseline at k".into(),
            y_label: "test accuracy (%)".into(),
            series,
            ..LinePlot::default()
        },
    )?;
    Ok(true)
}

/// Writes the top of the run folder into `dir` (the per-model folders are written by the run).
///
/// # Errors
/// Report-writing errors.
pub fn write_report(r: &DefendReport, dir: &Path) -> Result<()> {
    write_json(&dir.join("report.json"), r)?;
    write_csv(&dir.join("alphas.csv"), &ALPHAS_CSV_HEADER, &alpha_rows(r))?;
    write_tradeoff_plot(r, &dir.join("tradeoff.png"))?;
    let doc = human(r);
    write_atomic(&dir.join("report.md"), doc.to_markdown().as_bytes())?;
    write_atomic(&dir.join("report.html"), doc.to_html().as_bytes())?;
    Ok(())
}

/// The estimated enclave latency change of the earlier cut in words: a saving, or (CPU latencies are
/// measured, so a small network can time slower at the earlier point) the extra time, never a negative saving.
fn latency_change(saved_ms: f64) -> String {
    if saved_ms >= 0.0 {
        format!("and {saved_ms:.3} ms per image of estimated enclave time")
    } else {
        format!(
            "but its estimated enclave time is {:.3} ms per image longer (measured CPU latencies; noise on a small network)",
            -saved_ms
        )
    }
}
