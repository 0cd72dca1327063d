//! Each alpha over several seeds: mean ± sample standard deviation of the main-task accuracy and of each
//! attacker's collateral accuracy, with diverged runs counted and left out of the leak.

use serde::{Deserialize, Serialize};

use super::CollateralOutcome;

/// Mean and sample standard deviation (`n - 1` in the denominator; 0 for one value) of `n` values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Mean.
    pub mean: f32,
    /// Sample standard deviation.
    pub std: f32,
    /// Number of values.
    pub n: usize,
}

impl Stat {
    /// The statistics of `values`; `None` when there is none.
    pub fn of(values: &[f32]) -> Option<Self> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let var = if n > 1 {
            values
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / (n - 1) as f64
        } else {
            0.0
        };
        Some(Self {
            mean: mean as f32,
            std: var.sqrt() as f32,
            n,
        })
    }

    /// `"mean ± std %"` of a fraction, one decimal (`"93.5 ± 1.2 %"`; no `±` for a single value).
    pub fn percent(&self) -> String {
        if self.n > 1 {
            format!("{:.1} ± {:.1} %", self.mean * 100.0, self.std * 100.0)
        } else {
            format!("{:.1} %", self.mean * 100.0)
        }
    }
}

/// One attacker's collateral accuracy at one alpha over the runs that did not diverge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackStat {
    /// The attacker's name (`"cnn"`, `"random_forest"`, ...).
    pub attacker: String,
    /// Collateral accuracy in `[0, 1]` over the runs.
    pub collateral_accuracy: Stat,
}

/// One alpha over all seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlphaSummary {
    /// Defence strength (0 = no defence).
    pub alpha: f32,
    /// Runs (seeds) at this alpha.
    pub runs: usize,
    /// Runs whose defence diverged; their leak is in no statistic here.
    pub diverged: usize,
    /// Main-task test accuracy in `[0, 1]` over the runs that did not diverge (all runs when every one
    /// diverged, to show the collapse).
    pub main_accuracy: Stat,
    /// Collateral accuracy per attacker over the runs that did not diverge; empty when all diverged.
    pub attacks: Vec<AttackStat>,
    /// Highest mean collateral accuracy over the attackers; `None` when all runs diverged.
    pub worst_collateral: Option<f32>,
    /// Mean wall times (s): defence, recovery, attacks.
    pub seconds: [f64; 3],
    /// Divergences detected during the defence, summed over the runs (each answered by the configured
    /// response: recorded, rolled back with alpha halved, or stopped).
    pub divergence_events: usize,
    /// `alpha` at the end of each run's defence (below `alpha` after `halve-alpha` rollbacks).
    pub final_alphas: Vec<f32>,
    /// Main-task test accuracy of each run in `[0, 1]`, in seed order, diverged runs included: the
    /// single runs behind `main_accuracy` (a "no run below 95 %" claim reads these, not the mean).
    #[serde(default)]
    pub main_accuracy_runs: Vec<f32>,
}

impl AlphaSummary {
    /// The lowest main-task accuracy over the runs, diverged ones included, in `[0, 1]`; `None` without
    /// runs.
    pub fn lowest_main_accuracy(&self) -> Option<f32> {
        self.main_accuracy_runs.iter().copied().reduce(f32::min)
    }

    /// Whether every run at this alpha diverged (no defence result to show).
    pub fn all_diverged(&self) -> bool {
        self.runs > 0 && self.diverged == self.runs
    }
}

/// The outcome of [`super::run_collateral_seeds`]: every run and the per-alpha summary.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CollateralRuns {
    /// One outcome per seed, in the order of [`super::CollateralConfig::run_seeds`].
    pub runs: Vec<CollateralOutcome>,
    /// One entry per alpha, in the config's order.
    pub summary: Vec<AlphaSummary>,
    /// The plain phase's scores over the seeds, when the adversary trained alongside.
    #[serde(default)]
    pub initial_phase: Option<InitialPhaseStat>,
}

/// [`super::InitialPhase`] over the seeds: the authors' undefended leak measure (the jointly trained
/// adversary's test accuracy after the initial phase) as mean ± std.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitialPhaseStat {
    /// Main-task test accuracy, in `[0, 1]`.
    pub main_accuracy: Stat,
    /// The jointly trained adversary's sensitive-attribute test accuracy, in `[0, 1]`.
    pub adversary_accuracy: Stat,
    /// Majority rate of the sensitive attribute on the whole test split (first run), in `[0, 1]`.
    pub chance: f32,
}

impl InitialPhaseStat {
    /// The statistics over the runs that have initial-phase scores; `None` when none has.
    pub fn of(runs: &[CollateralOutcome]) -> Option<Self> {
        let scores: Vec<_> = runs.iter().filter_map(|r| r.initial_phase).collect();
        let first = scores.first()?;
        let stat = |f: fn(&super::InitialPhase) -> f32| {
            Stat::of(&scores.iter().map(f).collect::<Vec<_>>())
        };
        Some(Self {
            main_accuracy: stat(|s| s.main_accuracy)?,
            adversary_accuracy: stat(|s| s.adversary_accuracy)?,
            chance: first.chance,
        })
    }
}

/// Summarises `runs` (same config, different seeds) per alpha, in the order of the first run's alphas.
pub fn summarise(runs: &[CollateralOutcome]) -> Vec<AlphaSummary> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .per_alpha
        .iter()
        .enumerate()
        .map(|(i, a0)| {
            let all: Vec<_> = runs.iter().filter_map(|r| r.per_alpha.get(i)).collect();
            let good: Vec<_> = all.iter().filter(|a| !a.diverged).collect();
            let main_of = |v: Vec<f32>| Stat::of(&v);
            let main_accuracy = if good.is_empty() {
                main_of(all.iter().map(|a| a.main_accuracy).collect())
            } else {
                main_of(good.iter().map(|a| a.main_accuracy).collect())
            }
            .unwrap_or(Stat {
                mean: 0.0,
                std: 0.0,
                n: 0,
            });
            let attacks: Vec<AttackStat> = a0
                .attacks
                .iter()
                .filter_map(|r0| {
                    let v: Vec<f32> = good
                        .iter()
                        .filter_map(|a| a.attacks.iter().find(|r| r.attacker == r0.attacker))
                        .map(|r| r.collateral_accuracy)
                        .collect();
                    Stat::of(&v).map(|s| AttackStat {
                        attacker: r0.attacker.clone(),
                        collateral_accuracy: s,
                    })
                })
                .collect();
            let worst_collateral = attacks
                .iter()
                .map(|a| a.collateral_accuracy.mean)
                .reduce(f32::max);
            let n = all.len().max(1) as f64;
            let mean_s = |f: fn(&&super::AlphaOutcome) -> f64| all.iter().map(f).sum::<f64>() / n;
            AlphaSummary {
                alpha: a0.alpha,
                runs: all.len(),
                diverged: all.len() - good.len(),
                main_accuracy,
                attacks,
                worst_collateral,
                seconds: [
                    mean_s(|a| a.defence_seconds),
                    mean_s(|a| a.recovery_seconds),
                    mean_s(|a| a.attack_seconds),
                ],
                divergence_events: all.iter().map(|a| a.divergence_events.len()).sum(),
                final_alphas: all.iter().map(|a| a.final_alpha).collect(),
                main_accuracy_runs: all.iter().map(|a| a.main_accuracy).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn stat_is_the_sample_mean_and_deviation() {
        let s = Stat::of(&[0.5, 0.7, 0.9]).unwrap();
        assert!((s.mean - 0.7).abs() < 1e-6);
        // sum of squares 0.08, / (3 - 1) = 0.04, sqrt = 0.2
        assert!((s.std - 0.2).abs() < 1e-6);
        assert_eq!(s.n, 3);
        assert_eq!(s.percent(), "70.0 ± 20.0 %");
        let one = Stat::of(&[0.25]).unwrap();
        assert_eq!((one.std, one.percent().as_str()), (0.0, "25.0 %"));
        assert!(Stat::of(&[]).is_none());
    }
}
