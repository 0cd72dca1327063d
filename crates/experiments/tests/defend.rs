//! No path of the partition-point defence reports a diverged model as defended: a defence forced to
//! diverge (Adam at a learning rate of 50 wrecks the main task within the first check window) at the tiny
//! size is `diverged` in the result, the summary, `alphas.csv`, `report.md` and the trade-off plot's
//! series, whatever its leakage. Needs Fashion-MNIST (fails under CI=1 without it).
#![allow(clippy::unwrap_used)] // tests: a panic with the value is the failure report

use std::path::Path;

use privsplit_experiments::datasets::load_fashion_mnist;
use privsplit_experiments::defend::report::{summary, tradeoff_series};
use privsplit_experiments::defend::{run_into, DefenceKind, DefendConfig, Status};
use privsplit_models::train::OptimizerConfig;

#[test]
fn a_forced_divergence_is_reported_as_diverged_never_as_defended() {
    let data = Path::new(privsplit_data::fashion_mnist::DEBIAN_DIR);
    if !privsplit_data::installed_or_skip(
        "Fashion-MNIST",
        &[&data.join("train-images-idx3-ubyte.gz")],
    ) {
        return;
    }
    let split = load_fashion_mnist(data).unwrap();
    let mut cfg = DefendConfig::tiny();
    cfg.defences = vec![DefenceKind::Nopeek];
    cfg.alphas = vec![1.0];
    cfg.schedule.optimizer = OptimizerConfig::adam(50.0);
    let tmp = tempfile::tempdir().unwrap();
    let report = run_into(&cfg, &split, tmp.path(), &mut |_| {}).unwrap();

    let r = &report.results[0];
    assert!(r.diverged, "{:?}", r.divergence_events);
    assert!(!r.divergence_events.is_empty());
    // Each divergence was answered by a rollback with alpha halved.
    assert!(r.final_alpha < 1.0, "{}", r.final_alpha);
    assert_eq!(r.status, Status::Diverged);
    assert_eq!(report.defended().count(), 0);

    let s = summary(&report);
    assert!(
        s.contains("1 run(s) DIVERGED (reported as such, never as defended)"),
        "{s}"
    );
    assert!(
        s.contains("No alpha made k=2 safe") && !s.contains("Closest within the budget"),
        "{s}"
    );
    // The plot draws no point for it: the NoPeek curve is the undefended point alone.
    let series = tradeoff_series(&report);
    assert!(series[0].name.starts_with("nopeek"));
    assert!(series[0].points.len() <= 1, "{:?}", series[0].points);
    assert!(!series.iter().any(|s| s.name.starts_with("safe at")));

    let csv = std::fs::read_to_string(tmp.path().join("alphas.csv")).unwrap();
    let row = csv.lines().find(|l| l.starts_with("nopeek,1,")).unwrap();
    assert!(row.contains(",DIVERGED,true,"), "{row}");
    // Every attack's SSIM is in its column (cgan_ssim, inverse_ssim, rmle_ssim), for each model.
    for line in csv.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        for c in &cells[8..11] {
            let v: f64 = c.parse().unwrap_or_else(|_| panic!("{line}"));
            assert!((-1.0..=1.0).contains(&v), "{line}");
        }
    }
    let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    let line = md
        .lines()
        .find(|l| l.starts_with("| nopeek | 1 |"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(line.contains("DIVERGED"), "{line}");
    assert!(
        md.contains("nopeek alpha 1: ") && md.contains("divergence at epoch 1"),
        "{md}"
    );
    // The model is still saved (the last good state), so that what diverged can be inspected.
    assert!(tmp
        .path()
        .join("nopeek-alpha-1/model.safetensors")
        .is_file());
}
