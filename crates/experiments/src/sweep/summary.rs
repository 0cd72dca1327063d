//! The sweep's recommendation in words: the rule, the recommended partition point with its confidence and
//! cost, and, under the label reference, what the output itself leaks (docs/SWEEP.md, "The rule").

use super::rule::{assess, Objective, Reference, SafetyRule};
use super::{Recommendation, SweepReport};

/// The rule in words.
fn rule_text(r: &SweepReport) -> String {
    match r.config.rule.rule {
        SafetyRule::Leakage => {
            let (what, gain, id) = match &r.floor {
                Some(f) if f.from_output => ("the output's (k = n)", f.gain, f.identification),
                _ => (
                    "the label's",
                    0.0,
                    1.0 / r.config.rule.candidates.max(1) as f64,
                ),
            };
            format!(
                "leakage rule: every attack's SSIM gain over the strongest prior-only baseline has a 95 % CI \
                 upper bound <= {gain:.3} + margin {:.3}, and its identification among {} same-class candidates \
                 is not above {:.1} % with 95 % confidence ({what} leakage)",
                r.config.rule.margin,
                r.config.rule.candidates,
                id * 100.0
            )
        }
        SafetyRule::Threshold => format!(
            "threshold rule: every attack's mean SSIM < {:.2}",
            r.config.ssim_threshold
        ),
    }
}

/// The confidence and cost of a recommendation in words.
fn recommendation_text(rec: &Recommendation) -> String {
    let mut t = format!(
        "best attack {} SSIM {:.3}",
        rec.best_attack.name(),
        rec.best_ssim
    );
    if let (Some(a), Some(l)) = (rec.leakiest_attack, &rec.leakage) {
        t.push_str(&format!(
            "; largest SSIM gain over the {} ({}): {:+.3} (95 % CI {:+.3}..{:+.3})",
            l.prior.name(),
            a.name(),
            l.gain,
            l.gain_ci95[0],
            l.gain_ci95[1]
        ));
        if let Some(i) = &l.identification {
            t.push_str(&format!(
                ", identification {:.1} % (95 % CI {:.1}..{:.1} %, chance {:.1} %)",
                i.top1 * 100.0,
                i.ci95[0] * 100.0,
                i.ci95[1] * 100.0,
                i.chance * 100.0
            ));
        }
    }
    t.push_str(&format!(
        "; feature map {:?} ({} bytes/image); trusted partition {:.2} MFLOP, {} parameter bytes, {:.3} ms/image \
         measured on this CPU",
        rec.feature_shape,
        rec.feature_bytes,
        rec.trusted_flops as f64 / 1e6,
        rec.trusted_param_bytes,
        rec.trusted_ms
    ));
    if let Some(e) = &rec.enclave {
        let fit = match e.usable_bytes {
            Some(u) if e.fits() => format!("fits the {:.0} MiB usable EPC", u as f64 / 1_048_576.0),
            Some(u) => format!(
                "exceeds the {:.0} MiB usable EPC by {} bytes (paging)",
                u as f64 / 1_048_576.0,
                e.paged_bytes
            ),
            None => "no EPC limit".into(),
        };
        t.push_str(&format!(
            ", {:.3} ms/image estimated in {} (peak {:.2} MiB, {fit}); untrusted partition {:.3} ms/image on this CPU",
            e.estimated_ms,
            e.tee,
            e.peak_bytes as f64 / 1_048_576.0,
            rec.untrusted_ms
        ));
    }
    t
}

/// One-paragraph summary of the recommendation.
pub fn summary(r: &SweepReport) -> String {
    let seeds = r.repeats.as_ref().map_or_else(String::new, |s| {
        format!(", safe under every seed of {:?}", s.seeds)
    });
    let objective = match r.config.rule.objective {
        Objective::EarliestSafe => "earliest safe",
        Objective::CheapestSafe => "cheapest safe",
    };
    let untrained = r
        .config
        .weights
        .as_ref()
        .filter(|w| w.is_untrained())
        .map_or_else(String::new, |w| format!("{} model: ", w.label()));
    let label_only = r
        .recommendation
        .as_ref()
        .is_some_and(|rec| r.verdicts.iter().any(|v| v.k == rec.k && v.label_only));
    untrained
        + &match &r.recommendation {
        Some(rec) if label_only => format!(
            "recommended partition point k={} = n: NO SPLIT, the whole model in the enclave, releasing only the \
             predicted label ({objective} point{seeds}; {}): no earlier point is safe; {}{}",
            rec.k,
            rule_text(r),
            recommendation_text(rec),
            output_alternative(r)
        ),
        Some(rec) => format!(
            "recommended partition point k={} (after {}; {objective} point{seeds}; {}): {}",
            rec.k,
            rec.stage,
            rule_text(r),
            recommendation_text(rec)
        ),
        None => format!(
            "no evaluated partition point is safe under the {}{}: keep the whole model trusted (or evaluate \
             later points){}",
            rule_text(r),
            r.repeats.as_ref().map_or_else(String::new, |s| format!(
                " (a point must be safe under every seed of {:?})",
                s.seeds
            )),
            output_alternative(r)
        ),
    }
}

/// When the label reference finds no safe point: whether the output (`k = n`) itself leaks beyond the label
/// (then no split can pass, because the untrusted partition computes the output at every `k`), and what the
/// output reference recommends on the same measurements. Empty otherwise, and for repeated seeds (each
/// seed's own report says it).
fn output_alternative(r: &SweepReport) -> String {
    if r.config.rule.rule != SafetyRule::Leakage
        || r.config.rule.reference != Reference::Label
        || r.repeats.is_some()
    {
        return String::new();
    }
    let Some(last) = r
        .verdicts
        .iter()
        .find(|v| v.k == r.num_stages && (v.label_only || !v.safe))
    else {
        return String::new();
    };
    let mut cfg = r.config.clone();
    cfg.rule.reference = Reference::Output;
    let alt = match assess(&r.points, r.num_stages, &cfg) {
        Ok(a) => match a.recommendation {
            Some(rec) => format!(
                "--reference output (no more than the output leaks) recommends k={} (after {}): {}",
                rec.k,
                rec.stage,
                recommendation_text(&rec)
            ),
            None => "--reference output finds no safe point either".into(),
        },
        Err(_) => return String::new(),
    };
    format!(
        ". The output itself (k = {}) leaks beyond the label ({}); the untrusted partition computes it at \
         every k < n, so no split can pass the label reference: release only the label from the enclave, or \
         accept the output's leakage: {alt}",
        last.k,
        last.reasons
            .iter()
            .filter(|x| !x.starts_with("safe only as no split"))
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::tests::{leaky_point, report_of};
    use crate::sweep::SweepConfig;

    /// Under the label reference, a sweep whose output (k = n) identifies the input above chance has no safe
    /// split: it recommends k = n as "no split, release only the label", says that the output itself leaks
    /// and what the output reference recommends on the same measurements. Without k = n among the points it
    /// finds no safe point and adds nothing.
    #[test]
    fn no_safe_split_under_the_label_recommends_no_split_and_names_the_output_leak() {
        let cfg = SweepConfig::tiny();
        let pts = vec![
            leaky_point(3, 0.5, [0.10, 0.16], Some(0.6)),
            leaky_point(4, 0.38, [0.0, 0.04], Some(0.25)),
            leaky_point(6, 0.37, [0.0, 0.04], Some(0.3)),
        ];
        let r = report_of(pts.clone(), &cfg);
        assert_eq!(r.recommendation.as_ref().map(|x| x.k), Some(6));
        let v6 = r.verdicts.iter().find(|v| v.k == 6).expect("k = 6");
        assert!(v6.safe && v6.label_only, "{v6:?}");
        assert!(r
            .verdicts
            .iter()
            .filter(|v| v.k != 6)
            .all(|v| !v.safe && !v.label_only));
        let s = summary(&r);
        assert!(
            s.starts_with("recommended partition point k=6 = n: NO SPLIT"),
            "{s}"
        );
        assert!(
            s.contains("The output itself (k = 6) leaks beyond the label (c-GAN: identifies"),
            "{s}"
        );
        assert!(
            s.contains("--reference output (no more than the output leaks) recommends k=4"),
            "{s}"
        );
        let partial = summary(&report_of(pts[..2].to_vec(), &cfg));
        assert!(
            partial.starts_with("no evaluated partition point is safe")
                && !partial.contains("output"),
            "{partial}"
        );
    }
}
