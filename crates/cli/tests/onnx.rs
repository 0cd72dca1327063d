//! `privsplit sweep --onnx`: listing cut nodes, black-box sweeps of an ONNX model, bad model files.

use std::path::{Path, PathBuf};

use crate::util::{privsplit, text};

fn small_cnn() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/tests/fixtures/small_cnn.onnx")
}

#[test]
fn without_cut_the_candidate_cut_nodes_are_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let model = small_cnn().display().to_string();
    let out = privsplit(
        &["sweep", "--onnx", &model, "--input-size", "12"],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    for node in ["conv_a", "relu_a", "add", "relu_b", "pool", "gap", "flat"] {
        assert!(
            s.lines().any(|l| l.starts_with(node)),
            "{node} missing:\n{s}"
        );
    }
    assert!(!s.contains("conv_b") && !s.contains("fc "), "{s}");
    assert!(s.contains("[4, 6, 6]"), "pool at 12x12:\n{s}");
    // Nothing was run: no run folder.
    assert!(!tmp.path().join("runs").exists());
    // The help says white-box rMLE is not available for ONNX models.
    let help = privsplit(&["sweep", "--help"], tmp.path());
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("White-box rMLE is NOT available for ONNX"),
        "{}",
        text(&help)
    );
}

#[test]
fn bad_models_cut_nodes_and_white_box_attacks_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(small_cnn()).unwrap();
    let truncated = tmp.path().join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let model = small_cnn().display().to_string();
    // A reshape to a constant shape: the graph refuses any input size but 8x8.
    let fixed = small_cnn()
        .with_file_name("fixed_reshape.onnx")
        .display()
        .to_string();
    let cases: [(Vec<&str>, &str); 4] = [
        (
            vec!["sweep", "--onnx", truncated.to_str().unwrap()],
            "not a readable ONNX model",
        ),
        (
            vec!["sweep", "--onnx", &model, "--cut", "conv_b"],
            "not the whole state",
        ),
        (
            vec![
                "sweep",
                "--onnx",
                &model,
                "--cut",
                "relu_a",
                "--attacks",
                "rmle",
            ],
            "white-box rMLE",
        ),
        (
            vec![
                "sweep",
                "--onnx",
                &fixed,
                "--cut",
                "flat",
                "--input-size",
                "12",
            ],
            "[1, 3, 12, 12]",
        ),
    ];
    for (args, want) in cases {
        let out = privsplit(&args, tmp.path());
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(want), "{args:?}: {}", text(&out));
        assert!(!text(&out).contains("panicked"), "{}", text(&out));
    }
}

/// A small black-box sweep of the fixture model at two cut nodes writes the usual run folder. Needs
/// the packaged photographs (fails under CI=1 without them).
#[test]
fn an_onnx_sweep_writes_the_usual_report() {
    let photos = Path::new(privsplit_data::natural::SKIMAGE_DATA_DIR);
    let sklearn = Path::new(privsplit_data::rgb::SKLEARN_IMAGES_DIR);
    if !privsplit_data::installed_or_skip(
        "packaged photographs (scikit-image, scikit-learn)",
        &[&photos.join("chelsea.png"), &sklearn.join("china.jpg")],
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let model = small_cnn().display().to_string();
    let args = [
        "sweep",
        "--onnx",
        &model,
        "--cut",
        "pool,relu_a",
        // `coarse` of an ONNX sweep: every cut point.
        "--points",
        "coarse",
        "--input-size",
        "16",
        "--eval-images",
        "8",
        "--attacker-images",
        "32",
        "--distractors",
        "12",
        "--attack-epochs",
        "1",
        "--seed",
        "5",
        "--out",
        "runs",
        "--name",
        "onnx",
    ];
    let out = privsplit(&args, tmp.path());
    assert!(out.status.success(), "{}", text(&out));
    let runs: Vec<PathBuf> = std::fs::read_dir(tmp.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    // Every file of a sweep's run folder but the model the sweep would have trained.
    for f in privsplit_experiments::sweep::report::FILES {
        assert!(
            f == "model.safetensors" || runs[0].join(f).is_file(),
            "missing {f}"
        );
    }
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runs[0].join("report.json")).unwrap()).unwrap();
    // Cuts in graph order, then the rest of the graph to the output.
    assert_eq!(
        r["stage_names"],
        serde_json::json!(["relu_a", "pool", "output"])
    );
    assert_eq!(r["num_stages"], 3);
    let p = r["points"].as_array().unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0]["feature_shape"], serde_json::json!([4, 16, 16]));
    assert_eq!(p[1]["feature_shape"], serde_json::json!([4, 8, 8]));
    // conv_a at 16x16: 4 x 256 outputs x 27 multiply-adds x 2.
    assert_eq!(p[0]["trusted_flops"], 2 * 4 * 256 * 27);
    for point in p {
        let names: Vec<&str> = point["attacks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["attack"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(point["attacks"][0]["ssim"].as_f64().unwrap().is_finite());
    }
    assert!(r["config"]["onnx"]["path"]
        .as_str()
        .unwrap()
        .ends_with("small_cnn.onnx"));
    // The fixture's weights are trained-looking (not constant fills): no SYNTHETIC label.
    assert_eq!(
        r["config"]["weights"]["onnx"]["synthetic"],
        serde_json::json!(false)
    );
    let md = std::fs::read_to_string(runs[0].join("report.md")).unwrap();
    // Titled by the file (Markdown escapes the underscore).
    assert!(
        md.contains(r"# Partition-point sweep: ONNX small\_cnn.onnx"),
        "{md}"
    );
    assert!(!md.contains("SYNTHETIC"), "{md}");
}
