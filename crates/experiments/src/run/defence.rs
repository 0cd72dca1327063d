//! The partition-point defence step of a run (`[defend]`, issue 13) in the unified report: its result in
//! `report.json`, its section of `report.md` / `report.html`, `defence_alphas.csv` and
//! `defence_tradeoff.png` / `.svg` next to the run's other tables and plots; the defend run folder itself
//! (per-model sweep reports and weights) is `defend/`.

use std::path::Path;

use privsplit_report::Report;
use serde::Serialize;

use super::CsvTable;
use crate::defend::report::{
    alpha_rows, result_rows, summary, write_tradeoff_plot, ALPHAS_CSV_HEADER, FILES, RESULT_HEADER,
};
use crate::defend::run::MODEL_FILE;
use crate::defend::{AlphaResult, DefendReport};
use crate::Result;

/// The defend run folder inside the run folder.
pub const FOLDER: &str = "defend";
/// The per-alpha table of the defence in the run folder.
pub const CSV: &str = "defence_alphas.csv";
/// The defence's trade-off plot in the run folder (and `.svg` next to it).
pub const PLOT: &str = "defence_tradeoff.png";

/// The defence step's result; the full defend report is `defend/report.json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum DefendStep {
    /// No `[defend]` section (left out of `report.json`).
    Disabled,
    /// Skipped (Fashion-MNIST not installed, outside CI).
    Skipped {
        /// Why.
        reason: String,
    },
    /// Done.
    Done {
        /// The defend run folder in the run folder.
        folder: String,
        /// The defend report (serialised without its config, which is the run config's `defend`).
        #[serde(serialize_with = "defend_view")]
        report: Box<DefendReport>,
    },
}

impl DefendStep {
    /// Whether there was no `[defend]` section.
    pub fn is_disabled(&self) -> bool {
        matches!(self, Self::Disabled)
    }

    /// The step's finding in one paragraph (`None` without a `[defend]` section).
    pub fn summary(&self) -> Option<String> {
        match self {
            Self::Disabled => None,
            Self::Skipped { reason } => {
                Some(format!("Partition-point defence: SKIPPED ({reason})."))
            }
            Self::Done { report, .. } => {
                Some(format!("Partition-point defence: {}", summary(report)))
            }
        }
    }
}

#[allow(clippy::borrowed_box)] // serde's `serialize_with` passes a reference to the field, a `Box`
fn defend_view<S: serde::Serializer>(
    r: &Box<DefendReport>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct View<'a> {
        summary: String,
        k: usize,
        stage: &'a str,
        num_stages: usize,
        undefended: &'a crate::defend::run::Undefended,
        results: &'a [AlphaResult],
        seconds: f64,
    }
    View {
        summary: summary(r),
        k: r.config.k,
        stage: &r.stage,
        num_stages: r.num_stages,
        undefended: &r.undefended,
        results: &r.results,
        seconds: r.seconds,
    }
    .serialize(s)
}

/// `defence_alphas.csv` when the step ran (the defend folder's `alphas.csv`).
pub fn table(step: &DefendStep) -> Option<CsvTable> {
    let DefendStep::Done { report, .. } = step else {
        return None;
    };
    Some((
        CSV.to_string(),
        ALPHAS_CSV_HEADER.map(String::from).to_vec(),
        alpha_rows(report),
    ))
}

/// Writes `defence_tradeoff.png` / `.svg` into `out` when the step ran; returns the names of the step's
/// files in the run folder (the plot, and the defend folder's top files).
///
/// # Errors
/// Report-writing errors.
pub fn write_files(step: &DefendStep, out: &Path) -> Result<Vec<String>> {
    let DefendStep::Done { folder, report } = step else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    if write_tradeoff_plot(report, &out.join(PLOT))? {
        files.push(PLOT.to_string());
        files.push(PLOT.replace(".png", ".svg"));
    }
    for f in FILES {
        if out.join(folder).join(f).is_file() {
            files.push(format!("{folder}/{f}"));
        }
    }
    Ok(files)
}

/// The step's section of the human report (none without a `[defend]` section).
pub fn section(rep: &mut Report, step: &DefendStep) {
    let title = "Defence of the partition point (reconstruction defence, NoPeek)";
    match step {
        DefendStep::Disabled => {}
        DefendStep::Skipped { reason } => {
            rep.section(title).paragraph(format!("SKIPPED: {reason}."));
        }
        DefendStep::Done { folder, report } => {
            let sec = rep.section(title);
            sec.paragraph(format!(
                "The trusted partition [0, k) of a CNN trained on Fashion-MNIST is trained against \
                 reconstruction (L_main - alpha * L_recon against a decoder adversary; NoPeek, L_main + alpha * \
                 dCor(x, f_k(x)), Vepakomma et al. 2020); fresh c-GAN, inverse-network and rMLE attackers and the \
                 sweep's rule judge each alpha at k. A DIVERGED defence left the divergence band: it is never \
                 reported as defended. {}",
                summary(report)
            ))
            .table(&RESULT_HEADER, result_rows(report))
            .paragraph(format!(
                "Table: {CSV}. Full report: {folder}/report.md; each model's sweep report and weights \
                 ({folder}/<defence>-alpha-<alpha>/{MODEL_FILE})."
            ));
            if has_plot(report) {
                sec.figure(
                    PLOT,
                    "Main-task test accuracy against the largest SSIM gain over the prior-only baseline at k, \
                     per alpha; safe points marked (also .svg).",
                );
            }
        }
    }
}

/// Whether the trade-off plot has a point (as [`write_tradeoff_plot`] decides).
fn has_plot(r: &DefendReport) -> bool {
    crate::defend::report::tradeoff_series(r)
        .iter()
        .any(|s| !s.points.is_empty())
}
