//! Joining sweeps of disjoint partition-point subsets (run on different machines) into one report.

use super::rule::assess;
use super::{SweepConfig, SweepReport};
use crate::{Error, Result};

/// Joins reports of disjoint subsets of partition points of the same sweep (same configuration apart from
/// `points`) into one, recomputing the recommendation.
///
/// # Errors
/// [`Error::Invalid`] when there are no reports, the configurations differ, or a partition point appears
/// twice.
pub fn merge_reports(reports: Vec<SweepReport>) -> Result<SweepReport> {
    let mut it = reports.into_iter();
    let Some(mut merged) = it.next() else {
        return Err(Error::invalid("reports to merge", "at least one", "none"));
    };
    let norm = |c: &SweepConfig| {
        let mut c = c.clone();
        c.points = None;
        c
    };
    let base = norm(&merged.config);
    for r in it {
        if norm(&r.config) != base || r.num_stages != merged.num_stages {
            return Err(Error::invalid(
                "report to merge",
                "the same sweep configuration (apart from the partition points)",
                format!(
                    "a report of {:?} with {} stages",
                    r.config.arch, r.num_stages
                ),
            ));
        }
        for p in r.points {
            if merged.points.iter().any(|q| q.k == p.k) {
                return Err(Error::invalid(
                    "reports to merge",
                    "disjoint partition points",
                    format!("k={} in two reports", p.k),
                ));
            }
            merged.points.push(p);
        }
        merged.seconds += r.seconds;
        merged.train_seconds = merged.train_seconds.max(r.train_seconds);
        merged.model_accuracy = merged.model_accuracy.or(r.model_accuracy);
        merged.test_accuracy = merged.test_accuracy.or(r.test_accuracy);
        merged.baseline = merged.baseline.or(r.baseline);
        if merged.priors.is_empty() {
            merged.priors = r.priors;
        }
    }
    merged.points.sort_by_key(|p| p.k);
    let ks: Vec<usize> = merged.points.iter().map(|p| p.k).collect();
    merged.config.points = Some(ks);
    let a = assess(&merged.points, merged.num_stages, &merged.config)?;
    merged.recommendation = a.recommendation;
    merged.verdicts = a.verdicts;
    merged.floor = Some(a.floor);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::tests::{leaky_point, point, report_of};
    use privsplit_attacks::ReconstructionAttack::Cgan;

    #[test]
    fn merge_joins_disjoint_subsets_and_rejects_overlaps() {
        let mut cfg = SweepConfig::tiny();
        let report = |ks: &[usize], cfg: &SweepConfig| {
            let pts = ks
                .iter()
                .map(|&k| point(k, &[(Cgan, 1.0 - k as f64 / 6.0)]))
                .collect();
            report_of(pts, cfg)
        };
        let m = merge_reports(vec![report(&[4, 5], &cfg), report(&[0, 2], &cfg)]).expect("merge");
        assert_eq!(
            m.points.iter().map(|p| p.k).collect::<Vec<_>>(),
            [0, 2, 4, 5]
        );
        assert_eq!(m.recommendation.map(|r| r.k), Some(5)); // 1 - 5/6 = 0.167 < 0.3; k=4: 0.333
        assert!(merge_reports(vec![report(&[1], &cfg), report(&[1], &cfg)]).is_err());
        let a = report(&[1], &cfg);
        cfg.ssim_threshold = 0.5;
        assert!(merge_reports(vec![a, report(&[2], &cfg)]).is_err());
        assert!(merge_reports(Vec::new()).is_err());
    }

    /// The merged report applies the leakage rule: a point whose gain interval lies above the margin is
    /// unsafe even with a low SSIM; the point at the label prior is recommended, with its interval.
    #[test]
    fn merge_recomputes_the_recommendation_with_the_leakage_rule() {
        let cfg = SweepConfig::tiny();
        let shard = |k: usize, ssim: f64, ci: [f64; 2]| {
            report_of(vec![leaky_point(k, ssim, ci, None)], &cfg)
        };
        let m = merge_reports(vec![
            shard(6, 0.37, [-0.03, 0.01]),
            shard(3, 0.2, [0.06, 0.12]),
            shard(4, 0.36, [-0.01, 0.03]),
        ])
        .expect("merge");
        let r = m.recommendation.expect("a safe point");
        assert_eq!(r.k, 4);
        assert_eq!(r.leakage.expect("leakage").gain_ci95, [-0.01, 0.03]);
        assert_eq!(
            m.verdicts.iter().map(|v| (v.k, v.safe)).collect::<Vec<_>>(),
            [(3, false), (4, true), (6, true)]
        );
    }
}
