//! When is a partition point safe, and which safe point to recommend (docs/SWEEP.md, "The rule").
//!
//! [`SafetyRule::Leakage`] (default): a point is safe when, for **every** attack,
//! 1. the upper bound of the 95 % bootstrap interval of its SSIM gain over the strongest prior-only
//!    baseline is at most [`RuleConfig::margin`] (default [`DEFAULT_MARGIN`] = 0.05 SSIM), and
//! 2. its identification top-1 accuracy is not above chance with 95 % confidence: the Wilson interval's
//!    lower bound is at most `1 / N`.
//!
//! An attack without leakage statistics (no attacker dataset to build the priors from, e.g. the `lite0`
//! preset) is judged by the threshold rule, and the verdict says so.
//!
//! [`SafetyRule::Threshold`]: a point is safe when every attack's mean SSIM is below
//! [`SweepConfig::ssim_threshold`] (the earlier rule).
//!
//! Among safe points, [`Objective::EarliestSafe`] recommends the smallest `k`, [`Objective::CheapestSafe`]
//! the one with the lowest estimated end-to-end latency per image (enclave estimate of the trusted
//! partition + measured untrusted partition; ties: the smaller `k`).

use privsplit_attacks::ReconstructionAttack;
use serde::{Deserialize, Serialize};

use super::leakage::Leakage;
use super::{PointResult, Recommendation, SweepConfig};
use crate::{Error, Result};

/// Default margin (SSIM units) of the leakage rule; justified in docs/SWEEP.md.
pub const DEFAULT_MARGIN: f64 = 0.05;

/// The test a partition point must pass to be called safe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum SafetyRule {
    /// Gain over the strongest prior-only baseline within the margin, identification at chance.
    #[default]
    Leakage,
    /// Every attack's mean SSIM below the absolute SSIM threshold.
    Threshold,
}

/// Which safe point to recommend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// The smallest safe `k` (the least work in the enclave among safe points, by construction).
    #[default]
    EarliestSafe,
    /// The safe `k` with the lowest estimated latency (enclave estimate + untrusted partition).
    CheapestSafe,
}

/// Settings of the rule and of the leakage statistics it reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleConfig {
    /// The rule.
    pub rule: SafetyRule,
    /// Which safe point to recommend.
    pub objective: Objective,
    /// Largest tolerated SSIM gain over the strongest prior (upper bound of the 95 % interval), `[0, 1]`.
    pub margin: f64,
    /// Candidates `N >= 2` of the identification test (the true input + `N - 1` distractors).
    pub candidates: usize,
    /// Test images after the evaluation images used as identification distractors.
    pub distractor_images: usize,
    /// Bootstrap resamples (>= 100).
    pub bootstrap_resamples: usize,
    /// Seed of the bootstrap, the distractor draws and the label decoder.
    pub seed: u64,
}

impl Default for RuleConfig {
    fn default() -> Self {
        Self {
            rule: SafetyRule::Leakage,
            objective: Objective::EarliestSafe,
            margin: DEFAULT_MARGIN,
            candidates: 10,
            distractor_images: 500,
            bootstrap_resamples: 1000,
            seed: 0,
        }
    }
}

impl RuleConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the setting: a margin outside `[0, 1]`, fewer than 2 candidates, fewer than
    /// 100 bootstrap resamples.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.margin) {
            return Err(Error::invalid(
                "margin",
                "a value in [0, 1] (SSIM units)",
                self.margin.to_string(),
            ));
        }
        if self.candidates < 2 {
            return Err(Error::invalid(
                "identification candidates",
                ">= 2",
                self.candidates.to_string(),
            ));
        }
        if self.bootstrap_resamples < 100 {
            return Err(Error::invalid(
                "bootstrap resamples",
                ">= 100",
                self.bootstrap_resamples.to_string(),
            ));
        }
        Ok(())
    }
}

/// The verdict of the rule at one partition point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Partition point.
    pub k: usize,
    /// Whether every attack passes.
    pub safe: bool,
    /// Why not (one line per failing attack), or which fallback was used.
    pub reasons: Vec<String>,
}

/// The rule of `cfg` applied to one point (see the module docs).
pub fn verdict(p: &PointResult, cfg: &SweepConfig) -> Verdict {
    let mut reasons = Vec::new();
    let mut safe = !p.attacks.is_empty();
    for a in &p.attacks {
        let name = a.attack.name();
        match (&cfg.rule.rule, &a.leakage) {
            (SafetyRule::Leakage, Some(l)) => {
                if l.gain_ci95[1] > cfg.rule.margin {
                    safe = false;
                    reasons.push(format!(
                        "{name}: SSIM gain over the {} {:+.3} (95 % CI {:+.3}..{:+.3}) may exceed the margin {:.3}",
                        l.prior.name(),
                        l.gain,
                        l.gain_ci95[0],
                        l.gain_ci95[1],
                        cfg.rule.margin
                    ));
                }
                if let Some(id) = l
                    .identification
                    .as_ref()
                    .filter(|id| id.ci95[0] > id.chance)
                {
                    safe = false;
                    reasons.push(format!(
                        "{name}: identifies the input among {} candidates {:.1} % of the time (95 % CI \
                         {:.1}..{:.1} %), above chance {:.1} %",
                        id.candidates,
                        id.top1 * 100.0,
                        id.ci95[0] * 100.0,
                        id.ci95[1] * 100.0,
                        id.chance * 100.0
                    ));
                }
            }
            (rule, _) => {
                if *rule == SafetyRule::Leakage {
                    reasons.push(format!(
                        "{name}: no prior baselines (no attacker dataset): SSIM threshold used"
                    ));
                }
                if a.ssim >= cfg.ssim_threshold {
                    safe = false;
                    reasons.push(format!(
                        "{name}: mean SSIM {:.3} >= threshold {:.2}",
                        a.ssim, cfg.ssim_threshold
                    ));
                }
            }
        }
    }
    Verdict {
        k: p.k,
        safe,
        reasons,
    }
}

/// Estimated end-to-end latency (ms per image) of a point: the enclave estimate when present (else the
/// measured trusted CPU latency) plus the measured untrusted latency.
pub fn total_ms(p: &PointResult) -> f64 {
    p.enclave.as_ref().map_or(p.trusted_ms, |e| e.estimated_ms) + p.untrusted_ms
}

/// The attack whose leakage is closest to failing the rule (highest upper bound of the gain interval).
fn leakiest(p: &PointResult) -> Option<(ReconstructionAttack, &Leakage)> {
    p.attacks
        .iter()
        .filter_map(|a| a.leakage.as_ref().map(|l| (a.attack, l)))
        .max_by(|a, b| a.1.gain_ci95[1].total_cmp(&b.1.gain_ci95[1]))
}

/// The recommended point among the points `safe` accepts, by `cfg`'s objective.
pub fn recommend_among(
    points: &[PointResult],
    cfg: &SweepConfig,
    safe: impl Fn(&PointResult) -> bool,
) -> Option<Recommendation> {
    let mut ok: Vec<&PointResult> = points.iter().filter(|p| safe(p)).collect();
    ok.sort_by_key(|p| p.k);
    let p = match cfg.rule.objective {
        Objective::EarliestSafe => ok.first().copied(),
        Objective::CheapestSafe => ok
            .into_iter()
            .min_by(|a, b| total_ms(a).total_cmp(&total_ms(b))),
    }?;
    let best = p.best()?;
    let leaky = leakiest(p);
    Some(Recommendation {
        k: p.k,
        stage: p.stage.clone(),
        best_attack: best.attack,
        best_ssim: best.ssim,
        feature_shape: p.feature_shape,
        feature_bytes: p.feature_bytes,
        trusted_flops: p.trusted_flops,
        trusted_param_bytes: p.trusted_param_bytes,
        trusted_ms: p.trusted_ms,
        rule: cfg.rule.rule,
        objective: cfg.rule.objective,
        leakiest_attack: leaky.map(|l| l.0),
        leakage: leaky.map(|l| l.1.clone()),
        enclave: p.enclave.clone(),
        untrusted_ms: p.untrusted_ms,
    })
}

/// The recommended partition point under `cfg`'s rule and objective, `None` when no point is safe.
///
/// # Errors
/// [`Error::Invalid`] when the threshold or the rule settings are out of range.
pub fn recommend(points: &[PointResult], cfg: &SweepConfig) -> Result<Option<Recommendation>> {
    if !(0.0..=1.0).contains(&cfg.ssim_threshold) {
        return Err(Error::invalid(
            "SSIM threshold",
            "a value in [0, 1]",
            cfg.ssim_threshold.to_string(),
        ));
    }
    cfg.rule.validate()?;
    Ok(recommend_among(points, cfg, |p| verdict(p, cfg).safe))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::enclave::{enclave_cost, EnclaveConfig};
    use crate::sweep::leakage::PriorKind;
    use crate::sweep::tests::point;
    use privsplit_attacks::tabular_metrics::{wilson95, Reidentification};
    use ReconstructionAttack::*;

    fn threshold_cfg(t: f64) -> SweepConfig {
        let mut c = SweepConfig::tiny();
        c.rule.rule = SafetyRule::Threshold;
        c.ssim_threshold = t;
        c
    }

    #[test]
    fn threshold_rule_recommends_the_earliest_point_whose_best_attack_is_below_the_threshold() {
        let pts = vec![
            point(3, &[(Cgan, 0.2), (Rmle, 0.25)]),
            point(0, &[(Cgan, 0.99), (Rmle, 1.0)]),
            point(1, &[(Cgan, 0.6), (Rmle, 0.2)]),
            point(2, &[(Cgan, 0.29), (Rmle, 0.31)]), // best attack (rMLE) above 0.3: not safe
            point(4, &[(Cgan, 0.1)]),
        ];
        let r = recommend(&pts, &threshold_cfg(0.3))
            .expect("ok")
            .expect("some point");
        assert_eq!((r.k, r.best_attack), (3, Rmle));
        assert!((r.best_ssim - 0.25).abs() < 1e-12);
        assert_eq!(r.trusted_flops, 30);
        assert_eq!(
            recommend(&pts, &threshold_cfg(0.32))
                .expect("ok")
                .map(|r| r.k),
            Some(2)
        );
        assert!(recommend(&pts, &threshold_cfg(0.05)).expect("ok").is_none());
        // A point whose score equals the threshold is not below it.
        assert_eq!(
            recommend(&pts, &threshold_cfg(0.25))
                .expect("ok")
                .map(|r| r.k),
            Some(4)
        );
        assert!(recommend(&pts, &threshold_cfg(1.5)).is_err());
        assert!(recommend(&pts, &threshold_cfg(-0.1)).is_err());
    }

    /// A point with leakage `(gain CI, identification top-1 over 100 trials of N = 10)` for one attack.
    fn leaky(k: usize, ssim: f64, ci: [f64; 2], top1: f64) -> PointResult {
        let mut p = point(k, &[(Cgan, ssim)]);
        p.attacks[0].leakage = Some(Leakage {
            prior: PriorKind::LabelDecoder,
            prior_ssim: 0.35,
            gain: (ci[0] + ci[1]) / 2.0,
            gain_ci95: ci,
            identification: Some(Reidentification {
                candidates: 10,
                trials: 100,
                top1,
                chance: 0.1,
                ci95: wilson95(top1, 100),
            }),
        });
        p
    }

    #[test]
    fn leakage_rule_calls_a_point_at_the_label_prior_safe_and_one_above_the_margin_unsafe() {
        let cfg = SweepConfig::tiny();
        assert_eq!(cfg.rule.rule, SafetyRule::Leakage);
        // Gain CI entirely above the margin: unsafe, although the SSIM (0.29) is below the old threshold.
        let above = leaky(2, 0.29, [0.08, 0.14], 0.1);
        let v = verdict(&above, &cfg);
        assert!(!v.safe && v.reasons[0].contains("margin"), "{v:?}");
        // Upper bound just above the margin: still unsafe (the rule asks for confidence of safety).
        assert!(!verdict(&leaky(3, 0.3, [-0.01, 0.06], 0.1), &cfg).safe);
        // At the label prior (gain CI around 0), identification at chance: safe although SSIM 0.36 >= 0.3.
        let at_prior = leaky(5, 0.36, [-0.02, 0.02], 0.12);
        assert!(verdict(&at_prior, &cfg).safe);
        // The same gain but identification 30 % of 10 candidates (Wilson lower bound 0.22 > 0.1): unsafe.
        let v = verdict(&leaky(4, 0.36, [-0.02, 0.02], 0.3), &cfg);
        assert!(!v.safe && v.reasons[0].contains("identifies"), "{v:?}");
        let pts = vec![above, leaky(4, 0.36, [-0.02, 0.02], 0.3), at_prior];
        let r = recommend(&pts, &cfg).expect("ok").expect("safe point");
        assert_eq!((r.k, r.leakiest_attack), (5, Some(Cgan)));
        assert_eq!(r.leakage.map(|l| l.gain_ci95), Some([-0.02, 0.02]));
        // Without leakage statistics an attack falls back to the threshold, and says so.
        let v = verdict(&point(6, &[(Rmle, 0.1)]), &cfg);
        assert!(v.safe && v.reasons[0].contains("threshold"), "{v:?}");
    }

    #[test]
    fn cheapest_safe_weighs_the_enclave_estimate() {
        let mut cfg = SweepConfig::tiny();
        let stages = privsplit_models::zoo::build(&cfg.arch, &burn::tensor::Device::flex())
            .expect("build")
            .stage_infos();
        let mut pts: Vec<PointResult> = [2, 4, 6]
            .into_iter()
            .map(|k| {
                let mut p = leaky(k, 0.3, [-0.02, 0.01], 0.1);
                p.trusted_ms = k as f64;
                p.untrusted_ms = if k == 2 { 20.0 } else { 1.0 };
                p.enclave = Some(
                    enclave_cost(
                        &EnclaveConfig::default(),
                        &stages,
                        [1, 28, 28],
                        k,
                        p.trusted_ms,
                    )
                    .expect("cost"),
                );
                p
            })
            .collect();
        assert_eq!(recommend(&pts, &cfg).expect("ok").map(|r| r.k), Some(2));
        cfg.rule.objective = Objective::CheapestSafe;
        // k=2: 1.72 x 2 + 20 ms; k=4: 1.72 x 4 + 1 ms (< 23.4); k=6: 1.72 x 6 + 1 ms.
        let r = recommend(&pts, &cfg).expect("ok").expect("safe");
        assert_eq!(r.k, 4);
        assert!(r.enclave.expect("enclave").estimated_ms > 1.72 * 4.0);
        pts.retain(|p| p.k != 4);
        assert_eq!(recommend(&pts, &cfg).expect("ok").map(|r| r.k), Some(6));
    }
}
