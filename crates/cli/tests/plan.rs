//! `privsplit plan`: a sweep grid becomes one shard per partition point with the per-task resources and
//! GPU arguments given; unreadable weights are refused (exit code 3) before any plan is written.

use crate::util::{privsplit, text};

#[test]
fn plan_sweep_writes_a_shard_per_point_with_the_resources_and_gpu_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plan");
    let d = dir.to_str().unwrap();
    let args = [
        "plan",
        "sweep",
        "--dir",
        d,
        "--name",
        "t",
        "--preset",
        "tiny",
        "--points",
        "1,3",
        "--cpus",
        "3",
        "--bin",
        "/opt/privsplit",
        "--gpu",
        "--gpu-args",
        "--threads  1",
    ];
    let out = privsplit(&args, tmp.path());
    assert!(out.status.success(), "{}", text(&out));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap();
    assert_eq!(m["shards"].as_array().unwrap().len(), 2, "{m}");
    assert_eq!(m["resources"]["cpus"], 3);
    assert_eq!(
        m["resources"]["gpu_args"],
        serde_json::json!(["--threads", "1"])
    );
    let shard = std::fs::read_to_string(dir.join("shard.sh")).unwrap();
    assert_eq!(
        shard.matches("--device cuda --threads 1").count(),
        2,
        "{shard}"
    );
    assert_eq!(
        m["grid"]["sweep"]["points"],
        serde_json::json!([1, 3]),
        "{m}"
    );
    let default = privsplit(
        &["plan", "sweep", "--dir", d, "--name", "u", "--points", "2"],
        tmp.path(),
    );
    assert!(default.status.success(), "{}", text(&default));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap();
    assert_eq!(m["resources"]["gpu_args"], serde_json::json!([]));
    assert_eq!(m["resources"]["device"], serde_json::Value::Null);
    assert!(!std::fs::read_to_string(dir.join("shard.sh"))
        .unwrap()
        .contains("--device"));
    assert_eq!(m["resources"]["cpus"], 2);
}

#[test]
fn plan_sweep_refuses_missing_weights_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plan");
    let args = [
        "plan",
        "sweep",
        "--dir",
        dir.to_str().unwrap(),
        "--points",
        "1",
        "--weights",
        "missing.safetensors",
    ];
    let out = privsplit(&args, tmp.path());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(
        t.contains("--weights") && t.contains("missing.safetensors"),
        "{t}"
    );
    assert!(!dir.join("plan.json").exists());
}
