//! The human-readable run report (Markdown and HTML): both protections side by side, then the details.

use privsplit_report::Report;

use super::report::{RunReport, SweepStep, MAX_MAIN_TASK_COST_POINTS};

fn pct(x: f32) -> String {
    format!("{:.1} %", x * 100.0)
}

/// The report document of a run.
pub fn human_report(r: &RunReport<'_>) -> Report {
    let mut rep = Report::new(format!("privsplit run: {}", r.config.name));
    rep.section("Recommendation")
        .paragraph(r.recommendation.text.clone());
    leakage_overview(&mut rep, r);
    dataset(&mut rep, r);
    collateral(&mut rep, r);
    encryption(&mut rep, r);
    sweep(&mut rep, r);
    super::defence::section(&mut rep, &r.defend);
    let p = &r.provenance;
    let steps: Vec<String> = p
        .step_seconds
        .iter()
        .map(|(s, t)| format!("{s} {t:.1} s"))
        .collect();
    let seeds: Vec<String> = p.seeds.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    rep.section("Run")
        .paragraph(format!("{}.", p.summary()))
        .paragraph(format!("Wall time per step: {}.", steps.join(", ")))
        .paragraph(format!("Seeds: {}.", seeds.join(", ")))
        .paragraph(format!(
            "Files: {}. Every table is also a CSV file.",
            r.files.join(", ")
        ));
    rep
}

/// The two protections side by side: what leaks and what it costs.
fn leakage_overview(rep: &mut Report, r: &RunReport<'_>) {
    let sec = rep.section("Leakage and cost of both protections");
    sec.paragraph(format!(
        "Left: functional encryption of the private layer hides x but reveals output(x); the sensitive \
         attribute (font) leaks through it, and the semi-adversarial defence (alpha) trades main-task accuracy \
         for less leakage (an alpha is recommended when it costs at most {MAX_MAIN_TASK_COST_POINTS} points). \
         Right: a TEE runs the layers before partition point k; the feature map at k is exposed and \
         reconstruction attacks rebuild the input from it; the enclave cost grows with k."
    ));
    let fe_rows: Vec<Vec<String>> = r
        .collateral
        .per_alpha
        .iter()
        .map(|a| {
            vec![
                a.alpha.to_string(),
                a.main_text(),
                a.main_task_cost_points
                    .map_or_else(|| "-".into(), |c| format!("{c:.1}")),
                match (a.status.as_str(), a.worst_collateral) {
                    ("DIVERGED", _) | (_, None) => "DIVERGED (no defence result)".into(),
                    (_, Some(w)) => pct(w),
                },
                a.status.clone(),
            ]
        })
        .collect();
    sec.table(
        &[
            "alpha",
            "main accuracy",
            "main-task cost (points)",
            "worst collateral accuracy",
            "defence",
        ],
        fe_rows,
    );
    if let Some(e) = &r.encryption {
        sec.paragraph(format!(
            "Functional-encryption cost per image: encrypt {:.1} ms, decrypt + classify {:.1} ms, ciphertext {} \
             bytes (encryption_cost.csv).",
            e.encrypt_ms_per_image, e.decrypt_classify_ms_per_image, e.ciphertext_bytes
        ));
    }
    if let SweepStep::Done { report, .. } = &r.sweep {
        let rows = report
            .points
            .iter()
            .map(|p| {
                let best = p.best();
                vec![
                    p.k.to_string(),
                    p.stage.clone(),
                    best.map_or_else(|| "-".into(), |b| b.attack.name().to_string()),
                    best.map_or_else(|| "-".into(), |b| format!("{:.3}", b.ssim)),
                    best.map_or_else(|| "-".into(), |b| format!("{:.2}", b.psnr)),
                    format!("{:.3}", p.trusted_flops as f64 / 1e6),
                    p.trusted_param_bytes.to_string(),
                    format!("{:.3}", p.trusted_ms),
                ]
            })
            .collect();
        sec.table(
            &[
                "k",
                "after stage",
                "best attack",
                "SSIM",
                "PSNR dB",
                "enclave MFLOP",
                "enclave param bytes",
                "enclave CPU ms",
            ],
            rows,
        );
    }
}

fn dataset(rep: &mut Report, r: &RunReport<'_>) {
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
}

fn collateral(rep: &mut Report, r: &RunReport<'_>) {
    let o = &r.collateral;
    let attackers = r.attackers();
    let mut header: Vec<String> = vec!["alpha".into(), "defence".into(), "main accuracy".into()];
    header.extend(
        attackers
            .iter()
            .map(|a| format!("collateral ({})", a.name())),
    );
    let rows = o
        .per_alpha
        .iter()
        .map(|a| {
            let mut row = vec![format!("{}", a.alpha), a.status.clone(), a.main_text()];
            row.extend(attackers.iter().map(|at| a.collateral_text(at.name())));
            row
        })
        .collect();
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let sec = rep.section("Collateral learning and the semi-adversarial defence");
    sec.paragraph(format!(
            "Private part: quadratic layer {}->{}->square->{} (output(x), k = {}); public head in clear. \
             The adversaries see only output(x) and predict the font (chance {}). alpha = 0 is no defence. \
             Float test accuracy of the undefended model: {}. Seeds: {} (values are mean ± sample standard \
             deviation over them). Defence: {} objective, gradient clipping {}, divergence response {} \
             (main-task training accuracy more than {:.0} points below its pre-defence value, or loss {} nats \
             above it). A DIVERGED defence collapsed the main task: its leak is not a defence result and is \
             not shown; runs that diverged are left out of the means.",
            o.network.inputs,
            o.network.hidden,
            o.network.outputs,
            o.network.outputs,
            pct(o.chance),
            pct(o.float_test_accuracy),
            o.seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            r.config.collateral.defence.objective.name(),
            r.config
                .collateral
                .defence
                .clip_grad_norm
                .map_or_else(|| "off".to_string(), |c| format!("at norm {c}")),
            r.config.collateral.defence.divergence.action.name(),
            r.config.collateral.defence.divergence.max_accuracy_drop * 100.0,
            r.config.collateral.defence.divergence.max_loss_rise,
        ))
        .table(&header_refs, rows)
        .paragraph("Table: attribute_leakage.csv.");
    if let Some(i) = &o.initial_phase {
        sec.paragraph(format!(
            "After the initial phase (Q, C and the adversary trained together, before any defence), on the \
             whole test split: main task {}, the jointly trained adversary's font accuracy {} (chance {}). \
             This is the undefended leak as the authors' repository measures it (their k = 4 figure: 75.2 % \
             mean over 7 folds); the table's attackers are trained afresh after recovery.",
            i.main_accuracy.percent(),
            i.adversary_accuracy.percent(),
            pct(i.chance),
        ));
    }
    sec.figure(
        "tradeoff.png",
        "Main-task and collateral accuracy per alpha (also tradeoff.svg).",
    );
}

fn encryption(rep: &mut Report, r: &RunReport<'_>) {
    let Some(e) = &r.encryption else {
        return;
    };
    let c = &r.config.encryption;
    rep.section("Encrypted inference of the private layer (quadratic functional encryption)")
        .paragraph(format!(
            "The undefended private part, quantised (|P| <= {}, |Q| <= {}), evaluated on ciphertexts: the server \
             learns output(x) through the functional key and a bounded discrete log (|output| <= {}, table of {} \
             baby steps), nothing else about x. Decrypted integers equal the quantised plaintext outputs: {}.",
            c.p_max, c.q_max, e.dlog_bound, e.dlog_table_entries, e.exact
        ))
        .table(
            &["model", "images", "accuracy"],
            vec![
                vec!["float (clear)".into(), e.test_images.to_string(), pct(e.float_accuracy)],
                vec!["quantised (clear)".into(), e.test_images.to_string(), pct(e.quantised_accuracy)],
                vec![
                    "quantised (clear), sample".into(),
                    e.samples.to_string(),
                    pct(e.quantised_accuracy_on_samples),
                ],
                vec!["encrypted, sample".into(), e.samples.to_string(), pct(e.encrypted_accuracy)],
            ],
        )
        .table(
            &["cost", "value"],
            vec![
                vec!["ciphertext".into(), format!("{} bytes", e.ciphertext_bytes)],
                vec!["discrete-log table".into(), format!("{:.1} ms", e.dlog_table_ms)],
                vec!["encrypt, per image".into(), format!("{:.1} ms", e.encrypt_ms_per_image)],
                vec![
                    "decrypt + classify, per image".into(),
                    format!("{:.1} ms", e.decrypt_classify_ms_per_image),
                ],
            ],
        );
}

fn sweep(rep: &mut Report, r: &RunReport<'_>) {
    let sec = rep.section("Partition-point sweep (TEE + accelerator layer partitioning)");
    match &r.sweep {
        SweepStep::Disabled => {
            sec.paragraph("Disabled in the config.");
        }
        SweepStep::Skipped { reason } => {
            sec.paragraph(format!("SKIPPED: {reason}."));
        }
        SweepStep::Done { folder, report } => {
            sec.paragraph(format!(
                "Small CNN trained on Fashion-MNIST; at each partition point k the feature map is attacked with \
                 reconstruction attacks and scored with SSIM and PSNR (full report: {folder}/report.md; table: \
                 partition_points.csv). {}.",
                crate::sweep::summary(report)
            ))
            .figure(
                format!("{folder}/ssim_per_point.png"),
                "Reconstruction SSIM per partition point (also .svg).",
            )
            .figure(
                format!("{folder}/reconstructions.png"),
                "Originals (first row) and reconstructions: one row per partition point, columns attack x image.",
            );
        }
    }
}
