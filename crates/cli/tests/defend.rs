//! `privsplit defend`: a tiny defence run's complete run folder, its defended model served split at k by
//! `privsplit serve` + `privsplit infer`, and bad flags rejected before anything runs.

use std::path::Path;

use privsplit_models::weights::{load_model, load_partition, Side};
use privsplit_models::zoo::ArchConfig;

use crate::util::{fashion_mnist_installed, privsplit, run_folders, run_ok, serve_split, text};

/// Both defences at one alpha on the tiny preset: the run folder holds the report, the CSV, the trade-off
/// plot, and per model a sweep report and weights that load as the trusted and untrusted partitions at k
/// and are served split at k by `privsplit serve` ([`assert_served_like_in_process`]).
/// Needs Fashion-MNIST (fails under CI=1 without it).
#[test]
fn tiny_defence_writes_a_complete_run_folder_with_servable_weights() {
    if !fashion_mnist_installed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "defend",
        "--preset",
        "tiny",
        "--k",
        "2",
        "--alphas",
        "2",
        "--defences",
        "reconstruction,nopeek",
        "--out",
        "runs",
        "--name",
        "tiny",
    ];
    let out = privsplit(&args, tmp.path());
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("Partition point k=2 (after pool1)"), "{t}");
    let runs = run_folders(&tmp.path().join("runs"));
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    for f in privsplit_experiments::defend::report::FILES {
        assert!(run.join(f).is_file(), "missing {f}");
    }
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["defence"], "reconstruction");
    assert_eq!(results[1]["defence"], "nopeek");
    for res in results {
        // Fresh attackers: all three attacks scored at k, with the rule's verdict.
        assert_eq!(res["attacks"].as_array().unwrap().len(), 3, "{res}");
        assert_eq!(res["verdict"]["k"], 2);
        let status = res["status"].as_str().unwrap();
        assert!(
            ["defended", "safe-over-budget", "unsafe", "diverged"].contains(&status),
            "{status}"
        );
        // A diverged run is never reported as anything but diverged.
        assert_eq!(res["diverged"].as_bool().unwrap(), status == "diverged");
        let folder = run.join(res["folder"].as_str().unwrap());
        let pts: Vec<u64> = serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(folder.join("report.json")).unwrap(),
        )
        .unwrap()["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["k"].as_u64().unwrap())
            .collect();
        assert_eq!(pts, [2, 6]);
    }
    assert_eq!(r["undefended"]["verdict"]["k"], 2);
    assert!(r["undefended"]["reference"]["k"].as_u64().is_some());
    let csv = std::fs::read_to_string(run.join("alphas.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 1 + 2, "{csv}");
    assert!(csv.lines().nth(1).unwrap().starts_with("none,0,"), "{csv}");

    // Each defended model's weights load as a full model and as both partitions at k (what serve does),
    // and the partitions compose to the full model.
    let arch: ArchConfig = serde_json::from_value(r["config"]["sweep"]["arch"].clone()).unwrap();
    let dev = burn::tensor::Device::flex();
    for res in results {
        let w = run
            .join(res["folder"].as_str().unwrap())
            .join("model.safetensors");
        let full = load_model(&arch, &w, &dev).unwrap();
        let trusted = load_partition(&arch, 2, Side::Trusted, &w, &dev).unwrap();
        let untrusted = load_partition(&arch, 2, Side::Untrusted, &w, &dev).unwrap();
        let x = burn::tensor::Tensor::<4>::ones([1, 1, 28, 28], &dev).mul_scalar(0.5);
        let a = full.forward(x.clone()).unwrap();
        let b = untrusted
            .forward(trusted.forward(x).unwrap())
            .unwrap()
            .flatten::<2>(1, 3);
        assert_eq!((a - b).abs().max().into_scalar::<f32>(), 0.0);
    }
    // ... and are served split at k by the two services, answering as in process.
    assert_served_like_in_process(tmp.path(), run, "nopeek-alpha-2");
}

/// Bad flags are rejected with exit code 3 before any run folder is made.
#[test]
fn bad_defend_flags_are_rejected_naming_the_setting() {
    let tmp = tempfile::tempdir().unwrap();
    for (args, what) in [
        (vec!["--alphas", "0"], "defend.alphas"),
        (vec!["--k", "0"], "defend.k"),
        (vec!["--k", "9"], "defend.k"),
        (vec!["--max-accuracy-drop", "150"], "--max-accuracy-drop"),
    ] {
        let mut all = vec!["defend", "--preset", "tiny", "--out", "runs"];
        all.extend(args);
        let out = privsplit(&all, tmp.path());
        let t = text(&out);
        assert_eq!(out.status.code(), Some(3), "{all:?}: {t}");
        assert!(t.contains(what), "{all:?}: {t}");
    }
    assert!(run_folders(&tmp.path().join("runs")).is_empty());
}

/// A defended model end to end: the weights `privsplit defend` saved in `run/folder` (tiny preset), served
/// by `privsplit serve untrusted|trusted` split at the defended partition point k = 2 over the pinned Noise
/// link (spec from the report), and `privsplit infer` on Fashion-MNIST test images gets the class and the
/// logits of the defended model's in-process forward pass. The command lines are those of
/// docs/RESULTS.md §2.
fn assert_served_like_in_process(dir: &Path, run: &Path, folder: &str) {
    let w = run.join(folder).join("model.safetensors");
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    // The report names the spec that serves the quarter-width CNN of the tiny preset.
    assert!(md.contains("--model small-cnn%25 --weights"), "{md}");
    let w_arg = w.to_str().unwrap();
    let model = [
        "--model",
        "small-cnn%25",
        "--weights",
        w_arg,
        "--partition",
        "2",
    ];
    let (endpoint, _services) = serve_split(&model, dir);
    let idx =
        Path::new(privsplit_data::fashion_mnist::DEBIAN_DIR).join("t10k-images-idx3-ubyte.gz");
    let count = 4;
    let t = run_ok(
        &[
            "infer",
            "--endpoint",
            &endpoint,
            "--allow-insecure-dev",
            "--idx",
            idx.to_str().unwrap(),
            "--count",
            &count.to_string(),
        ],
        dir,
    );
    // Served: "request i: class [c] logits [l0, l1, ...] insecure-dev".
    let served: Vec<(usize, Vec<f32>)> = t
        .lines()
        .filter_map(|l| l.strip_prefix("request "))
        .map(|l| {
            let (class, logits) = l
                .split_once(": class [")
                .unwrap()
                .1
                .split_once("] logits [")
                .unwrap();
            let logits = logits.split(']').next().unwrap();
            (
                class.parse().unwrap(),
                logits.split(", ").map(|v| v.parse().unwrap()).collect(),
            )
        })
        .collect();
    assert_eq!(served.len(), count, "{t}");

    // In process: the defended model as saved, whole, on the same pixels (bytes / 255).
    let arch: ArchConfig = serde_json::from_value(
        serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(run.join("report.json")).unwrap(),
        )
        .unwrap()["config"]["sweep"]["arch"]
            .clone(),
    )
    .unwrap();
    assert_eq!(arch, ArchConfig::small_cnn().with_width(0.25));
    let dev = burn::tensor::Device::flex();
    let full = load_model(&arch, &w, &dev).unwrap();
    let images = privsplit_data::idx::read_images(&idx).unwrap();
    let px: Vec<f32> = images.data[..count * 784]
        .iter()
        .map(|&b| f32::from(b) / 255.0)
        .collect();
    let x = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(px, [count, 1, 28, 28]),
        &dev,
    );
    let want = full
        .forward(x)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    for (i, (class, logits)) in served.iter().enumerate() {
        let row = &want[i * 10..(i + 1) * 10];
        let argmax = (0..10).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(
            *class, argmax,
            "image {i}: served {logits:?}, in process {row:?}"
        );
        assert_eq!(logits.len(), 10);
        for (a, b) in logits.iter().zip(row) {
            // infer prints 4 decimals
            assert!(
                (a - b).abs() <= 1e-4 + 1e-5 * b.abs(),
                "image {i}: {a} vs {b}"
            );
        }
    }
}
