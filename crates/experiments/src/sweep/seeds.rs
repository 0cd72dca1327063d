//! Repeated sweeps (`privsplit sweep --seeds 0,1,2`): the same sweep with every seed derived from each
//! given seed ([`SweepConfig::with_seed`]), summarised per partition point and attack as mean +- sample
//! standard deviation over the seeds. A point counts as safe only when the rule calls it safe under **every**
//! seed; the recommendation is then chosen among those points by the objective.

use privsplit_attacks::metrics::mean_std;
use privsplit_attacks::ReconstructionAttack;
use serde::{Deserialize, Serialize};

use super::rule::recommend_among;
use super::{SweepConfig, SweepReport, Verdict};
use crate::{Error, Result};

/// Mean and sample standard deviation (divisor `n - 1`) of one metric over the seeds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one seed).
    pub std: f64,
}

impl MeanStd {
    fn of(values: &[f64]) -> Self {
        let (mean, std) = mean_std(values);
        Self { mean, std }
    }

    /// `None` unless every seed has the value.
    fn of_all(values: &[Option<f64>]) -> Option<Self> {
        let v: Option<Vec<f64>> = values.iter().copied().collect();
        v.filter(|v| !v.is_empty()).map(|v| Self::of(&v))
    }
}

/// One partition point and attack over the seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepeatRow {
    /// Partition point.
    pub k: usize,
    /// Attack.
    pub attack: ReconstructionAttack,
    /// Mean SSIM.
    pub ssim: MeanStd,
    /// Mean PSNR (dB).
    pub psnr: MeanStd,
    /// SSIM gain over the strongest prior-only baseline.
    pub gain: Option<MeanStd>,
    /// Upper bound of the gain's 95 % interval (what the rule compares with the margin).
    pub gain_ci_upper: Option<MeanStd>,
    /// Identification top-1 accuracy.
    pub identification: Option<MeanStd>,
    /// Measured trusted-partition latency (ms per image, this CPU).
    pub trusted_ms: MeanStd,
    /// Estimated trusted-partition latency in the TEE (ms per image).
    pub estimated_trusted_ms: Option<MeanStd>,
    /// Measured untrusted-partition latency (ms per image, this CPU).
    pub untrusted_ms: MeanStd,
}

/// The summary of repeated sweeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepeatSummary {
    /// The seeds, in run order.
    pub seeds: Vec<u64>,
    /// Each seed's own recommendation (`None`: no safe point).
    pub recommended: Vec<Option<usize>>,
    /// The points safe under every seed.
    pub safe_in_every_seed: Vec<usize>,
    /// One row per point and attack.
    pub rows: Vec<RepeatRow>,
}

/// Joins the reports of the same sweep run with different seeds (`seeds[i]` produced `reports[i]`) into
/// the first report with [`SweepReport::repeats`] filled in, the verdicts and the recommendation taken over
/// every seed (see the module docs).
///
/// # Errors
/// [`Error::Invalid`] when there are no reports, the counts differ, or the reports do not cover the same
/// points and attacks.
pub fn combine_seeds(reports: Vec<SweepReport>, seeds: &[u64]) -> Result<SweepReport> {
    if reports.is_empty() || reports.len() != seeds.len() {
        return Err(Error::invalid(
            "repeated sweeps",
            "one report per seed, at least one",
            format!("{} reports for {} seeds", reports.len(), seeds.len()),
        ));
    }
    let layout = |r: &SweepReport| -> Vec<(usize, Vec<ReconstructionAttack>)> {
        r.points
            .iter()
            .map(|p| (p.k, p.attacks.iter().map(|a| a.attack).collect()))
            .collect()
    };
    let first = layout(&reports[0]);
    if let Some((i, _)) = reports.iter().enumerate().find(|(_, r)| layout(r) != first) {
        return Err(Error::invalid(
            "repeated sweeps",
            "the same partition points and attacks under every seed",
            format!("seed {} differs from seed {}", seeds[i], seeds[0]),
        ));
    }
    let mut rows = Vec::new();
    for (pi, (k, attacks)) in first.iter().enumerate() {
        for (ai, &attack) in attacks.iter().enumerate() {
            let get = |f: &dyn Fn(&SweepReport) -> Option<f64>| -> Vec<Option<f64>> {
                reports.iter().map(f).collect()
            };
            let score = |f: fn(&super::AttackScore) -> Option<f64>| {
                MeanStd::of_all(&get(&|r| f(&r.points[pi].attacks[ai])))
            };
            let point = |f: fn(&super::PointResult) -> Option<f64>| {
                MeanStd::of_all(&get(&|r| f(&r.points[pi])))
            };
            let nan = MeanStd {
                mean: f64::NAN,
                std: 0.0,
            };
            rows.push(RepeatRow {
                k: *k,
                attack,
                ssim: score(|a| Some(a.ssim)).unwrap_or(nan),
                psnr: score(|a| Some(a.psnr)).unwrap_or(nan),
                gain: score(|a| a.leakage.as_ref().map(|l| l.gain)),
                gain_ci_upper: score(|a| a.leakage.as_ref().map(|l| l.gain_ci95[1])),
                identification: score(|a| {
                    a.leakage
                        .as_ref()
                        .and_then(|l| l.identification.as_ref())
                        .map(|i| i.top1)
                }),
                trusted_ms: point(|p| Some(p.trusted_ms)).unwrap_or(nan),
                estimated_trusted_ms: point(|p| p.enclave.as_ref().map(|e| e.estimated_ms)),
                untrusted_ms: point(|p| Some(p.untrusted_ms)).unwrap_or(nan),
            });
        }
    }
    let safe_in_every_seed: Vec<usize> = first
        .iter()
        .enumerate()
        .filter(|(pi, _)| {
            reports
                .iter()
                .all(|r| r.verdicts.get(*pi).is_some_and(|v| v.safe))
        })
        .map(|(_, (k, _))| *k)
        .collect();
    let recommended = reports
        .iter()
        .map(|r| r.recommendation.as_ref().map(|x| x.k))
        .collect();
    let mut out = reports[0].clone();
    out.verdicts = all_seed_verdicts(&reports, seeds, &safe_in_every_seed);
    let cfg: &SweepConfig = &out.config;
    out.recommendation = recommend_among(&out.points, cfg, |p| safe_in_every_seed.contains(&p.k));
    out.seconds = reports.iter().map(|r| r.seconds).sum();
    out.train_seconds = reports.iter().map(|r| r.train_seconds).sum();
    out.repeats = Some(RepeatSummary {
        seeds: seeds.to_vec(),
        recommended,
        safe_in_every_seed,
        rows,
    });
    Ok(out)
}

/// Per point: safe under every seed; the reasons of each seed, prefixed with the seed.
fn all_seed_verdicts(reports: &[SweepReport], seeds: &[u64], safe: &[usize]) -> Vec<Verdict> {
    reports[0]
        .points
        .iter()
        .enumerate()
        .map(|(pi, p)| Verdict {
            k: p.k,
            safe: safe.contains(&p.k),
            reasons: reports
                .iter()
                .zip(seeds)
                .flat_map(|(r, s)| {
                    r.verdicts
                        .get(pi)
                        .map(|v| v.reasons.clone())
                        .unwrap_or_default()
                        .into_iter()
                        .map(move |x| format!("seed {s}: {x}"))
                })
                .collect(),
            label_only: reports
                .iter()
                .any(|r| r.verdicts.get(pi).is_some_and(|v| v.label_only)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::tests::{leaky_point, report_of};

    /// A one-attack report whose points `(k, SSIM, gain CI upper bound)` have a gain interval of width 0.04.
    fn report(points: &[(usize, f64, f64)]) -> SweepReport {
        let pts = points
            .iter()
            .map(|&(k, ssim, hi)| leaky_point(k, ssim, [hi - 0.04, hi], None))
            .collect();
        report_of(pts, &SweepConfig::tiny())
    }

    #[test]
    fn seeds_are_summarised_as_mean_and_std_and_safety_needs_every_seed() {
        // Seed 0 calls k=4 safe (upper bound 0.04), seed 1 does not (0.07); both call k=6 safe.
        let a = report(&[(4, 0.40, 0.04), (6, 0.30, 0.01)]);
        let b = report(&[(4, 0.44, 0.07), (6, 0.34, 0.03)]);
        assert_eq!(a.recommendation.as_ref().map(|r| r.k), Some(4));
        assert_eq!(b.recommendation.as_ref().map(|r| r.k), Some(6));
        let c = combine_seeds(vec![a, b], &[0, 1]).expect("combine");
        let s = c.repeats.as_ref().expect("summary");
        assert_eq!(s.recommended, [Some(4), Some(6)]);
        assert_eq!(s.safe_in_every_seed, [6]);
        assert_eq!(c.recommendation.as_ref().map(|r| r.k), Some(6));
        let row = &s.rows[0];
        assert!((row.ssim.mean - 0.42).abs() < 1e-12);
        // Sample std of {0.40, 0.44}: 0.02 sqrt(2).
        assert!((row.ssim.std - 0.02 * 2f64.sqrt()).abs() < 1e-12, "{row:?}");
        assert!((row.gain_ci_upper.expect("gain").mean - 0.055).abs() < 1e-12);
        assert!(!c.verdicts[0].safe && c.verdicts[0].reasons[0].starts_with("seed 1:"));
        let other = report(&[(4, 0.4, 0.04)]);
        assert!(combine_seeds(
            vec![report(&[(4, 0.4, 0.04), (6, 0.3, 0.01)]), other],
            &[0, 1]
        )
        .is_err());
        assert!(combine_seeds(Vec::new(), &[]).is_err());
    }
}
