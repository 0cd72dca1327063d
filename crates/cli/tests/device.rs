//! `--device` and `--threads` reach every training command and the untrusted serving partition: a backend
//! this binary was built without is refused before any work, naming its cargo feature (exit code 3), and
//! a device that can run is recorded in what the command writes.

use crate::util::{privsplit, text};

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
    let o = privsplit(
        &[
            "serve",
            "init-weights",
            "--model",
            "small-cnn",
            "--out",
            "w.safetensors",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
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
