//! The CSV tables of a run's leakage report (one file per table, for pandas and papers).

use super::report::sweep_table;
use super::report::{AttackRow, RunReport, SweepStep};
use super::CsvTable;

/// Every table of the report as CSV: `attribute_leakage.csv`, `partition_points.csv` (when the sweep
/// ran), `encryption_cost.csv` (when encryption ran), `defence_alphas.csv` (with a `[defend]` section),
/// `steps.csv`.
pub fn tables(r: &RunReport<'_>) -> Vec<CsvTable> {
    let mut out = Vec::new();
    let attackers = r.attackers();
    let mut header: Vec<String> = ["alpha", "main_accuracy", "main_task_cost_points", "chance"]
        .map(String::from)
        .to_vec();
    header.extend(attackers.iter().map(|a| format!("collateral_{}", a.name())));
    header.extend(
        [
            "defence_s",
            "recovery_s",
            "attacks_s",
            "status",
            "runs",
            "diverged_runs",
            "main_accuracy_std",
            "main_accuracy_min",
        ]
        .map(String::from),
    );
    header.extend(
        attackers
            .iter()
            .map(|a| format!("collateral_{}_std", a.name())),
    );
    let rows = r
        .collateral
        .per_alpha
        .iter()
        .map(|a| {
            let mut row = vec![
                a.alpha.to_string(),
                format!("{:.4}", a.main_accuracy),
                a.main_task_cost_points
                    .map(|c| format!("{c:.2}"))
                    .unwrap_or_default(),
                format!("{:.4}", r.collateral.chance),
            ];
            let attack_column = |f: fn(&AttackRow) -> f32| {
                attackers.iter().map(move |at| {
                    a.attack(at.name())
                        .map(|x| format!("{:.4}", f(x)))
                        .unwrap_or_default()
                })
            };
            row.extend(attack_column(|x| x.collateral_accuracy));
            row.extend(a.seconds.iter().map(|s| format!("{s:.2}")));
            row.extend([
                a.status.clone(),
                a.runs.to_string(),
                a.diverged_runs.to_string(),
                format!("{:.4}", a.main_accuracy_std),
                a.lowest_main_accuracy
                    .map(|m| format!("{m:.4}"))
                    .unwrap_or_default(),
            ]);
            row.extend(attack_column(|x| x.collateral_std));
            row
        })
        .collect();
    out.push(("attribute_leakage.csv".to_string(), header, rows));
    if let SweepStep::Done { report, .. } = &r.sweep {
        let header = [
            "k",
            "stage",
            "attack",
            "ssim",
            "psnr_db",
            "trusted_mflop",
            "trusted_param_bytes",
            "trusted_cpu_ms",
            "feature_bytes",
        ]
        .map(String::from)
        .to_vec();
        let rows = sweep_table(report)
            .into_iter()
            .map(|p| {
                vec![
                    p.k.to_string(),
                    p.stage,
                    p.attack,
                    format!("{:.4}", p.ssim),
                    format!("{:.3}", p.psnr_db),
                    format!("{:.4}", p.trusted_mflop),
                    p.trusted_param_bytes.to_string(),
                    format!("{:.4}", p.trusted_cpu_ms),
                    p.feature_bytes.to_string(),
                ]
            })
            .collect();
        out.push(("partition_points.csv".to_string(), header, rows));
    }
    if let Some(e) = &r.encryption {
        let header = ["quantity", "value", "unit"].map(String::from).to_vec();
        let row = |q: &str, v: String, u: &str| vec![q.to_string(), v, u.to_string()];
        let mut rows = vec![
            row(
                "encrypt_per_image",
                format!("{:.3}", e.encrypt_ms_per_image),
                "ms",
            ),
            row(
                "decrypt_classify_per_image",
                format!("{:.3}", e.decrypt_classify_ms_per_image),
                "ms",
            ),
            row("ciphertext", e.ciphertext_bytes.to_string(), "bytes"),
            row("dlog_table_build", format!("{:.1}", e.dlog_table_ms), "ms"),
            row(
                "dlog_table_entries",
                e.dlog_table_entries.to_string(),
                "entries",
            ),
        ];
        for (q, v) in [
            ("float_accuracy", e.float_accuracy),
            ("quantised_accuracy", e.quantised_accuracy),
            ("encrypted_accuracy", e.encrypted_accuracy),
        ] {
            rows.push(row(q, format!("{v:.4}"), "fraction"));
        }
        rows.push(row("encrypted_samples", e.samples.to_string(), "images"));
        out.push(("encryption_cost.csv".to_string(), header, rows));
    }
    out.extend(super::defence::table(&r.defend));
    let rows = r
        .provenance
        .step_seconds
        .iter()
        .map(|(s, t)| vec![s.clone(), format!("{t:.3}")])
        .collect();
    out.push((
        "steps.csv".to_string(),
        vec!["step".into(), "seconds".into()],
        rows,
    ));
    out
}
