//! `privsplit sweep`: a tiny sweep's run folder, merge, and missing data.

use std::path::Path;

use crate::util::{fashion_mnist_installed, privsplit, privsplit_env, run_folders, text};

/// `privsplit sweep --preset tiny` produces a complete run folder. Needs Fashion-MNIST (fails under CI=1
/// without it).
#[test]
fn tiny_sweep_writes_a_complete_run_folder_and_merge_rejects_duplicates() {
    if !fashion_mnist_installed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "sweep",
        "--preset",
        "tiny",
        "--points",
        "0,4,6",
        "--attacks",
        "inverse,rmle",
        "--eval-images",
        "8",
        "--train-epochs",
        "1",
        "--rmle-steps",
        "10",
        "--out",
        "runs",
        "--name",
        "tiny",
        "--tee",
        "sgx2:64",
        "--seed",
        "3",
    ];
    let out = privsplit(&args, tmp.path());
    assert!(out.status.success(), "{}", text(&out));
    let runs = run_folders(&tmp.path().join("runs"));
    assert_eq!(runs.len(), 1, "{runs:?}");
    for f in privsplit_experiments::sweep::report::FILES {
        assert!(runs[0].join(f).is_file(), "missing {f}");
    }
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runs[0].join("report.json")).unwrap()).unwrap();
    let ks: Vec<u64> = r["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["k"].as_u64().unwrap())
        .collect();
    assert_eq!(ks, [0, 4, 6]);
    assert!(r["points"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["attacks"].as_array().unwrap().len() == 2));
    // The flags reach the report: the seed, the TEE of the cost model, a verdict per point.
    assert_eq!(r["config"]["seed"], 3);
    assert_eq!(r["points"][1]["enclave"]["tee"], "sgx2:64");
    assert_eq!(r["verdicts"].as_array().unwrap().len(), 3);
    assert!(r["points"][1]["attacks"][0]["leakage"]["gain_ci95"].is_array());
    let csv = std::fs::read_to_string(runs[0].join("points.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * 2, "{csv}");
    // The grid: one row of originals + one row per point; columns = 2 attacks x 2 images (tiny preset).
    let grid = image_dims(&runs[0].join("reconstructions.png"));
    // A 4 x 4 grid of cells is about square (the old layout was one strip many times taller than wide).
    assert!(
        grid.0 * 2 > grid.1 && grid.1 * 2 > grid.0,
        "a grid, not a strip: {grid:?}"
    );

    // Merging the run with itself is rejected (same points twice), an input error.
    let dir = runs[0].display().to_string();
    let dup = privsplit(&["sweep", "merge", &dir, &dir, "--out", "runs"], tmp.path());
    assert_eq!(dup.status.code(), Some(3), "{}", text(&dup));
    assert!(text(&dup).contains("disjoint"));
}

/// A TEE the cost model does not know is rejected before anything runs, naming the accepted forms.
#[test]
fn an_unknown_tee_is_rejected_naming_the_accepted_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let out = privsplit(
        &[
            "sweep", "--preset", "tiny", "--tee", "sgx3", "--out", "runs",
        ],
        tmp.path(),
    );
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("sgx3") && t.contains("sgx2:<usable EPC MiB"),
        "{t}"
    );
    assert!(run_folders(&tmp.path().join("runs")).is_empty());
}

/// `(width, height)` of a PNG from its header.
fn image_dims(p: &Path) -> (u32, u32) {
    let b = std::fs::read(p).unwrap();
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

/// A dataset folder that was deleted fails with exit code 4 and the install step, under CI and elsewhere.
#[test]
fn a_deleted_dataset_fails_naming_the_install_step() {
    let tmp = tempfile::tempdir().unwrap();
    let gone = tmp.path().join("fashion-mnist");
    std::fs::create_dir(&gone).unwrap();
    std::fs::remove_dir(&gone).unwrap();
    let dir = gone.display().to_string();
    let out = privsplit_env(
        &[
            "sweep",
            "--preset",
            "tiny",
            "--data-dir",
            &dir,
            "--out",
            "runs",
        ],
        tmp.path(),
        &[("CI", "1")],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(4), "{t}");
    assert!(
        t.contains("bash scripts/install-deps.sh") && t.contains(&dir),
        "{t}"
    );
    assert!(
        run_folders(&tmp.path().join("runs")).is_empty(),
        "no run folder left"
    );
}
