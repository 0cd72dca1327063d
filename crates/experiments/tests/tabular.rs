//! The tabular workload end to end at a small size, on SYNTHETIC TON_IoT rows: train into a model folder,
//! then sweep every partition point of that model with the inverse network, the c-GAN and white-box rMLE.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use privsplit_attacks::ReconstructionAttack as AttackKind;
use privsplit_experiments::tabular::{
    run_tabular_sweep, sweep_job, train_job, TabularRows, TabularSource, TabularSweepConfig,
    TabularSweepData, TabularSweepJob, TabularTrainJob, MODEL_FILE,
};
use privsplit_models::tabular::{load_tabular, preprocess_path};
use privsplit_models::train::majority_rate;

#[test]
fn train_into_a_folder_then_sweep_every_partition_point_of_that_model() {
    let tmp = tempfile::tempdir().unwrap();
    let source = TabularSource::new(None, Some(3_000), 21);
    assert_eq!(
        source,
        TabularSource::Synthetic {
            rows: 3_000,
            seed: 21
        }
    );
    let mut cfg = TabularSweepConfig::tiny();
    cfg.train.epochs = 5;
    let trained = train_job(
        &TabularTrainJob {
            source: source.clone(),
            config: cfg.train.clone(),
            out: tmp.path().join("model"),
        },
        &mut |_| {},
    )
    .unwrap();
    let r = &trained.report;
    assert!(r.synthetic && r.source.contains("SYNTHETIC"));
    assert_eq!((r.rows, r.split[0] + r.split[1]), (3_000, 3_000));
    assert!(trained.weights.ends_with(MODEL_FILE));
    assert_eq!(trained.preprocess, preprocess_path(&trained.weights));
    let train_md = std::fs::read_to_string(tmp.path().join("model/train.md")).unwrap();
    assert!(train_md.contains("SYNTHETIC") && train_md.contains("macro-F1"));
    let summary = trained.summary();
    assert!(
        summary.contains(&format!("{:.4}", r.test.accuracy))
            && summary.contains(&trained.weights.display().to_string()),
        "{summary}"
    );
    // The scores are those of the saved model on the test split, recomputed independently here.
    let (model, pre) = load_tabular(
        &cfg.train.arch(r.features),
        &trained.weights,
        &burn::tensor::Device::flex(),
    )
    .unwrap();
    let rows = TabularRows::load(&source, &cfg.train, Some(pre.clone())).unwrap();
    let test_y = rows.labels(cfg.train.task, &rows.test);
    let again =
        privsplit_models::tabular::evaluate(&model, &rows.features(&rows.test).unwrap(), &test_y)
            .unwrap();
    assert!((again.macro_f1 - r.test.macro_f1).abs() < 1e-9);
    let chance = f64::from(majority_rate(&test_y));
    assert!(
        r.test.accuracy > chance + 0.3,
        "accuracy {} (chance {chance})",
        r.test.accuracy
    );
    assert!(r.test.macro_f1 > 0.4, "macro-F1 {}", r.test.macro_f1);

    let job = TabularSweepJob {
        config: cfg.clone(),
        source: source.clone(),
        model: Some(tmp.path().join("model")),
        out: tmp.path().join("runs"),
        name: "tabular".into(),
    };
    let out = sweep_job(&job, &mut |_| {}).unwrap();
    let report = &out.report;
    assert_eq!(report.num_stages, 5);
    assert_eq!(report.points.len(), 6);
    assert!(report.source.contains("SYNTHETIC") && out.summary.contains("SYNTHETIC"));
    assert!((report.test.as_ref().unwrap().macro_f1 - r.test.macro_f1).abs() < 1e-9);
    for (k, p) in report.points.iter().enumerate() {
        assert_eq!(p.k, k);
        let width = if k == 0 {
            pre.dim()
        } else {
            model.shape_at(k).unwrap()[0]
        };
        assert_eq!(p.feature_size, width);
        let kinds: Vec<AttackKind> = p.attacks.iter().map(|a| a.attack).collect();
        assert_eq!(
            kinds,
            [AttackKind::Cgan, AttackKind::Inverse, AttackKind::Rmle]
        );
        for a in &p.attacks {
            assert_eq!(a.scores.numeric.len(), 11);
            assert_eq!(a.scores.categorical.len(), 27);
            assert_eq!(a.reid.candidates, 10);
            let want = if a.attack == AttackKind::Rmle {
                24
            } else {
                200
            };
            assert_eq!((a.scores.rows, a.reid.trials), (want, want));
        }
        assert_eq!(p.safe, p.attacks.iter().all(|a| !a.leaks));
    }
    // At k = 0 the feature map is the row itself: white-box rMLE recovers it, and the point is unsafe.
    let k0 = &report.points[0];
    let rmle = k0
        .attacks
        .iter()
        .find(|a| a.attack == AttackKind::Rmle)
        .unwrap();
    assert!(
        rmle.scores.mean_categorical_accuracy > 0.95,
        "{:?}",
        rmle.scores
    );
    assert!(rmle.reid.top1 > 0.9, "{:?}", rmle.reid);
    assert!(!k0.safe);
    assert_eq!(
        report.recommendation,
        report.points.iter().find(|p| p.safe).map(|p| p.k)
    );
    // The run folder holds every file; the JSON report reads back.
    for f in [
        "report.json",
        "report.md",
        "report.html",
        "points.csv",
        "features.csv",
    ] {
        assert!(out.folder.join(f).is_file(), "{f} missing");
    }
    let md = std::fs::read_to_string(out.folder.join("report.md")).unwrap();
    assert!(md.contains("SYNTHETIC") && md.contains("macro-F1"));
    let back: privsplit_experiments::tabular::TabularSweepReport =
        privsplit_report::read_json(&out.folder.join("report.json")).unwrap();
    // (JSON floats read back to within rounding: compare the decisions and one score)
    assert_eq!(back.points.len(), report.points.len());
    assert_eq!(back.recommendation, report.recommendation);
    let f1 =
        |r: &privsplit_experiments::tabular::TabularSweepReport| r.test.as_ref().unwrap().macro_f1;
    assert!((f1(&back) - f1(report)).abs() < 1e-12);
    let points_csv = std::fs::read_to_string(out.folder.join("points.csv")).unwrap();
    assert_eq!(points_csv.lines().count(), 1 + 6 * 3);

    // Rows other than the model's are refused, naming the model folder; no run folder is left behind.
    let other = TabularSweepJob {
        source: TabularSource::Synthetic {
            rows: 2_000,
            seed: 21,
        },
        out: tmp.path().join("runs-bad"),
        ..job.clone()
    };
    let e = sweep_job(&other, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("3000 rows the model"), "{e}");
    let left = std::fs::read_dir(tmp.path().join("runs-bad"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0);
    // Bad input is rejected with an error.
    let data = TabularSweepData::from_rows(&rows, &cfg).unwrap();
    let mut bad = data.clone();
    bad.eval_labels.pop();
    assert!(run_tabular_sweep(&model, &pre, &bad, &cfg, &mut |_| {}).is_err());
    let mut bad_cfg = cfg.clone();
    bad_cfg.points = Some(vec![9]);
    assert!(run_tabular_sweep(&model, &pre, &data, &bad_cfg, &mut |_| {}).is_err());
}
