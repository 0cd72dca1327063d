//! When is a partition point safe, and which safe point to recommend (docs/SWEEP.md, "The rule").
//!
//! [`SafetyRule::Leakage`] (default): a point is safe when, for **every** attack,
//! 1. the upper bound of the 95 % bootstrap interval of its SSIM gain over the strongest prior-only
//!    baseline is at most `floor.gain + margin` ([`RuleConfig::margin`], default [`DEFAULT_MARGIN`] = 0.05
//!    SSIM), and
//! 2. its identification top-1 accuracy is not above the floor with 95 % confidence: the Wilson interval's
//!    lower bound is at most `floor.identification`.
//!
//! The [`LeakageFloor`] is what the host is assumed to learn anyway. With [`Reference::Label`] (default,
//! the rule of issue 12) it is the predicted label: gain 0 (the gain is already measured over the strongest
//! label-only guess), identification at chance `1 / N`. With [`Reference::Output`] it is the model's
//! **output**, which the untrusted partition computes itself at every `k < n` and sees at `k = n`: the
//! largest gain (point estimate, at least 0) and the largest identification rate (at least chance) of the
//! attacks at `k = n`; no partition point can leak less than the output, so that rule asks each point to
//! leak no more than it. Without `k = n` among the evaluated points the floor falls back to the label, and
//! says so. docs/SWEEP.md gives the measurements on both (the logits of the Fashion-MNIST CNN already
//! identify the input above chance, so under the label reference no split of it is safe).
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

/// Default Adam steps of the label decoder (enough to reach the class means' SSIM on Fashion-MNIST;
/// docs/SWEEP.md).
pub const DEFAULT_LABEL_DECODER_STEPS: usize = 400;

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

/// What the host is assumed to learn anyway (the floor of the leakage rule).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Reference {
    /// Only the predicted label: the prior-only baselines and chance (issue 12's rule; default).
    #[default]
    Label,
    /// The model's output (logits), which the untrusted partition computes at every point.
    Output,
}

/// The leakage the host has anyway, against which each point is judged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeakageFloor {
    /// SSIM gain over the strongest prior-only baseline that is not held against a point.
    pub gain: f64,
    /// Identification top-1 accuracy that is not held against a point (at least chance).
    pub identification: f64,
    /// Whether the floor is the output's leakage at `k = n` (else the label's: 0 and chance).
    pub from_output: bool,
}

/// Settings of the rule and of the leakage statistics it reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleConfig {
    /// The rule.
    pub rule: SafetyRule,
    /// Which safe point to recommend.
    pub objective: Objective,
    /// What the host learns anyway (the floor of the leakage rule).
    pub reference: Reference,
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
    /// Adam steps of the label decoder on the class means (>= 1; see
    /// [`super::leakage::PriorKind::LabelDecoder`]).
    pub label_decoder_steps: usize,
}

impl Default for RuleConfig {
    fn default() -> Self {
        Self {
            rule: SafetyRule::Leakage,
            objective: Objective::EarliestSafe,
            reference: Reference::Label,
            margin: DEFAULT_MARGIN,
            candidates: 10,
            distractor_images: 500,
            bootstrap_resamples: 1000,
            seed: 0,
            label_decoder_steps: DEFAULT_LABEL_DECODER_STEPS,
        }
    }
}

impl RuleConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the setting: a margin outside `[0, 1]`, fewer than 2 candidates, no label
    /// decoder steps, fewer than 100 bootstrap resamples.
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
        if self.label_decoder_steps == 0 {
            return Err(Error::invalid("label decoder steps", ">= 1", "0"));
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
    /// `k = n` under the label reference whose output leaks beyond the label: safe only as "no split", the
    /// whole model in the enclave releasing nothing but the predicted label ([`assess`]).
    #[serde(default)]
    pub label_only: bool,
}

/// The floor of the leakage rule for `points` of a model with `num_stages` stages (see the module docs).
pub fn leakage_floor(points: &[PointResult], num_stages: usize, cfg: &SweepConfig) -> LeakageFloor {
    let chance = 1.0 / cfg.rule.candidates.max(1) as f64;
    let last = points
        .iter()
        .find(|p| p.k == num_stages)
        .filter(|_| cfg.rule.reference == Reference::Output);
    let leaks: Vec<&Leakage> = last
        .map(|p| {
            p.attacks
                .iter()
                .filter_map(|a| a.leakage.as_ref())
                .collect()
        })
        .unwrap_or_default();
    if leaks.is_empty() {
        return LeakageFloor {
            gain: 0.0,
            identification: chance,
            from_output: false,
        };
    }
    LeakageFloor {
        gain: leaks.iter().map(|l| l.gain).fold(0.0, f64::max),
        identification: leaks
            .iter()
            .filter_map(|l| l.identification.as_ref().map(|i| i.top1))
            .fold(chance, f64::max),
        from_output: true,
    }
}

/// The rule of `cfg` applied to one point against `floor` (see the module docs).
pub fn verdict(p: &PointResult, floor: &LeakageFloor, cfg: &SweepConfig) -> Verdict {
    let what = if floor.from_output {
        "the output's identification"
    } else {
        "chance"
    };
    let mut reasons = Vec::new();
    let mut safe = !p.attacks.is_empty();
    for a in &p.attacks {
        let name = a.attack.name();
        match (&cfg.rule.rule, &a.leakage) {
            (SafetyRule::Leakage, Some(l)) => {
                if l.gain_ci95[1] > floor.gain + cfg.rule.margin {
                    safe = false;
                    reasons.push(format!(
                        "{name}: SSIM gain over the {} {:+.3} (95 % CI {:+.3}..{:+.3}) may exceed the floor \
                         {:+.3} + margin {:.3}",
                        l.prior.name(),
                        l.gain,
                        l.gain_ci95[0],
                        l.gain_ci95[1],
                        floor.gain,
                        cfg.rule.margin
                    ));
                }
                let limit = floor
                    .identification
                    .max(1.0 / cfg.rule.candidates.max(1) as f64);
                if let Some(id) = l.identification.as_ref().filter(|id| id.ci95[0] > limit) {
                    safe = false;
                    reasons.push(format!(
                        "{name}: identifies the input among {} candidates {:.1} % of the time (95 % CI \
                         {:.1}..{:.1} %), above {what} {:.1} %",
                        id.candidates,
                        id.top1 * 100.0,
                        id.ci95[0] * 100.0,
                        id.ci95[1] * 100.0,
                        limit * 100.0
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
        label_only: false,
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

/// The rule applied to every point of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// The floor the points were judged against.
    pub floor: LeakageFloor,
    /// One verdict per point, in the order of the points.
    pub verdicts: Vec<Verdict>,
    /// The recommended point, `None` when no point is safe.
    pub recommendation: Option<Recommendation>,
}

/// The rule and objective of `cfg` applied to `points` of a model with `num_stages` stages.
///
/// # Errors
/// [`Error::Invalid`] when the threshold or the rule settings are out of range.
pub fn assess(points: &[PointResult], num_stages: usize, cfg: &SweepConfig) -> Result<Assessment> {
    if !(0.0..=1.0).contains(&cfg.ssim_threshold) {
        return Err(Error::invalid(
            "SSIM threshold",
            "a value in [0, 1]",
            cfg.ssim_threshold.to_string(),
        ));
    }
    cfg.rule.validate()?;
    let floor = leakage_floor(points, num_stages, cfg);
    let mut verdicts: Vec<Verdict> = points.iter().map(|p| verdict(p, &floor, cfg)).collect();
    // Under the label reference, `k = n` keeps the whole model in the enclave: the host sees nothing unless the
    // enclave releases it, so "no split, release only the predicted label" is always a safe deployment, and
    // the recommendation when no earlier point passes. The output's own leak stays in the reasons.
    if cfg.rule.rule == SafetyRule::Leakage && cfg.rule.reference == Reference::Label {
        if let Some(v) = verdicts
            .iter_mut()
            .find(|v| v.k == num_stages && !v.safe && !v.reasons.is_empty())
        {
            v.safe = true;
            v.label_only = true;
            v.reasons.insert(
                0,
                "safe only as no split: the whole model stays in the enclave, which must release only the \
                 predicted label (argmax inside the trusted partition), because its output leaks beyond the label"
                    .into(),
            );
        }
    }
    let recommendation = recommend_among(points, cfg, |p| {
        verdicts.iter().any(|v| v.k == p.k && v.safe)
    });
    Ok(Assessment {
        floor,
        verdicts,
        recommendation,
    })
}

/// The recommended partition point under `cfg`'s rule and objective, `None` when no point is safe.
///
/// # Errors
/// As [`assess`].
pub fn recommend(
    points: &[PointResult],
    num_stages: usize,
    cfg: &SweepConfig,
) -> Result<Option<Recommendation>> {
    Ok(assess(points, num_stages, cfg)?.recommendation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::enclave::{enclave_cost, EnclaveConfig};
    use crate::sweep::tests::{leaky_point, point};
    use ReconstructionAttack::*;

    /// The label's floor: gain 0, identification at chance (N = 10).
    const LABEL: LeakageFloor = LeakageFloor {
        gain: 0.0,
        identification: 0.1,
        from_output: false,
    };

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
        let r = recommend(&pts, 6, &threshold_cfg(0.3))
            .expect("ok")
            .expect("some point");
        assert_eq!((r.k, r.best_attack), (3, Rmle));
        assert!((r.best_ssim - 0.25).abs() < 1e-12);
        assert_eq!(r.trusted_flops, 30);
        assert_eq!(
            recommend(&pts, 6, &threshold_cfg(0.32))
                .expect("ok")
                .map(|r| r.k),
            Some(2)
        );
        assert!(recommend(&pts, 6, &threshold_cfg(0.05))
            .expect("ok")
            .is_none());
        // A point whose score equals the threshold is not below it.
        assert_eq!(
            recommend(&pts, 6, &threshold_cfg(0.25))
                .expect("ok")
                .map(|r| r.k),
            Some(4)
        );
        assert!(recommend(&pts, 6, &threshold_cfg(1.5)).is_err());
        assert!(recommend(&pts, 6, &threshold_cfg(-0.1)).is_err());
    }

    /// A c-GAN point with gain interval `ci` and identification `top1` (100 trials, N = 10).
    fn leaky(k: usize, ssim: f64, ci: [f64; 2], top1: f64) -> PointResult {
        leaky_point(k, ssim, ci, Some(top1))
    }

    #[test]
    fn leakage_rule_calls_a_point_at_the_label_prior_safe_and_one_above_the_margin_unsafe() {
        let cfg = SweepConfig::tiny();
        assert_eq!(cfg.rule.rule, SafetyRule::Leakage);
        // Gain CI entirely above the margin: unsafe, although the SSIM (0.29) is below the old threshold.
        let above = leaky(2, 0.29, [0.08, 0.14], 0.1);
        let v = verdict(&above, &LABEL, &cfg);
        assert!(!v.safe && v.reasons[0].contains("margin"), "{v:?}");
        // Upper bound just above the margin: still unsafe (the rule asks for confidence of safety).
        assert!(!verdict(&leaky(3, 0.3, [-0.01, 0.06], 0.1), &LABEL, &cfg).safe);
        // At the label prior (gain CI around 0), identification at chance: safe although SSIM 0.36 >= 0.3.
        let at_prior = leaky(5, 0.36, [-0.02, 0.02], 0.12);
        assert!(verdict(&at_prior, &LABEL, &cfg).safe);
        // The same gain but identification 30 % of 10 candidates (Wilson lower bound 0.22 > 0.1): unsafe.
        let v = verdict(&leaky(4, 0.36, [-0.02, 0.02], 0.3), &LABEL, &cfg);
        assert!(!v.safe && v.reasons[0].contains("identifies"), "{v:?}");
        let pts = vec![above, leaky(4, 0.36, [-0.02, 0.02], 0.3), at_prior];
        let r = recommend(&pts, 6, &cfg).expect("ok").expect("safe point");
        assert_eq!((r.k, r.leakiest_attack), (5, Some(Cgan)));
        assert_eq!(r.leakage.map(|l| l.gain_ci95), Some([-0.02, 0.02]));
        // Without leakage statistics an attack falls back to the threshold, and says so.
        let v = verdict(&point(6, &[(Rmle, 0.1)]), &LABEL, &cfg);
        assert!(v.safe && v.reasons[0].contains("threshold"), "{v:?}");
    }

    /// With the output as reference, a point that leaks no more than the logits at k = n is safe; with the
    /// label as reference, neither is (the logits themselves identify the input above chance).
    #[test]
    fn output_reference_holds_points_to_the_leakage_of_the_output() {
        let mut cfg = SweepConfig::tiny();
        assert_eq!(cfg.rule.reference, Reference::Label);
        cfg.rule.reference = Reference::Output;
        let pts = vec![
            leaky(3, 0.5, [0.10, 0.16], 0.6),
            leaky(4, 0.38, [0.0, 0.07], 0.25),
            leaky(6, 0.37, [0.0, 0.06], 0.3),
        ];
        let a = assess(&pts, 6, &cfg).expect("assess");
        assert!(a.floor.from_output);
        assert!(
            (a.floor.gain - 0.03).abs() < 1e-12 && (a.floor.identification - 0.3).abs() < 1e-12
        );
        assert_eq!(
            a.verdicts.iter().map(|v| v.safe).collect::<Vec<_>>(),
            [false, true, true]
        );
        assert_eq!(a.recommendation.map(|r| r.k), Some(4));
        // Without k = n among the points, the floor falls back to the label.
        assert!(
            !assess(&pts[..2], 6, &cfg)
                .expect("assess")
                .floor
                .from_output
        );
        cfg.rule.reference = Reference::Label;
        let a = assess(&pts, 6, &cfg).expect("assess");
        assert_eq!(a.floor, LABEL);
        // No split passes the label reference; k = n passes only as "no split, release only the label".
        assert_eq!(
            a.verdicts
                .iter()
                .map(|v| (v.safe, v.label_only))
                .collect::<Vec<_>>(),
            [(false, false), (false, false), (true, true)]
        );
        assert_eq!(a.recommendation.map(|r| r.k), Some(6));
        // Without k = n among the points nothing is safe.
        assert!(assess(&pts[..2], 6, &cfg)
            .expect("assess")
            .recommendation
            .is_none());
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
        assert_eq!(recommend(&pts, 6, &cfg).expect("ok").map(|r| r.k), Some(2));
        cfg.rule.objective = Objective::CheapestSafe;
        // k=2: 1.72 x 2 + 20 ms; k=4: 1.72 x 4 + 1 ms (< 23.4); k=6: 1.72 x 6 + 1 ms.
        let r = recommend(&pts, 6, &cfg).expect("ok").expect("safe");
        assert_eq!(r.k, 4);
        assert!(r.enclave.expect("enclave").estimated_ms > 1.72 * 4.0);
        pts.retain(|p| p.k != 4);
        assert_eq!(recommend(&pts, 6, &cfg).expect("ok").map(|r| r.k), Some(6));
    }
}
