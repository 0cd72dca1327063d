//! End to end at a small size, on SYNTHETIC TON_IoT rows: generate, load, preprocess, train, sweep every
//! partition point with the inverse network, the c-GAN and white-box rMLE.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use privsplit_attacks::tabular_sweep::{run_tabular_sweep, TabularSweepConfig, TabularSweepData};
use privsplit_attacks::ReconstructionAttack as AttackKind;
use privsplit_data::tabular::{
    generate_csv, stratified_split, PreprocessConfig, Preprocessor, TonIotGenConfig, TonIotReader,
    TonIotTable,
};
use privsplit_models::tabular::{evaluate, train_tabular, TabularTask};
use privsplit_models::tensor::Features;
use privsplit_models::train::{majority_rate, OptimizerConfig, TrainConfig};
use privsplit_models::zoo::ArchConfig;

#[test]
fn generate_load_train_and_sweep_every_partition_point() {
    let csv = generate_csv(&TonIotGenConfig {
        rows: 3_000,
        seed: 21,
    })
    .unwrap();
    let mut reader =
        TonIotReader::from_reader(csv.as_slice(), std::path::Path::new("synthetic.csv")).unwrap();
    let table = TonIotTable::from_reader(&mut reader, usize::MAX).unwrap();
    assert_eq!(table.rows, 3_000);
    let (train, test) = stratified_split(&table.class, 0.2, 2).unwrap();
    let pre = Preprocessor::fit(&table, &train, PreprocessConfig::default()).unwrap();
    let rows = |idx: &[usize]| {
        Features::new(pre.transform(&table, idx).unwrap(), idx.len(), pre.dim()).unwrap()
    };
    let labels = |idx: &[usize]| idx.iter().map(|&i| table.class[i]).collect::<Vec<u8>>();
    let (xtr, ytr, xte, yte) = (rows(&train), labels(&train), rows(&test), labels(&test));
    let arch = ArchConfig::tabular_mlp(pre.dim(), TabularTask::Type.classes()).with_width(0.5);
    let cfg = TrainConfig {
        epochs: 5,
        batch_size: 64,
        optimizer: OptimizerConfig::adam(2e-3),
        seed: 1,
    };
    let model = train_tabular(&arch, &xtr, &ytr, &cfg, &mut |_| {}).unwrap();
    let s = evaluate(&model, &xte, &yte).unwrap();
    let chance = f64::from(majority_rate(&yte));
    assert!(
        s.accuracy > chance + 0.3,
        "accuracy {} (chance {chance})",
        s.accuracy
    );
    assert!(s.macro_f1 > 0.4, "macro-F1 {}", s.macro_f1);

    // Attacker rows from the training split, victims from the test split (disjoint).
    let att: Vec<usize> = train.iter().copied().take(800).collect();
    let ev: Vec<usize> = test.iter().copied().take(200).collect();
    let data = TabularSweepData {
        source: "SYNTHETIC TON_IoT (test)".into(),
        attacker: rows(&att),
        eval: rows(&ev),
        eval_labels: labels(&ev),
    };
    let scfg = TabularSweepConfig::tiny();
    let report = run_tabular_sweep(&model, &pre, &data, &scfg, &mut |_| {}).unwrap();
    assert_eq!(report.num_stages, 5);
    assert_eq!(report.points.len(), 6);
    assert!(report.source.contains("SYNTHETIC"));
    for (k, p) in report.points.iter().enumerate() {
        assert_eq!(p.k, k);
        assert_eq!(
            p.feature_size,
            if k == 0 {
                pre.dim()
            } else {
                model.shape_at(k).unwrap()[0]
            }
        );
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
            assert!(a.reid.top1 >= 0.0 && a.reid.top1 <= 1.0);
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
    // The recommendation is the earliest safe point.
    assert_eq!(
        report.recommendation,
        report.points.iter().find(|p| p.safe).map(|p| p.k)
    );
    // The report round-trips through JSON.
    let json = serde_json::to_string(&report).unwrap();
    let back: privsplit_attacks::tabular_sweep::TabularSweepReport =
        serde_json::from_str(&json).unwrap();
    assert_eq!(back.points.len(), report.points.len());
    // Bad input is rejected with an error.
    let mut bad = data.clone();
    bad.eval_labels.pop();
    assert!(run_tabular_sweep(&model, &pre, &bad, &scfg, &mut |_| {}).is_err());
    let mut bad_cfg = scfg.clone();
    bad_cfg.points = Some(vec![9]);
    assert!(run_tabular_sweep(&model, &pre, &data, &bad_cfg, &mut |_| {}).is_err());
}
