//! The leakage report of a run, across both protections side by side: attribute leakage per alpha with the
//! main-task cost (functional encryption + semi-adversarial defence), reconstruction quality per partition
//! point with the enclave cost (TEE partitioning), the cost of functional encryption per image, and the
//! recommendation. Written as `report.json` (machine-readable, no pixel arrays: images are the files it
//! names), `report.md` / `report.html`, one CSV per table and the plots as PNG and SVG.

use privsplit_attacks::AttributeAttacker;
use privsplit_data::Split;
use privsplit_models::quadratic::QuadraticConfig;
use privsplit_report::Provenance;
use serde::Serialize;

use super::config::RunConfig;
use super::defence::DefendStep;
use crate::collateral::{AlphaSummary, CollateralRuns, InitialPhaseStat};
use crate::encryption::EncryptionOutcome;
use crate::sweep::{summary, SweepReport};

/// Largest drop of the main-task accuracy (percentage points) an alpha may cost to be recommended.
pub const MAX_MAIN_TASK_COST_POINTS: f32 = 5.0;

/// The machine-readable report, `report.json`.
#[derive(Debug, Serialize)]
pub struct RunReport<'a> {
    /// The privsplit version.
    pub privsplit_version: &'static str,
    /// Commit, machine, seeds, wall time of each step.
    pub provenance: Provenance,
    /// The effective config.
    pub config: &'a RunConfig,
    /// The font-character dataset.
    pub dataset: DatasetSummary,
    /// Attribute leakage per alpha (functional-encryption side).
    pub collateral: CollateralSummary,
    /// Encrypted inference of the undefended private part, if run.
    pub encryption: Option<EncryptionOutcome>,
    /// Reconstruction per partition point (TEE side).
    pub sweep: SweepStep,
    /// Defence of a partition point (only with a `[defend]` section).
    #[serde(skip_serializing_if = "DefendStep::is_disabled")]
    pub defend: DefendStep,
    /// What to deploy.
    pub recommendation: Recommendation,
    /// Every file of the report, relative to the run folder.
    pub files: Vec<String>,
}

/// The dataset of the run.
#[derive(Debug, Serialize)]
pub struct DatasetSummary {
    /// Training images.
    pub train_images: usize,
    /// Test images.
    pub test_images: usize,
    /// Image height (pixels).
    pub rows: usize,
    /// Image width (pixels).
    pub cols: usize,
    /// The main-task classes (characters).
    pub classes: Vec<String>,
    /// The sensitive attribute's values (fonts).
    pub sensitive_attribute: Vec<String>,
}

/// The collateral-learning outcome without weights.
#[derive(Debug, Serialize)]
pub struct CollateralSummary {
    /// Network sizes.
    pub network: QuadraticConfig,
    /// The seeds the experiment ran with (each row is mean ± std over them).
    pub seeds: Vec<u64>,
    /// Chance level of the sensitive attribute, in `[0, 1]` (first seed; the test split is shared).
    pub chance: f32,
    /// Float test accuracy of the undefended model of the first seed, in `[0, 1]`.
    pub float_test_accuracy: f32,
    /// One row per alpha.
    pub per_alpha: Vec<AlphaRow>,
    /// With `collateral.initial_adversary`: main-task and adversary test accuracy after the plain phase
    /// over the seeds (the authors' undefended leak measure, [`crate::collateral::InitialPhase`]).
    pub initial_phase: Option<InitialPhaseStat>,
}

/// Attribute leakage and main-task cost at one alpha, over the seeds.
#[derive(Debug, Serialize)]
pub struct AlphaRow {
    /// Defence strength (0 = no defence).
    pub alpha: f32,
    /// `"ok"`, `"DIVERGED"` (every run diverged: no defence result) or `"DIVERGED in d of n runs
    /// (excluded)"`.
    pub status: String,
    /// Runs (seeds).
    pub runs: usize,
    /// Runs whose defence diverged (left out of every statistic below, except `main_accuracy` when all
    /// diverged).
    pub diverged_runs: usize,
    /// Main-task test accuracy, mean over the runs, in `[0, 1]`.
    pub main_accuracy: f32,
    /// Its sample standard deviation (0 for one run).
    pub main_accuracy_std: f32,
    /// Main-task test accuracy of each run (seed order, diverged runs included), in `[0, 1]`.
    pub main_accuracy_runs: Vec<f32>,
    /// The lowest of `main_accuracy_runs`, in `[0, 1]`; `None` without runs.
    pub lowest_main_accuracy: Option<f32>,
    /// Mean main-task accuracy lost against alpha = 0 (percentage points; `None` without alpha = 0 or
    /// when this alpha diverged).
    pub main_task_cost_points: Option<f32>,
    /// Collateral accuracy of each attacker (mean ± std); empty when every run diverged.
    pub attacks: Vec<AttackRow>,
    /// Highest mean collateral accuracy over the attackers, in `[0, 1]`; `None` when every run diverged.
    pub worst_collateral: Option<f32>,
    /// Mean wall times (s): defence, recovery, attacks.
    pub seconds: [f64; 3],
    /// Divergences detected during the defence, over all runs.
    pub divergence_events: usize,
    /// `alpha` at the end of each run's defence (below `alpha` after `halve-alpha` rollbacks).
    pub final_alphas: Vec<f32>,
}

/// One attacker's collateral accuracy at one alpha.
#[derive(Debug, Serialize)]
pub struct AttackRow {
    /// The attacker (`"cnn"`, `"random_forest"`, ...).
    pub attacker: String,
    /// Mean collateral accuracy over the runs that did not diverge, in `[0, 1]`.
    pub collateral_accuracy: f32,
    /// Its sample standard deviation.
    pub collateral_std: f32,
}

impl AlphaRow {
    fn new(a: &AlphaSummary, base: Option<f32>) -> Self {
        let status = if a.all_diverged() {
            "DIVERGED".to_string()
        } else if a.diverged > 0 {
            format!("DIVERGED in {} of {} runs (excluded)", a.diverged, a.runs)
        } else {
            "ok".to_string()
        };
        Self {
            alpha: a.alpha,
            status,
            runs: a.runs,
            diverged_runs: a.diverged,
            main_accuracy: a.main_accuracy.mean,
            main_accuracy_std: a.main_accuracy.std,
            main_accuracy_runs: a.main_accuracy_runs.clone(),
            lowest_main_accuracy: a.lowest_main_accuracy(),
            main_task_cost_points: base
                .filter(|_| !a.all_diverged())
                .map(|b| (b - a.main_accuracy.mean) * 100.0),
            attacks: a
                .attacks
                .iter()
                .map(|x| AttackRow {
                    attacker: x.attacker.clone(),
                    collateral_accuracy: x.collateral_accuracy.mean,
                    collateral_std: x.collateral_accuracy.std,
                })
                .collect(),
            worst_collateral: a.worst_collateral,
            seconds: a.seconds,
            divergence_events: a.divergence_events,
            final_alphas: a.final_alphas.clone(),
        }
    }

    /// Whether a run at this alpha diverged.
    pub fn any_diverged(&self) -> bool {
        self.diverged_runs > 0
    }

    /// The main-task accuracy as [`Self::pct`] gives it, with the lowest single run when there are
    /// several (`"96.0 ± 0.6 % (lowest run 95.4 %)"`).
    pub fn main_text(&self) -> String {
        let text = self.pct(self.main_accuracy, self.main_accuracy_std);
        match self.lowest_main_accuracy {
            Some(low) if self.runs > 1 => format!("{text} (lowest run {:.1} %)", low * 100.0),
            _ => text,
        }
    }

    /// `"mean ± std %"` of `value` / `std` (a fraction), or `"mean %"` for a single run.
    pub fn pct(&self, value: f32, std: f32) -> String {
        let in_stat = if self.diverged_runs == self.runs {
            self.runs
        } else {
            self.runs - self.diverged_runs
        };
        if in_stat > 1 {
            format!("{:.1} ± {:.1} %", value * 100.0, std * 100.0)
        } else {
            format!("{:.1} %", value * 100.0)
        }
    }

    /// The collateral accuracy of `attacker` as text: `"-"` when not run, `"DIVERGED"` when every run
    /// diverged.
    pub fn collateral_text(&self, attacker: &str) -> String {
        if self.status == "DIVERGED" {
            return "DIVERGED".into();
        }
        self.attack(attacker).map_or("-".into(), |x| {
            self.pct(x.collateral_accuracy, x.collateral_std)
        })
    }

    /// The row of `attacker`, if it was run (and the alpha did not diverge in every run).
    pub fn attack(&self, attacker: &str) -> Option<&AttackRow> {
        self.attacks.iter().find(|x| x.attacker == attacker)
    }
}

/// The sweep step's result; the full sweep report is `sweep/report.json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum SweepStep {
    /// Disabled in the config.
    Disabled,
    /// Skipped (data not installed, outside CI).
    Skipped {
        /// Why.
        reason: String,
    },
    /// Done.
    Done {
        /// The sweep's folder in the run folder.
        folder: String,
        /// The sweep report (serialised as [`SweepRow`]s, without images).
        #[serde(serialize_with = "sweep_rows")]
        report: Box<SweepReport>,
    },
}

/// Reconstruction quality and enclave cost at one partition point, one attack.
#[derive(Debug, Serialize)]
pub struct SweepRow {
    /// Partition point.
    pub k: usize,
    /// Last trusted stage.
    pub stage: String,
    /// The attack.
    pub attack: String,
    /// Mean SSIM in `[-1, 1]`.
    pub ssim: f64,
    /// Mean PSNR (dB).
    pub psnr_db: f64,
    /// Trusted-partition (enclave) FLOPs per image, millions.
    pub trusted_mflop: f64,
    /// Trusted-partition parameter bytes.
    pub trusted_param_bytes: usize,
    /// Trusted-partition latency, one image, this CPU (ms).
    pub trusted_cpu_ms: f64,
    /// Exposed feature-map bytes per image.
    pub feature_bytes: usize,
}

#[allow(clippy::borrowed_box)] // serde's `serialize_with` passes a reference to the field, a `Box`
fn sweep_rows<S: serde::Serializer>(
    r: &Box<SweepReport>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct View<'a> {
        summary: String,
        recommended_k: Option<usize>,
        rows: Vec<SweepRow>,
        threshold: f64,
        baseline: &'a Option<crate::sweep::Baseline>,
    }
    View {
        summary: summary(r),
        recommended_k: r.recommendation.as_ref().map(|x| x.k),
        rows: sweep_table(r),
        threshold: r.config.ssim_threshold,
        baseline: &r.baseline,
    }
    .serialize(s)
}

/// The per-point rows of a sweep.
pub fn sweep_table(r: &SweepReport) -> Vec<SweepRow> {
    r.points
        .iter()
        .flat_map(|p| {
            p.attacks.iter().map(move |a| SweepRow {
                k: p.k,
                stage: p.stage.clone(),
                attack: a.attack.name().into(),
                ssim: a.ssim,
                psnr_db: a.psnr,
                trusted_mflop: p.trusted_flops as f64 / 1e6,
                trusted_param_bytes: p.trusted_param_bytes,
                trusted_cpu_ms: p.trusted_ms,
                feature_bytes: p.feature_bytes,
            })
        })
        .collect()
}

/// What to deploy, by protection.
#[derive(Debug, Serialize)]
pub struct Recommendation {
    /// The alpha with the lowest worst-case collateral accuracy among those costing at most
    /// [`MAX_MAIN_TASK_COST_POINTS`] of main-task accuracy.
    pub alpha: Option<f32>,
    /// The earliest partition point whose best attack stays under the SSIM threshold (when the sweep ran).
    pub partition_point: Option<usize>,
    /// Both, in words.
    pub text: String,
}

impl<'a> RunReport<'a> {
    /// Assembles the report of a run.
    pub fn new(
        config: &'a RunConfig,
        provenance: Provenance,
        data: &Split,
        runs: &CollateralRuns,
        encryption: Option<EncryptionOutcome>,
        sweep: SweepStep,
        defend: DefendStep,
    ) -> Self {
        let base = runs
            .summary
            .iter()
            .find(|a| a.alpha == 0.0 && !a.all_diverged())
            .map(|a| a.main_accuracy.mean);
        let per_alpha: Vec<AlphaRow> = runs
            .summary
            .iter()
            .map(|a| AlphaRow::new(a, base))
            .collect();
        let first = runs.runs.first();
        let chance = first.map_or(0.0, |o| o.chance);
        let mut recommendation = recommend(&per_alpha, &sweep, chance);
        if let Some(d) = defend.summary() {
            recommendation.text = format!("{} {d}", recommendation.text);
        }
        let tr = &data.train;
        Self {
            privsplit_version: env!("CARGO_PKG_VERSION"),
            provenance,
            config,
            dataset: DatasetSummary {
                train_images: tr.n,
                test_images: data.test.n,
                rows: tr.rows,
                cols: tr.cols,
                classes: tr.class_names.clone(),
                sensitive_attribute: tr.sensitive_names.clone(),
            },
            collateral: CollateralSummary {
                // a run has at least one seed; the fallback only keeps this total
                network: first.map_or_else(QuadraticConfig::ryffel2019, |o| o.network.clone()),
                seeds: config.collateral.run_seeds(),
                chance,
                float_test_accuracy: first.map_or(0.0, |o| o.float_test_accuracy),
                per_alpha,
                initial_phase: runs.initial_phase,
            },
            encryption,
            sweep,
            defend,
            recommendation,
            files: Vec::new(),
        }
    }

    /// The attackers of the collateral step, in config order.
    pub fn attackers(&self) -> Vec<AttributeAttacker> {
        self.config.collateral.attackers.clone()
    }

    /// The findings in a few lines for the terminal: one line per alpha (main task, worst collateral
    /// accuracy, or DIVERGED), then the recommendation.
    pub fn headline(&self) -> String {
        let c = &self.collateral;
        let mut lines = vec![format!(
            "collateral learning ({} seed(s)), chance {:.1} %:",
            c.seeds.len(),
            c.chance * 100.0
        )];
        if let Some(i) = &c.initial_phase {
            lines.push(format!(
                "  after the initial phase: main task {}, jointly trained adversary {} (whole test split, chance {:.1} %)",
                i.main_accuracy.percent(),
                i.adversary_accuracy.percent(),
                i.chance * 100.0
            ));
        }
        for a in &c.per_alpha {
            let leak = match (a.status.as_str(), a.worst_collateral) {
                ("DIVERGED", _) | (_, None) => {
                    "DIVERGED (no defence result; its leak is not reported)".to_string()
                }
                (_, Some(w)) => format!("worst collateral accuracy {:.1} %", w * 100.0),
            };
            let mut extra = if a.status != "ok" && a.status != "DIVERGED" {
                format!(" [{}]", a.status)
            } else {
                String::new()
            };
            if a.divergence_events > 0 {
                extra.push_str(&format!(
                    " [{} divergence event(s); final alpha {:?}]",
                    a.divergence_events, a.final_alphas
                ));
            }
            lines.push(format!(
                "  alpha {:<4} main task {}  {leak}{extra}",
                a.alpha,
                a.main_text()
            ));
        }
        lines.push(self.recommendation.text.clone());
        lines.join("\n")
    }
}

fn recommend(rows: &[AlphaRow], sweep: &SweepStep, chance: f32) -> Recommendation {
    let alpha = rows
        .iter()
        .filter(|r| !r.any_diverged())
        .filter(|r| {
            r.main_task_cost_points
                .is_none_or(|c| c <= MAX_MAIN_TASK_COST_POINTS)
        })
        .filter_map(|r| r.worst_collateral.map(|w| (r, w)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(r, _)| r);
    let k = match sweep {
        SweepStep::Done { report, .. } => report.recommendation.as_ref().map(|r| r.k),
        _ => None,
    };
    let fe = match alpha {
        Some(r) => format!(
            "Functional encryption: train with alpha = {} (worst collateral accuracy {:.1} % vs chance {:.1} %, \
             main-task cost {:.1} points, at most {MAX_MAIN_TASK_COST_POINTS} allowed; alphas that diverged are \
             never recommended).",
            r.alpha,
            r.worst_collateral.unwrap_or(f32::NAN) * 100.0,
            chance * 100.0,
            r.main_task_cost_points.unwrap_or(0.0)
        ),
        None => "Functional encryption: no alpha keeps the main task within the allowed cost without \
                 diverging."
            .into(),
    };
    let tee = match sweep {
        SweepStep::Done { report, .. } => format!("TEE partitioning: {}.", summary(report)),
        SweepStep::Skipped { .. } => "TEE partitioning: the sweep was skipped (no data).".into(),
        SweepStep::Disabled => "TEE partitioning: the sweep was disabled.".into(),
    };
    Recommendation {
        alpha: alpha.map(|r| r.alpha),
        partition_point: k,
        text: format!("{fe} {tee}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use crate::collateral::{AttackStat, Stat};

    fn summary(alpha: f32, runs: usize, diverged: usize, main: f32, leak: f32) -> AlphaSummary {
        let stat = |mean| Stat {
            mean,
            std: 0.01,
            n: runs - diverged.min(runs - 1),
        };
        let all = diverged == runs;
        AlphaSummary {
            alpha,
            runs,
            diverged,
            main_accuracy: stat(main),
            attacks: if all {
                Vec::new()
            } else {
                vec![AttackStat {
                    attacker: "knn".into(),
                    collateral_accuracy: stat(leak),
                }]
            },
            worst_collateral: (!all).then_some(leak),
            seconds: [1.0, 1.0, 1.0],
            divergence_events: diverged,
            final_alphas: vec![alpha; runs],
            main_accuracy_runs: vec![main; runs],
        }
    }

    #[test]
    fn a_diverged_alpha_shows_no_leak_and_is_never_recommended() {
        let rows: Vec<AlphaRow> = [
            summary(0.0, 3, 0, 0.97, 0.90),
            // collapsed in every run: its (low) leak must not be shown or recommended
            summary(3.0, 3, 3, 0.10, 0.0),
            summary(1.5, 3, 1, 0.95, 0.60),
            summary(1.0, 3, 0, 0.96, 0.62),
        ]
        .iter()
        .map(|s| AlphaRow::new(s, Some(0.97)))
        .collect();
        let collapsed = &rows[1];
        assert_eq!(collapsed.status, "DIVERGED");
        assert!(collapsed.attacks.is_empty() && collapsed.worst_collateral.is_none());
        assert!(collapsed.main_task_cost_points.is_none());
        assert_eq!(collapsed.collateral_text("knn"), "DIVERGED");
        assert_eq!(rows[2].status, "DIVERGED in 1 of 3 runs (excluded)");
        assert_eq!(rows[3].collateral_text("knn"), "62.0 ± 1.0 %");
        assert_eq!(rows[3].collateral_text("cnn"), "-");
        // alpha 1.5 leaks least among the rest but diverged once: alpha 1 is recommended.
        let rec = recommend(&rows, &SweepStep::Disabled, 0.5);
        assert_eq!(rec.alpha, Some(1.0));
        assert!(rec.text.contains("alpha = 1 "), "{}", rec.text);
    }
}
