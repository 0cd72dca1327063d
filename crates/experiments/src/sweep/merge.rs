//! Joining sweeps of disjoint partition-point subsets (run on different machines) into one report.

use super::{recommend, SweepConfig, SweepReport};
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
    }
    merged.points.sort_by_key(|p| p.k);
    let ks: Vec<usize> = merged.points.iter().map(|p| p.k).collect();
    merged.config.points = Some(ks);
    merged.recommendation = recommend(&merged.points, merged.config.ssim_threshold)?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::tests::point;
    use privsplit_attacks::ReconstructionAttack::Cgan;

    #[test]
    fn merge_joins_disjoint_subsets_and_rejects_overlaps() {
        let mut cfg = SweepConfig::tiny();
        let report = |ks: &[usize], cfg: &SweepConfig| SweepReport {
            config: SweepConfig {
                points: Some(ks.to_vec()),
                ..cfg.clone()
            },
            num_stages: 6,
            stage_names: Vec::new(),
            model_accuracy: Some(0.9),
            test_accuracy: None,
            baseline: None,
            points: ks
                .iter()
                .map(|&k| point(k, &[(Cgan, 1.0 - k as f64 / 6.0)]))
                .collect(),
            recommendation: None,
            image_shape: [1, 28, 28],
            originals: Vec::new(),
            seconds: 1.0,
            train_seconds: 0.0,
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
}
