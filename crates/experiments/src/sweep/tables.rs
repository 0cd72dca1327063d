//! The sweep's tables: `points.csv` (one row per partition point and attack: cost, enclave estimate,
//! scores, leakage, verdict), `verdicts.csv` (one row per point: the rule's verdict, its reasons, whether
//! it is the recommended point), `priors.csv` (the prior-only baselines), `seeds.csv` (mean +- std over
//! repeated seeds) and the tables of the human report.

use super::{AttackScore, ModelWeights, PointResult, SweepReport};

/// Cost columns of a point: k, stage, feature-map shape and bytes, trusted MFLOP, trusted parameter bytes,
/// trusted and untrusted ms (`digits` decimals for MFLOP and ms).
fn cost_cells(p: &PointResult, digits: usize) -> Vec<String> {
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

/// Enclave columns: TEE, peak bytes, usable bytes (empty without a limit), paged bytes, estimated ms.
fn enclave_cells(p: &PointResult) -> Vec<String> {
    match &p.enclave {
        Some(e) => vec![
            e.tee.to_string(),
            e.peak_bytes.to_string(),
            e.usable_bytes.map(|u| u.to_string()).unwrap_or_default(),
            e.paged_bytes.to_string(),
            format!("{:.4}", e.estimated_ms),
        ],
        None => vec![String::new(); 5],
    }
}

/// Leakage columns: strongest prior, its SSIM, gain, gain CI, identification top-1, its CI, chance.
fn leakage_cells(s: &AttackScore) -> Vec<String> {
    let f = |v: f64| format!("{v:.4}");
    match &s.leakage {
        Some(l) => {
            let mut row = vec![
                format!("{:?}", l.prior).to_lowercase(),
                f(l.prior_ssim),
                f(l.gain),
                f(l.gain_ci95[0]),
                f(l.gain_ci95[1]),
            ];
            match &l.identification {
                Some(i) => row.extend([f(i.top1), f(i.ci95[0]), f(i.ci95[1]), f(i.chance)]),
                None => row.extend(vec![String::new(); 4]),
            }
            row
        }
        None => vec![String::new(); 9],
    }
}

/// Header of `points.csv` (one row per partition point and attack; units in the column names).
pub const POINTS_CSV_HEADER: [&str; 30] = [
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
    "strongest_prior",
    "prior_ssim",
    "ssim_gain",
    "ssim_gain_ci95_lower",
    "ssim_gain_ci95_upper",
    "identification_top1",
    "identification_ci95_lower",
    "identification_ci95_upper",
    "identification_chance",
    "safe",
    "tee",
    "enclave_peak_bytes",
    "enclave_usable_bytes",
    "enclave_paged_bytes",
    "enclave_estimated_trusted_ms",
    "model_weights",
];

/// Whether the report's verdict calls point `k` safe (`""` when there is no verdict).
fn safe_cell(r: &SweepReport, k: usize) -> String {
    r.verdicts
        .iter()
        .find(|v| v.k == k)
        .map(|v| v.safe.to_string())
        .unwrap_or_default()
}

/// The `model_weights` cell: `UNTRAINED seed=S`, `file:PATH`, `trained-here`, `onnx:PATH`,
/// `SYNTHETIC onnx:PATH` (empty when unrecorded).
fn weights_cell(r: &SweepReport) -> String {
    match &r.config.weights {
        Some(ModelWeights::Untrained { seed }) => format!("UNTRAINED seed={seed}"),
        Some(ModelWeights::File { path }) => format!("file:{path}"),
        Some(ModelWeights::TrainedHere) => "trained-here".into(),
        Some(ModelWeights::Onnx {
            path,
            synthetic: false,
        }) => format!("onnx:{path}"),
        Some(ModelWeights::Onnx {
            path,
            synthetic: true,
        }) => format!("SYNTHETIC onnx:{path}"),
        None => String::new(),
    }
}

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
            row.extend(leakage_cells(s));
            row.push(safe_cell(r, p.k));
            row.extend(enclave_cells(p));
            row.push(weights_cell(r));
            rows.push(row);
        }
    }
    rows
}

/// Header of `verdicts.csv` (one row per partition point).
pub const VERDICTS_CSV_HEADER: [&str; 5] = ["k", "stage", "safe", "recommended", "reasons"];

/// The rows of `verdicts.csv`: the rule's verdict per point, whether the point is the recommendation, and
/// the reasons joined with `"; "`.
pub fn verdicts_csv_rows(r: &SweepReport) -> Vec<Vec<String>> {
    r.points
        .iter()
        .map(|p| {
            let v = r.verdicts.iter().find(|v| v.k == p.k);
            vec![
                p.k.to_string(),
                p.stage.clone(),
                safe_cell(r, p.k),
                r.recommendation
                    .as_ref()
                    .is_some_and(|rec| rec.k == p.k)
                    .to_string(),
                v.map(|v| v.reasons.join("; ")).unwrap_or_default(),
            ]
        })
        .collect()
}

/// Header of `priors.csv` (one row per prior-only baseline).
pub const PRIORS_CSV_HEADER: [&str; 3] = ["prior", "ssim", "psnr_db"];

/// The rows of `priors.csv`: mean SSIM and PSNR (dB) of each prior-only baseline over the evaluation
/// images.
pub fn priors_csv_rows(r: &SweepReport) -> Vec<Vec<String>> {
    r.priors
        .iter()
        .map(|p| {
            vec![
                format!("{:?}", p.prior).to_lowercase(),
                format!("{:.4}", p.ssim),
                format!("{:.3}", p.psnr),
            ]
        })
        .collect()
}

/// Header of `seeds.csv`: every metric as `<metric>_mean`, `<metric>_std` over the seeds.
pub const SEEDS_CSV_HEADER: [&str; 20] = [
    "k",
    "attack",
    "seeds",
    "ssim_mean",
    "ssim_std",
    "psnr_db_mean",
    "psnr_db_std",
    "ssim_gain_mean",
    "ssim_gain_std",
    "ssim_gain_ci95_upper_mean",
    "ssim_gain_ci95_upper_std",
    "identification_top1_mean",
    "identification_top1_std",
    "trusted_ms_mean",
    "trusted_ms_std",
    "enclave_estimated_trusted_ms_mean",
    "enclave_estimated_trusted_ms_std",
    "untrusted_ms_mean",
    "untrusted_ms_std",
    "safe_in_every_seed",
];

/// The rows of `seeds.csv` (empty without repeats).
pub fn seeds_csv_rows(r: &SweepReport) -> Vec<Vec<String>> {
    let Some(s) = &r.repeats else {
        return Vec::new();
    };
    let ms = |m: Option<super::seeds::MeanStd>| match m {
        Some(m) => [format!("{:.4}", m.mean), format!("{:.4}", m.std)],
        None => [String::new(), String::new()],
    };
    s.rows
        .iter()
        .map(|row| {
            let mut v = vec![
                row.k.to_string(),
                row.attack.name().into(),
                s.seeds.len().to_string(),
            ];
            for m in [
                Some(row.ssim),
                Some(row.psnr),
                row.gain,
                row.gain_ci_upper,
                row.identification,
                Some(row.trusted_ms),
                row.estimated_trusted_ms,
                Some(row.untrusted_ms),
            ] {
                v.extend(ms(m));
            }
            v.push(s.safe_in_every_seed.contains(&row.k).to_string());
            v
        })
        .collect()
}

/// The per-point table of the human report: cost columns, the enclave estimate, the verdict, then SSIM /
/// PSNR / accuracy per attack.
pub fn point_table(r: &SweepReport) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = [
        "k",
        "after stage",
        "feature map",
        "bytes",
        "trusted MFLOP",
        "trusted param bytes",
        "trusted ms (CPU)",
        "untrusted ms (CPU)",
        "enclave peak MiB",
        "TEE est. ms",
        "safe",
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
            match &p.enclave {
                Some(e) => {
                    let paged = if e.fits() { "" } else { " (pages)" };
                    row.push(format!("{:.2}{paged}", e.peak_bytes as f64 / 1_048_576.0));
                    row.push(format!("{:.3}", e.estimated_ms));
                }
                None => row.extend(["-".to_string(), "-".into()]),
            }
            row.push(safe_cell(r, p.k));
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

/// The leakage table of the human report: one row per point and attack with leakage statistics.
pub fn leakage_table(r: &SweepReport) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = vec![
        "k",
        "attack",
        "strongest prior (SSIM)",
        "SSIM gain [95 % CI]",
        "identification top-1 [95 % CI] (chance)",
    ];
    let mut rows = Vec::new();
    for p in &r.points {
        for s in &p.attacks {
            let Some(l) = &s.leakage else { continue };
            let id = l.identification.as_ref().map_or_else(
                || "-".into(),
                |i| {
                    format!(
                        "{:.1} % [{:.1}, {:.1}] ({:.1} %)",
                        i.top1 * 100.0,
                        i.ci95[0] * 100.0,
                        i.ci95[1] * 100.0,
                        i.chance * 100.0
                    )
                },
            );
            rows.push(vec![
                p.k.to_string(),
                s.attack.name().into(),
                format!("{} ({:.3})", l.prior.name(), l.prior_ssim),
                format!(
                    "{:+.3} [{:+.3}, {:+.3}]",
                    l.gain, l.gain_ci95[0], l.gain_ci95[1]
                ),
                id,
            ]);
        }
    }
    (header, rows)
}

/// The repeats table of the human report: mean +- std per point and attack.
pub fn repeats_table(r: &SweepReport) -> Option<(Vec<&'static str>, Vec<Vec<String>>)> {
    let s = r.repeats.as_ref()?;
    let pm = |m: Option<super::seeds::MeanStd>, d: usize| {
        m.map_or_else(
            || "-".into(),
            |m| format!("{:.d$} +- {:.d$}", m.mean, m.std),
        )
    };
    let rows = s
        .rows
        .iter()
        .map(|row| {
            vec![
                row.k.to_string(),
                row.attack.name().into(),
                pm(Some(row.ssim), 3),
                pm(row.gain, 3),
                pm(row.gain_ci_upper, 3),
                pm(row.identification, 3),
                pm(row.estimated_trusted_ms, 3),
                s.safe_in_every_seed.contains(&row.k).to_string(),
            ]
        })
        .collect();
    Some((
        vec![
            "k",
            "attack",
            "SSIM",
            "SSIM gain",
            "gain CI upper",
            "identification top-1",
            "TEE est. ms",
            "safe in every seed",
        ],
        rows,
    ))
}
