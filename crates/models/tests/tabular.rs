//! Tabular MLP: partition points, training on SYNTHETIC TON_IoT rows, scores, weights + preprocessing.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use burn::tensor::{Device, Distribution, Tensor};
use privsplit_data::tabular::{
    generate_csv, stratified_split, PreprocessConfig, Preprocessor, TonIotGenConfig, TonIotReader,
    TonIotTable,
};
use privsplit_models::tabular::{
    classification_scores, evaluate, load_tabular, preprocess_path, rows_to_input, save_tabular,
    train_tabular, TabularTask,
};
use privsplit_models::tensor::Features;
use privsplit_models::train::{majority_rate, OptimizerConfig, TrainConfig};
use privsplit_models::zoo::{build, ArchConfig};

#[test]
fn scores_match_a_hand_computed_example() {
    // true:  0 0 1 1 2 2 ; pred: 0 1 1 1 0 2
    let s = classification_scores(&[0, 1, 1, 1, 0, 2], &[0, 0, 1, 1, 2, 2], 3).unwrap();
    assert!((s.accuracy - 4.0 / 6.0).abs() < 1e-12);
    // class 0: P 1/2 R 1/2 F 1/2; class 1: P 2/3 R 1 F 0.8; class 2: P 1 R 1/2 F 2/3.
    let want = (0.5 + 0.8 + 2.0 / 3.0) / 3.0;
    assert!((s.macro_f1 - want).abs() < 1e-12, "{}", s.macro_f1);
    assert_eq!(
        s.confusion,
        vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 1]]
    );
    // A class absent from labels and predictions does not count in the mean.
    let s4 = classification_scores(&[0, 1, 1, 1, 0, 2], &[0, 0, 1, 1, 2, 2], 4).unwrap();
    assert!((s4.macro_f1 - want).abs() < 1e-12);
    assert!(classification_scores(&[0], &[0, 1], 2).is_err());
    assert!(classification_scores(&[5], &[0], 2).is_err());
}

#[test]
fn every_layer_boundary_is_a_partition_point() {
    let dev = Device::flex();
    let arch = ArchConfig::tabular_mlp(37, 10).with_width(0.25);
    let model = build(&arch, &dev).unwrap();
    assert_eq!(model.num_stages(), 5);
    let names: Vec<String> = model.stage_infos().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["fc1", "fc2", "fc3", "fc4", "out"]);
    assert_eq!(model.shape_at(0).unwrap(), [37, 1, 1]);
    assert_eq!(model.shape_at(1).unwrap(), [64, 1, 1]);
    let x = rows_to_input(Tensor::<2>::random([3, 37], Distribution::Default, &dev));
    let full = model.forward(x.clone()).unwrap();
    for k in 0..=5 {
        let (t, u) = model.clone().split(k).unwrap();
        let y = u
            .forward(t.forward(x.clone()).unwrap())
            .unwrap()
            .flatten::<2>(1, 3);
        assert_eq!(
            (y - full.clone()).abs().max().into_scalar::<f32>(),
            0.0,
            "k={k}"
        );
    }
}

/// (train rows, train types, train labels, test rows, test types, test labels, preprocessing).
type Prepared = (
    Features,
    Vec<u8>,
    Vec<u8>,
    Features,
    Vec<u8>,
    Vec<u8>,
    Preprocessor,
);

fn synthetic_features(rows: usize) -> Prepared {
    let csv = generate_csv(&TonIotGenConfig { rows, seed: 5 }).unwrap();
    let mut r =
        TonIotReader::from_reader(csv.as_slice(), std::path::Path::new("synthetic.csv")).unwrap();
    let t = TonIotTable::from_reader(&mut r, usize::MAX).unwrap();
    let (train, test) = stratified_split(&t.class, 0.25, 1).unwrap();
    let pre = Preprocessor::fit(&t, &train, PreprocessConfig::default()).unwrap();
    let f = |idx: &[usize]| {
        Features::new(pre.transform(&t, idx).unwrap(), idx.len(), pre.dim()).unwrap()
    };
    let pick = |v: &[u8], idx: &[usize]| idx.iter().map(|&i| v[i]).collect::<Vec<u8>>();
    (
        f(&train),
        pick(&t.class, &train),
        pick(&t.label, &train),
        f(&test),
        pick(&t.class, &test),
        pick(&t.label, &test),
        pre,
    )
}

#[test]
fn training_on_synthetic_rows_beats_chance_and_weights_round_trip() {
    let (xtr, ytr, btr, xte, yte, bte, pre) = synthetic_features(2_000);
    let cfg = TrainConfig {
        epochs: 6,
        batch_size: 64,
        optimizer: OptimizerConfig::adam(2e-3),
        seed: 3,
        device: Default::default(),
    };
    let arch = ArchConfig::tabular_mlp(pre.dim(), TabularTask::Type.classes()).with_width(0.5);
    let model = train_tabular(&arch, &xtr, &ytr, &cfg, &mut |_| {}).unwrap();
    let s = evaluate(&model, &xte, &yte).unwrap();
    let chance = f64::from(majority_rate(&yte));
    assert!(
        s.accuracy > chance + 0.3,
        "accuracy {} vs chance {chance}",
        s.accuracy
    );
    assert!(s.macro_f1 > 0.4, "macro-F1 {}", s.macro_f1);
    let barch = ArchConfig::tabular_mlp(pre.dim(), TabularTask::Binary.classes()).with_width(0.5);
    let bin = train_tabular(&barch, &xtr, &btr, &cfg, &mut |_| {}).unwrap();
    let sb = evaluate(&bin, &xte, &bte).unwrap();
    assert!(
        sb.accuracy > f64::from(majority_rate(&bte)) + 0.1,
        "binary {}",
        sb.accuracy
    );
    // Same seed, same model.
    let again = train_tabular(&arch, &xtr, &ytr, &cfg, &mut |_| {}).unwrap();
    assert_eq!(evaluate(&again, &xte, &yte).unwrap(), s);
    // Weights + preprocessing next to them.
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("ids.safetensors");
    save_tabular(&model, &pre, &w).unwrap();
    assert!(preprocess_path(&w).exists());
    let (loaded, pre2) = load_tabular(&arch, &w, &Device::flex()).unwrap();
    assert_eq!(pre2.dim(), pre.dim());
    assert_eq!(evaluate(&loaded, &xte, &yte).unwrap(), s);
    // The width-0.5 weights do not load as a width-1 architecture: an error, not a panic.
    let wide = ArchConfig::tabular_mlp(pre.dim(), 10);
    assert!(load_tabular(&wide, &w, &Device::flex()).is_err());
    assert!(load_tabular(&ArchConfig::tabular_mlp(3, 10), &w, &Device::flex()).is_err());
    // Wrong feature count and out-of-range labels are rejected.
    let bad = Features::new(vec![0.0; 4], 2, 2).unwrap();
    assert!(train_tabular(&arch, &bad, &[0, 1], &cfg, &mut |_| {}).is_err());
    assert!(train_tabular(&barch, &xtr, &ytr, &cfg, &mut |_| {}).is_err());
}
