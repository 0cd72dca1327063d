//! Checking the shards of a plan against its manifest and joining them: every shard must have finished
//! (no `FAILED` marker, its report present), from the manifest's configuration (the SHA-256 of the report's
//! own configuration, per-shard settings cleared, equals the manifest's) and weights (the hash the node
//! recorded equals the manifest's). Sweeps are joined with [`merge_reports`]; collateral grids into one
//! table with a row per shard.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use privsplit_report::{read_json, write_atomic, RunDir};
use serde::{Deserialize, Serialize};

use super::spec::shared_collateral;
use super::{config_sha256, PlanGrid, PlanManifest, ShardSpec};
use crate::collateral::CollateralOutcome;
use crate::sweep::{merge_reports, summary, write_outputs, SweepReport};
use crate::{Error, Result};

/// The result of one finished shard.
#[derive(Clone, Debug)]
pub enum ShardOutput {
    /// A sweep report of one partition point.
    Sweep(Box<SweepReport>),
    /// A collateral outcome of one alpha and seed.
    Collateral(Box<CollateralOutcome>),
}

/// One row of a merged collateral grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridRow {
    /// Shard index.
    pub index: usize,
    /// Defence strength.
    pub alpha: f32,
    /// Seed.
    pub seed: u64,
    /// Float test accuracy of the undefended model, `[0, 1]`.
    pub undefended_accuracy: f32,
    /// Main-task test accuracy after defence and recovery, `[0, 1]`.
    pub main_accuracy: f32,
    /// Collateral accuracy `[0, 1]` per attacker, in the config's order.
    pub collateral: Vec<(String, f32)>,
    /// Chance level of the sensitive attribute, `[0, 1]`.
    pub chance: f32,
}

/// A merged collateral grid (`grid.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollateralGridReport {
    /// SHA-256 of the shared configuration.
    pub config_sha256: String,
    /// One row per shard, in index order.
    pub rows: Vec<GridRow>,
}

/// A merged plan.
#[derive(Clone, Debug)]
pub struct MergedPlan {
    /// The new run folder (`<plan>/merged-<UTC time>/`).
    pub folder: PathBuf,
    /// A one-paragraph summary.
    pub summary: String,
}

fn newest_report(out: &Path) -> Option<PathBuf> {
    let rd = std::fs::read_dir(out).ok()?;
    let mut found: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("report.json"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

/// Reads shard `s`'s result or says what is wrong with it.
fn check_one(m: &PlanManifest, s: &ShardSpec) -> std::result::Result<ShardOutput, String> {
    let out = m.dir.join(&s.output);
    if let Ok(code) = std::fs::read_to_string(out.join("FAILED")) {
        return Err(format!("failed with exit status {}", code.trim()));
    }
    if let Some(want) = &m.weights_sha256 {
        let got = std::fs::read_to_string(out.join("weights.sha256"))
            .map_err(|_| format!("no weights hash in {}", out.display()))?;
        if got.trim() != want {
            return Err(format!(
                "ran on weights with SHA-256 {}, the plan's is {want}",
                got.trim()
            ));
        }
    }
    match &m.grid {
        PlanGrid::Sweep(_) => {
            let file = newest_report(&out)
                .ok_or_else(|| format!("missing: no report under {}", out.display()))?;
            let r: SweepReport = read_json(&file)
                .map_err(|e| format!("unreadable report {}: {e}", file.display()))?;
            let mut c = r.config.clone();
            c.points = None;
            let hash = config_sha256(&c).map_err(|e| e.to_string())?;
            if hash != m.config_sha256 {
                return Err(format!(
                    "report {} has config SHA-256 {hash}, the plan's is {}",
                    file.display(),
                    m.config_sha256
                ));
            }
            let ks: Vec<usize> = r.points.iter().map(|p| p.k).collect();
            if Some(ks.as_slice()) != s.params.point.as_ref().map(std::slice::from_ref) {
                return Err(format!(
                    "report {} holds points {ks:?}, expected {:?}",
                    file.display(),
                    s.params.point
                ));
            }
            Ok(ShardOutput::Sweep(Box::new(r)))
        }
        PlanGrid::Collateral(_) => {
            let file = out.join("outcome.json");
            if !file.is_file() {
                return Err(format!("missing: no {}", file.display()));
            }
            let o: CollateralOutcome = read_json(&file)
                .map_err(|e| format!("unreadable outcome {}: {e}", file.display()))?;
            let hash = config_sha256(&shared_collateral(&o.config)).map_err(|e| e.to_string())?;
            if hash != m.config_sha256 {
                return Err(format!(
                    "outcome {} has config SHA-256 {hash}, the plan's is {}",
                    file.display(),
                    m.config_sha256
                ));
            }
            let alphas: Vec<f32> = o.per_alpha.iter().map(|a| a.alpha).collect();
            if Some(alphas.as_slice()) != s.params.alpha.as_ref().map(std::slice::from_ref)
                || Some(o.config.seed) != s.params.seed
            {
                return Err(format!(
                    "outcome {} is for alphas {alphas:?} seed {}, expected {:?} seed {:?}",
                    file.display(),
                    o.config.seed,
                    s.params.alpha,
                    s.params.seed
                ));
            }
            Ok(ShardOutput::Collateral(Box::new(o)))
        }
    }
}

/// Checks every shard of the plan `m` (see the module docs) and returns their results in index order.
///
/// # Errors
/// [`Error::Invalid`] naming every shard that is missing, failed, or ran another configuration or other
/// weights, each with its index and log path.
pub fn check_shards(m: &PlanManifest) -> Result<Vec<ShardOutput>> {
    let mut ok = Vec::with_capacity(m.shards.len());
    let mut bad = String::new();
    for (i, s) in m.shards.iter().enumerate() {
        if s.index != i {
            return Err(Error::invalid(
                "plan manifest",
                format!("shard {i} at position {i}"),
                format!("shard {}", s.index),
            ));
        }
        match check_one(m, s) {
            Ok(o) => ok.push(o),
            Err(why) => {
                let _ = write!(
                    bad,
                    "{}shard {i}: {why} (log: {})",
                    if bad.is_empty() { "" } else { "; " },
                    m.log_path(s).display()
                );
            }
        }
    }
    if bad.is_empty() {
        Ok(ok)
    } else {
        Err(Error::invalid(
            format!("shards of the plan {}", m.dir.display()),
            "every shard finished with the plan's configuration and weights",
            bad,
        ))
    }
}

/// Checks the shards of the plan in `dir` and joins them into `<dir>/merged-<UTC time>/`: a sweep run
/// folder (as `privsplit sweep merge`) or, for a collateral grid, `grid.json` and `grid.md`.
///
/// # Errors
/// As [`PlanManifest::read`] and [`check_shards`]; [`merge_reports`]; report-writing errors.
pub fn merge_plan(dir: &Path) -> Result<MergedPlan> {
    let m = PlanManifest::read(dir)?;
    let outputs = check_shards(&m)?;
    let run = RunDir::create(&m.dir, "merged")?;
    let written = match &m.grid {
        PlanGrid::Sweep(_) => {
            let reports: Vec<SweepReport> = outputs
                .into_iter()
                .filter_map(|o| match o {
                    ShardOutput::Sweep(r) => Some(*r),
                    ShardOutput::Collateral(_) => None,
                })
                .collect();
            merge_reports(reports).and_then(|r| write_outputs(&r, run.path()).map(|()| summary(&r)))
        }
        PlanGrid::Collateral(_) => collateral_grid(&m, outputs).and_then(|g| {
            let json = serde_json::to_vec_pretty(&g).map_err(|e| {
                Error::invalid("merged grid", "a JSON-serialisable value", e.to_string())
            })?;
            write_atomic(&run.path().join("grid.json"), &json)?;
            let md = grid_markdown(&g);
            write_atomic(&run.path().join("grid.md"), md.as_bytes())?;
            Ok(md)
        }),
    };
    match written {
        Ok(summary) => Ok(MergedPlan {
            folder: run.finish()?,
            summary,
        }),
        Err(e) => {
            let _ = run.abandon();
            Err(e)
        }
    }
}

fn collateral_grid(m: &PlanManifest, outputs: Vec<ShardOutput>) -> Result<CollateralGridReport> {
    let mut rows = Vec::with_capacity(outputs.len());
    for (s, o) in m.shards.iter().zip(outputs) {
        let ShardOutput::Collateral(o) = o else {
            return Err(Error::invalid(
                "shard output",
                "a collateral outcome",
                "a sweep report",
            ));
        };
        let Some(a) = o.per_alpha.first() else {
            return Err(Error::invalid(
                format!("shard {}", s.index),
                "one alpha",
                "none",
            ));
        };
        rows.push(GridRow {
            index: s.index,
            alpha: a.alpha,
            seed: o.config.seed,
            undefended_accuracy: o.float_test_accuracy,
            main_accuracy: a.main_accuracy,
            collateral: o
                .config
                .attackers
                .iter()
                .filter_map(|at| a.collateral(*at).map(|v| (at.name().to_string(), v)))
                .collect(),
            chance: o.chance,
        });
    }
    Ok(CollateralGridReport {
        config_sha256: m.config_sha256.clone(),
        rows,
    })
}

/// The grid as a Markdown table: accuracies in %.
pub fn grid_markdown(g: &CollateralGridReport) -> String {
    let mut s = String::from("| shard | alpha | seed | undefended % | main % |");
    let names: Vec<&str> = g
        .rows
        .first()
        .map(|r| r.collateral.iter().map(|(n, _)| n.as_str()).collect())
        .unwrap_or_default();
    for n in &names {
        let _ = write!(s, " {n} % |");
    }
    s.push_str(" chance % |\n|---|---|---|---|---|");
    for _ in &names {
        s.push_str("---|");
    }
    s.push_str("---|\n");
    for r in &g.rows {
        let _ = write!(
            s,
            "| {} | {} | {} | {:.2} | {:.2} |",
            r.index,
            r.alpha,
            r.seed,
            100.0 * r.undefended_accuracy,
            100.0 * r.main_accuracy
        );
        for (_, v) in &r.collateral {
            let _ = write!(s, " {:.2} |", 100.0 * v);
        }
        let _ = writeln!(s, " {:.2} |", 100.0 * r.chance);
    }
    s
}
