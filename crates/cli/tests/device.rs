//! `--device` and `--threads` reach every training command, the untrusted serving partition (`serve
//! untrusted`, `bench serve`), `predict`'s forward pass and the job commands of `plan`: a backend this
//! binary was built without is refused before any work, naming its cargo feature (exit code 3), and a
//! device that can run is recorded in what the command writes.

use std::path::Path;

use crate::util::{privsplit, run_ok, text};

/// Untrained small-CNN weights in `dir/w.safetensors` (`serve init-weights`).
fn small_cnn_weights(dir: &Path) {
    run_ok(
        &[
            "serve",
            "init-weights",
            "--model",
            "small-cnn",
            "--out",
            "w.safetensors",
        ],
        dir,
    );
}

/// Every command that trains (or serves the untrusted partition), with `--device`.
const COMMANDS: &[&[&str]] = &[
    &["run", "--set", "fonts.train=10"],
    &["collateral", "--synthetic", "--train", "40", "--test", "20"],
    &["sweep", "--preset", "tiny", "--points", "0"],
    &["tabular", "train", "--synthetic-rows", "200", "--out", "m"],
    &[
        "tabular",
        "sweep",
        "--synthetic-rows",
        "200",
        "--preset",
        "tiny",
    ],
    &["defend", "--preset", "tiny"],
    &["bench", "train", "--steps", "1", "--no-pytorch"],
    &["bench", "sweep", "--steps", "1"],
    &[
        "serve",
        "untrusted",
        "--model",
        "toy:4,3,2",
        "--partition",
        "1",
        "--listen",
        "127.0.0.1:0",
    ],
    // Refused before the (missing) weights and image are read.
    &[
        "predict",
        "--arch",
        "resnet50",
        "--weights",
        "missing.pth",
        "missing.png",
    ],
    &["bench", "serve", "--model", "toy:4,3,2", "--requests", "1"],
    // The plan's jobs run this binary: a device it lacks is refused before the plan is written.
    &[
        "plan", "sweep", "--dir", "p", "--preset", "tiny", "--points", "1",
    ],
    &["plan", "collateral", "--dir", "p", "--synthetic"],
];

#[test]
fn a_backend_not_built_in_is_refused_by_every_command_naming_its_feature() {
    let dir = tempfile::tempdir().unwrap();
    for device in ["cuda", "wgpu", "cpu"] {
        let built = match device {
            "cuda" => cfg!(feature = "cuda"),
            "wgpu" => cfg!(feature = "wgpu"),
            _ => cfg!(feature = "cpu"),
        };
        if built {
            continue;
        }
        for cmd in COMMANDS {
            let mut args = cmd.to_vec();
            args.extend(["--device", device]);
            let o = privsplit(&args, dir.path());
            let t = text(&o);
            assert_eq!(o.status.code(), Some(3), "{args:?}: {t}");
            assert!(
                t.contains(&format!("device {device}"))
                    && t.contains(&format!("--features {device}")),
                "{args:?}: {t}"
            );
        }
    }
}

#[test]
fn an_unknown_device_or_zero_threads_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = privsplit(&["bench", "train", "--device", "tpu"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("flex"), "{}", text(&o));
    let o = privsplit(
        &["bench", "train", "--threads", "0", "--no-pytorch"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("--threads"), "{}", text(&o));
}

#[test]
fn bench_train_reports_the_device_and_thread_count_it_ran_with() {
    let dir = tempfile::tempdir().unwrap();
    let o = privsplit(
        &[
            "bench",
            "train",
            "--device",
            "flex",
            "--threads",
            "1",
            "--batch",
            "8",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--no-pytorch",
            "--json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!(v["device"], "flex", "{v}");
    assert_eq!(v["threads"], 1, "{v}");
}

#[test]
fn the_untrusted_partition_reports_the_device_it_runs_on() {
    use privsplit_models::device::DeviceChoice;
    use privsplit_tee::model::ModelSpec;
    let dir = tempfile::tempdir().unwrap();
    small_cnn_weights(dir.path());
    let spec = ModelSpec::parse("small-cnn", Some(dir.path().join("w.safetensors"))).unwrap();
    let flex = DeviceChoice::Flex.resolve().unwrap();
    let back = spec.load_side_on(2, false, &flex).unwrap();
    assert!(
        back.describe().ends_with("stages [2, 6) on flex"),
        "{}",
        back.describe()
    );
    let front = spec.load_side(2, true).unwrap();
    assert!(
        front.describe().ends_with("stages [0, 2) on flex"),
        "{}",
        front.describe()
    );
}

#[test]
fn plan_jobs_carry_the_device_into_the_slurm_and_kubernetes_scripts() {
    let tmp = tempfile::tempdir().unwrap();
    let read =
        |plan: &str, file: &str| std::fs::read_to_string(tmp.path().join(plan).join(file)).unwrap();
    let o = privsplit(
        &[
            "plan", "sweep", "--dir", "flex", "--preset", "tiny", "--points", "0,2", "--device",
            "flex",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let shard = read("flex", "shard.sh");
    assert_eq!(shard.matches("--device flex").count(), 2, "{shard}");
    assert!(!read("flex", "array.sbatch").contains("--gres"));
    assert!(!read("flex", "k8s-shards.yaml").contains("nvidia.com/gpu"));
    let m: serde_json::Value = serde_json::from_str(&read("flex", "plan.json")).unwrap();
    assert_eq!(m["resources"]["device"], "flex", "{m}");
    for shard in m["shards"].as_array().unwrap() {
        let args: Vec<&str> = shard["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(
            args.windows(2).any(|w| w == ["--device", "flex"]),
            "{args:?}"
        );
    }

    // A GPU device for another binary (--bin: not checked here) also requests a GPU per task.
    let o = privsplit(
        &[
            "plan",
            "collateral",
            "--dir",
            "gpu",
            "--synthetic",
            "--alpha",
            "0,1",
            "--bin",
            "/opt/privsplit",
            "--device",
            "wgpu",
            "--gpu-args",
            "--threads 1",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let shard = read("gpu", "shard.sh");
    assert_eq!(
        shard.matches("--device wgpu --threads 1").count(),
        2,
        "{shard}"
    );
    assert!(read("gpu", "array.sbatch").contains("#SBATCH --gres=gpu:1"));
    assert!(read("gpu", "k8s-shards.yaml").contains("nvidia.com/gpu: 1"));

    // The device is --device, not --gpu-args.
    let o = privsplit(
        &[
            "plan",
            "sweep",
            "--dir",
            "twice",
            "--bin",
            "/opt/privsplit",
            "--points",
            "1",
            "--gpu",
            "--gpu-args",
            "--device cuda",
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("--gpu-args"), "{}", text(&o));
    assert!(!tmp.path().join("twice/plan.json").exists());
}

#[test]
fn predict_runs_and_reports_the_chosen_device() {
    use privsplit_models::zoo::ArchConfig;
    let dir = tempfile::tempdir().unwrap();
    let arch = ArchConfig::efficientnet_lite0(32, 1000);
    let flex = privsplit_models::device::DeviceChoice::Flex
        .resolve()
        .unwrap();
    let model = privsplit_models::zoo::build(&arch, &flex).unwrap();
    let weights = dir.path().join("lite0.safetensors");
    privsplit_models::weights::save_model(&model, &weights).unwrap();
    let pixels: Vec<f32> = (0..8 * 8 * 3).map(|i| (i % 7) as f32 / 7.0).collect();
    let png = dir.path().join("x.png");
    let img = privsplit_report::GridImage::Rgb {
        height: 8,
        width: 8,
        data: &pixels,
    };
    privsplit_report::image_grid(&png, &[img], 1, 1, None).unwrap();
    let o = privsplit(
        &[
            "predict",
            "--arch",
            "efficientnet-lite0",
            "--input-size",
            "32",
            "--weights",
            weights.to_str().unwrap(),
            "--top",
            "2",
            "--device",
            "flex",
            png.to_str().unwrap(),
        ],
        dir.path(),
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("device: flex"), "{t}");
    assert_eq!(t.matches("(class ").count(), 2, "{t}");
}

#[test]
fn bench_serve_runs_the_untrusted_partition_on_the_chosen_device_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    small_cnn_weights(dir.path());
    let quick = [
        "--requests",
        "2",
        "--warmup",
        "0",
        "--concurrency",
        "1",
        "--handshakes",
        "1",
    ];
    let mut args = vec![
        "bench",
        "serve",
        "--model",
        "small-cnn",
        "--weights",
        "w.safetensors",
        "--device",
        "flex",
        "--json",
        "r.json",
    ];
    args.extend(quick);
    let t = run_ok(&args, dir.path());
    assert!(t.contains("untrusted partition on flex"), "{t}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(r["untrusted_device"], "flex", "{r}");
    assert!(r["model"].as_str().unwrap().contains("on flex"), "{r}");

    // The toy MLP is plain Rust: it says so, and the flex device is the only one it takes.
    let mut args = vec![
        "bench",
        "serve",
        "--model",
        "toy:4,3,2",
        "--partition",
        "1",
        "--json",
        "t.json",
    ];
    args.extend(quick);
    run_ok(&args, dir.path());
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("t.json")).unwrap()).unwrap();
    assert_eq!(r["untrusted_device"], "cpu (toy MLP)", "{r}");
}
