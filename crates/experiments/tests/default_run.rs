//! The embedded default experiment's collateral step at a small size shows the phenomenon the full default
//! run reports (docs/RESULTS.md §1e): an undefended `output(x)` that leaks the font far above chance, a
//! guarded defence that brings the best attacker close to chance at a small main-task cost, and no alpha
//! that diverges. Needs the authors' packaged fonts (`bash scripts/install-deps.sh`); skipped without them
//! outside CI.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use privsplit_data::font_packages::PACKAGE_FONTS;
use privsplit_data::installed::installed_or_skip;
use privsplit_experiments::collateral::run_collateral_seeds;
use privsplit_experiments::run::{RunConfig, DEFAULT_CONFIG};

#[test]
fn default_config_leaks_undefended_and_defends_without_diverging() {
    let paths: Vec<&Path> = PACKAGE_FONTS.iter().map(|f| Path::new(f.path)).collect();
    if !installed_or_skip("the authors' packaged fonts", &paths) {
        return;
    }
    let sets: Vec<String> = [
        "fonts.train=3000",
        "fonts.test=600",
        "collateral.alphas=[0, 1.5]",
        "collateral.attackers=['mlp', 'knn', 'random_forest']",
    ]
    .map(String::from)
    .to_vec();
    let cfg = RunConfig::from_toml(DEFAULT_CONFIG, "default", &sets).unwrap();
    let t = std::time::Instant::now();
    let data = privsplit_data::fonts::generate(&cfg.fonts).unwrap();
    let runs =
        run_collateral_seeds(&cfg.collateral, &data, cfg.fonts.input_scaling, &mut |_| {}).unwrap();
    let chance = runs.runs[0].chance;
    for s in &runs.summary {
        eprintln!(
            "alpha {} main {:.3} worst {:?} diverged {} events {}",
            s.alpha, s.main_accuracy.mean, s.worst_collateral, s.diverged, s.divergence_events
        );
    }
    eprintln!("chance {chance:.3}, {:.1} s", t.elapsed().as_secs_f64());
    let (plain, defended) = (&runs.summary[0], &runs.summary[1]);
    assert_eq!(
        plain.diverged + defended.diverged,
        0,
        "no alpha may diverge"
    );
    let leak = plain.worst_collateral.unwrap();
    let leak_defended = defended.worst_collateral.unwrap();
    assert!(
        plain.main_accuracy.mean >= 0.88,
        "undefended main task {:?}",
        plain.main_accuracy
    );
    assert!(
        leak >= chance + 0.20,
        "undefended best leak {leak} vs chance {chance}"
    );
    assert!(
        leak_defended <= chance + 0.15 && leak_defended <= leak - 0.15,
        "defended best leak {leak_defended} vs undefended {leak}, chance {chance}"
    );
    let cost = plain.main_accuracy.mean - defended.main_accuracy.mean;
    assert!(cost <= 0.05, "main-task cost {cost}");
}
