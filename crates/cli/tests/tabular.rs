//! The TON_IoT workload end to end through the binary at a small size: generate SYNTHETIC rows, train the
//! intrusion-detection MLP, sweep two partition points of it, serve it split across the two services and
//! classify one row with `privsplit infer --csv`.

use privsplit_data::tabular::{
    write_synthetic, PreprocessConfig, Preprocessor, TonIotGenConfig, TonIotTable, CLASSES,
};
use privsplit_models::tabular::{
    csv_rows, load_tabular, predict_rows, preprocess_path, save_tabular,
};
use privsplit_models::zoo::{build, ArchConfig};
use privsplit_tee::model::{tabular_requests, ModelSpec};

use crate::util::{privsplit, run_ok, serve_split, text};

#[test]
fn generate_train_sweep_serve_and_classify_a_row() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 1. SYNTHETIC rows in the real file's layout, said loudly.
    let t = run_ok(
        &[
            "data", "ton-iot", "--rows", "2000", "--seed", "3", "--out", "rows.csv",
        ],
        dir,
    );
    assert!(t.contains("SYNTHETIC"), "{t}");
    let csv = std::fs::read_to_string(dir.join("rows.csv")).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("src_ip,src_port,dst_ip") && header.ends_with(",label,type"));
    assert_eq!(lines.count(), 2000);

    // 2. Train on the same generated rows (same seed), 10-class `type`.
    let t = run_ok(
        &[
            "tabular",
            "train",
            "--synthetic-rows",
            "2000",
            "--seed",
            "3",
            "--target",
            "type",
            "--epochs",
            "4",
            "--out",
            "model",
        ],
        dir,
    );
    assert!(t.contains("macro-F1") && t.contains("SYNTHETIC"), "{t}");
    let weights = dir.join("model/model.safetensors");
    let pre = preprocess_path(&weights);
    assert!(weights.is_file() && pre.is_file() && dir.join("model/train.json").is_file());

    // 3. Sweep two partition points of that model.
    let t = run_ok(
        &[
            "tabular",
            "sweep",
            "--synthetic-rows",
            "2000",
            "--seed",
            "3",
            "--model",
            "model",
            "--preset",
            "tiny",
            "--points",
            "0,3",
            "--out",
            "runs",
        ],
        dir,
    );
    assert!(t.contains("SYNTHETIC") && t.contains("run folder"), "{t}");
    let run = std::fs::read_dir(dir.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("SYNTHETIC") && md.contains("macro-F1"), "{md}");
    let points = std::fs::read_to_string(run.join("points.csv")).unwrap();
    assert_eq!(points.lines().count(), 1 + 2 * 3, "{points}");

    // 4. Serve it split at k = 2 over a pinned Noise link; classify the first row.
    let w = weights.to_str().unwrap();
    let model = ["--model", "tabular-mlp", "--weights", w, "--partition", "2"];
    let (ts, _services) = serve_split(&model, dir);
    let one: String = csv.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("one.csv"), one).unwrap();
    let p = pre.to_str().unwrap();
    let t = run_ok(
        &[
            "infer",
            "--endpoint",
            &ts,
            "--allow-insecure-dev",
            "--csv",
            "one.csv",
            "--preprocess",
            p,
        ],
        dir,
    );
    let got = t
        .lines()
        .find_map(|l| l.strip_prefix("row 0: type "))
        .unwrap_or_else(|| panic!("no predicted type:\n{t}"))
        .trim()
        .to_string();
    assert!(CLASSES.contains(&got.as_str()), "{got:?}");
    // The same prediction as the whole model in this process.
    let x = csv_rows(&dir.join("one.csv"), &pre).unwrap();
    let arch = ArchConfig::tabular_mlp(x.cols, 10);
    let (m, _) = load_tabular(&arch, &weights, &burn_device()).unwrap();
    assert_eq!(got, CLASSES[predict_rows(&m, &x).unwrap()[0]]);

    // A CSV without the model's preprocessing is a usage error.
    let out = privsplit(&["infer", "--endpoint", &ts, "--csv", "one.csv"], dir);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

fn burn_device() -> privsplit_tee::model::Device {
    privsplit_tee::model::Device::flex()
}

/// The library side of the same path, without processes: spec `tabular-mlp` reads its input width from
/// the preprocessing next to the weights, each side loads only its layers, the requests of `infer --csv`
/// are the preprocessed CSV rows, and trusted-then-untrusted equals the whole model. Bad specs and files
/// are errors naming what is wrong.
#[test]
fn tabular_mlp_served_in_two_parts_equals_the_whole_model() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    write_synthetic(&csv, &TonIotGenConfig { rows: 300, seed: 5 }).unwrap();
    let table = TonIotTable::load(&csv).unwrap();
    let all: Vec<usize> = (0..table.rows).collect();
    let pre = Preprocessor::fit(&table, &all, PreprocessConfig::default()).unwrap();
    let model = build(&ArchConfig::tabular_mlp(pre.dim(), 10), &burn_device()).unwrap();
    let w = dir.path().join("model.safetensors");
    save_tabular(&model, &pre, &w).unwrap();

    let spec = ModelSpec::parse("tabular-mlp", Some(w.clone())).unwrap();
    assert_eq!(spec.num_stages().unwrap(), 5);
    let front = spec.load_side(2, true).unwrap();
    let back = spec.load_side(2, false).unwrap();
    let whole = spec.load_side(0, false).unwrap();
    assert_eq!(front.input_shape(), vec![0, pre.dim(), 1, 1]);
    let reqs = tabular_requests(&csv, &preprocess_path(&w)).unwrap();
    assert_eq!(reqs.len(), 300);
    let row7 = pre.transform(&table, &[7]).unwrap();
    assert_eq!(reqs[7].data, row7);
    assert_eq!(reqs[7].shape, vec![1, pre.dim(), 1, 1]);
    let got = back.run(front.run(reqs[7].clone()).unwrap()).unwrap();
    let want = whole.run(reqs[7].clone()).unwrap();
    assert_eq!(got.data.len(), 10);
    for (a, b) in got.data.iter().zip(&want.data) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    // The binary head has 2 outputs: the 10-class weights do not fit it.
    let binary = ModelSpec::parse("tabular-mlp:label", Some(w.clone())).unwrap();
    assert!(binary.load_side(2, false).is_err());

    // Errors name what is wrong.
    let lone = dir.path().join("lone.safetensors");
    std::fs::copy(&w, &lone).unwrap();
    let e = ModelSpec::parse("tabular-mlp", Some(lone))
        .unwrap_err()
        .to_string();
    assert!(e.contains("lone.safetensors.preprocess.json"), "{e}");
    let e = ModelSpec::parse("tabular-mlp:kind", Some(w.clone()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("tabular-mlp[:type|:label]"), "{e}");
    assert!(ModelSpec::parse("tabular-mlp", None).is_err());
    let bad = dir.path().join("bad.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<&str> = text.lines().take(3).collect();
    lines[2] = "1,2,3";
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let e = tabular_requests(&bad, &preprocess_path(&w))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.csv"), "{e}");
}
