//! Writing a run's leakage report ([`super::report::RunReport`]) into its run folder: the figures
//! ([`super::figures`]), one CSV per table ([`super::tables`]), `report.json`, and `report.md` /
//! `report.html` ([`super::human`]).

use std::path::Path;

use privsplit_data::Split;
use privsplit_report::{write_atomic, write_csv, write_json};

use super::figures::{write_sample_grid, write_tradeoff_plot};
use super::human::human_report;
use super::report::{RunReport, SweepStep};
use super::tables::tables;
use crate::Result;

/// Writes the report files of a run into `out`: figures (PNG + SVG), one CSV per table, `report.json`,
/// `report.md`, `report.html`; the names of every file go into `report.files`.
///
/// # Errors
/// Report-writing errors.
pub fn write_report(report: &mut RunReport<'_>, out: &Path, data: &Split) -> Result<()> {
    let mut files = vec!["config.toml".to_string()];
    write_sample_grid(&data.test, &out.join("samples.png"))?;
    files.push("samples.png".into());
    write_tradeoff_plot(report, &out.join("tradeoff.png"))?;
    files.extend(["tradeoff.png".into(), "tradeoff.svg".into()]);
    for (name, header, rows) in tables(report) {
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        write_csv(&out.join(&name), &header, &rows)?;
        files.push(name);
    }
    if let SweepStep::Done { folder, .. } = &report.sweep {
        for f in crate::sweep::report::FILES {
            if out.join(folder).join(f).is_file() {
                files.push(format!("{folder}/{f}"));
            }
        }
    }
    files.extend(
        [
            "private.safetensors",
            "public-head.safetensors",
            "private-quantised.fe-model",
            "report.json",
            "report.md",
            "report.html",
        ]
        .map(String::from),
    );
    report.files = files;
    write_json(&out.join("report.json"), report)?;
    let human = human_report(report);
    write_atomic(&out.join("report.md"), human.to_markdown().as_bytes())?;
    write_atomic(&out.join("report.html"), human.to_html().as_bytes())?;
    Ok(())
}
