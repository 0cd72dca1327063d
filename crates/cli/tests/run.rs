//! `privsplit run`: the main job end to end on a tiny config, bad configs, the effective config.

use std::path::Path;

use crate::util::{fashion_mnist_installed, privsplit, privsplit_env, run_folders, text};

/// A tiny experiment: every step of the default but with a few hundred images and a short schedule.
const TINY: &[&str] = &[
    "--set",
    "fonts.train=600",
    "--set",
    "fonts.test=200",
    "--set",
    "collateral.alphas=[0, 2]",
    "--set",
    "collateral.attackers=['mlp', 'logistic']",
    "--set",
    "encryption.samples=2",
    "--set",
    "encryption.dlog_table_bits=16",
    "--set",
    "sweep.points=[1]",
];

/// A short schedule on [`TINY`]'s 600 images: 100 plain epochs (about 0.5 s; the quadratic network leaves
/// the majority rate after about 1,000 steps, and a run whose undefended model has not learned the main
/// task is refused), then one epoch of defence and one of recovery.
const SHORT_SCHEDULE: [&str; 6] = [
    "--set",
    "collateral.plain_epochs=100",
    "--set",
    "collateral.defence_epochs=1",
    "--set",
    "collateral.recovery_epochs=1",
];

/// Whether the authors' packaged fonts of the default dataset are installed (skips with a message
/// outside CI when they are not; fails under CI).
fn authors_fonts_installed() -> bool {
    let paths: Vec<&Path> = privsplit_data::font_packages::PACKAGE_FONTS
        .iter()
        .map(|f| Path::new(f.path))
        .collect();
    privsplit_data::installed::installed_or_skip("the authors' packaged fonts", &paths)
}

#[test]
fn run_on_a_tiny_config_writes_a_complete_run_folder() {
    if !authors_fonts_installed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["run", "--quiet", "--name", "tiny", "--out", "runs"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(&SHORT_SCHEDULE);
    let out = privsplit(&args, tmp.path());
    assert!(
        out.status.success(),
        "privsplit run failed:\n{}",
        text(&out)
    );

    let runs: Vec<_> = std::fs::read_dir(tmp.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        runs.len(),
        1,
        "exactly one run folder, no .partial left: {runs:?}"
    );
    let dir = &runs[0];
    assert!(dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("tiny-"));
    for f in [
        "config.toml",
        "report.json",
        "report.md",
        "report.html",
        "samples.png",
        "tradeoff.png",
        "tradeoff.svg",
        "attribute_leakage.csv",
        "encryption_cost.csv",
        "steps.csv",
        "private-quantised.fe-model",
    ] {
        let p = dir.join(f);
        assert!(
            p.is_file() && std::fs::metadata(&p).unwrap().len() > 0,
            "missing or empty {f}"
        );
    }

    let raw = std::fs::read_to_string(dir.join("report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&raw).unwrap();
    // No pixel or weight arrays: report.json is a few kilobytes and names the image files.
    assert!(raw.len() < 200_000, "report.json is {} bytes", raw.len());
    assert!(report["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "samples.png"));
    // Provenance: commit (or "unknown"), CPU, threads, seeds, step times.
    let prov = &report["provenance"];
    assert!(prov["git_commit"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(prov["threads"].as_u64().unwrap() >= 1);
    assert!(prov["cpu_model"].as_str().is_some());
    assert!(prov["seeds"].as_array().unwrap().len() >= 3);
    assert_eq!(prov["step_seconds"].as_array().unwrap().len(), 4);
    // No `[defend]` section: no defence step, nothing of it in the report.
    assert!(report.get("defend").is_none(), "{}", report["defend"]);
    assert!(!dir.join("defend").exists() && !dir.join("defence_alphas.csv").exists());
    let leak = std::fs::read_to_string(dir.join("attribute_leakage.csv")).unwrap();
    assert!(leak.starts_with("alpha,main_accuracy,"), "{leak}");
    assert_eq!(leak.lines().count(), 3, "{leak}");
    assert!(std::fs::read_to_string(dir.join("tradeoff.svg"))
        .unwrap()
        .contains("<svg"));
    assert_eq!(report["dataset"]["train_images"], 600);
    assert_eq!(report["dataset"]["test_images"], 200);
    let alphas = report["collateral"]["per_alpha"].as_array().unwrap();
    assert_eq!(alphas.len(), 2);
    for a in alphas {
        let acc = a["main_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        assert_eq!(a["attacks"].as_array().unwrap().len(), 2);
    }
    // Encrypted inference equals the quantised plaintext model exactly.
    let enc = &report["encryption"];
    assert_eq!(enc["exact"], true);
    assert_eq!(enc["samples"], 2);
    assert_eq!(
        enc["encrypted_accuracy"],
        enc["quantised_accuracy_on_samples"]
    );
    // 1 G1 + 785 x (2 G1 + 2 G2), compressed (48 and 96 bytes), plus a small header.
    let ct = enc["ciphertext_bytes"].as_u64().unwrap();
    assert!(
        (48 + 785 * (2 * 48 + 2 * 96)..48 + 785 * (2 * 48 + 2 * 96) + 256).contains(&ct),
        "{ct}"
    );

    // The sweep ran on Fashion-MNIST when installed, and says so when it is not.
    let sweep = &report["sweep"];
    if Path::new(privsplit_data::fashion_mnist::DEBIAN_DIR).is_dir() {
        assert_eq!(sweep["status"], "done", "{sweep}");
        assert!(dir.join("sweep/report.json").is_file());
        assert!(dir.join("sweep/ssim_per_point.png").is_file());
        assert!(dir.join("sweep/ssim_per_point.svg").is_file());
        assert!(dir.join("sweep/reconstructions.png").is_file());
        let pts = std::fs::read_to_string(dir.join("partition_points.csv")).unwrap();
        assert!(pts.starts_with("k,stage,attack,ssim"), "{pts}");
        assert!(report["recommendation"]["text"]
            .as_str()
            .unwrap()
            .contains("TEE"));
    } else {
        eprintln!("SKIP (part): Fashion-MNIST is not installed; run scripts/install-deps.sh");
        assert_eq!(sweep["status"], "skipped");
    }

    // The effective config re-runs: it parses back into the same settings.
    let cfg = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(cfg.contains("train = 600"), "{cfg}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("Collateral learning") && md.contains("Encrypted inference"),
        "{md}"
    );
    assert!(md.contains("Leakage and cost of both protections"), "{md}");
}

/// Under CI a missing Fashion-MNIST fails the run at once (exit code 4), naming the install step, instead
/// of skipping the sweep.
#[test]
fn run_under_ci_fails_on_a_missing_dataset_naming_the_install_step() {
    let tmp = tempfile::tempdir().unwrap();
    let gone = tmp.path().join("fashion-mnist");
    std::fs::create_dir(&gone).unwrap();
    std::fs::remove_dir(&gone).unwrap();
    let set = format!("sweep.data_dir={:?}", gone.display().to_string());
    let out = privsplit_env(
        &["run", "--quiet", "--out", "runs", "--set", &set],
        tmp.path(),
        &[("CI", "1")],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(4), "{t}");
    assert!(t.contains("bash scripts/install-deps.sh"), "{t}");
    assert!(t.contains("fashion-mnist"), "{t}");
    assert!(
        !tmp.path().join("runs").exists()
            || std::fs::read_dir(tmp.path().join("runs"))
                .unwrap()
                .next()
                .is_none()
    );
}

#[test]
fn run_rejects_bad_configs_with_a_named_error_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--set", "collateral.alphas=[]"], "alphas"),
        (&["--set", "collateral.alphas=['a']"], "collateral"),
        (
            &["--set", "fonts.fonts=['/no/such/font.ttf']"],
            "/no/such/font.ttf",
        ),
        (&["--set", "sweep.ssim_threshold=1.5"], "threshold"),
        (
            &["--set", "fonts.input_scaling='standardized'"],
            "input_scaling",
        ),
        (
            &["--set", "collateral.defence.clip_grad_norm=-1.0"],
            "clip_grad_norm",
        ),
        (
            &["--set", "collateral.defence.objective='hinge'"],
            "objective",
        ),
        (
            &["--set", "collateral.evaluation.distinguisher=''"],
            "distinguisher",
        ),
        (&["--set", "nonsense=1"], "nonsense"),
        (&["--set", "defend.k=0"], "defend.k"),
        (&["--set", "defend.alphas=[0]"], "defend.alphas"),
        (&["--set", "defend.schedule.epochs='x'"], "epochs"),
        (&["--set", "no-equals"], "KEY.PATH=VALUE"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["run", "--quiet", "--out", "runs"];
        args.extend_from_slice(extra);
        let out = privsplit(&args, tmp.path());
        let t = text(&out);
        assert!(!out.status.success(), "{extra:?} should fail");
        assert_eq!(
            out.status.code(),
            Some(3),
            "{extra:?}: invalid config is exit code 3\n{t}"
        );
        assert!(
            t.contains(needle),
            "{extra:?}: error should name {needle:?}:\n{t}"
        );
        assert!(!t.contains("panicked"), "{t}");
    }
    let missing = privsplit(&["run", "/no/such/config.toml"], tmp.path());
    assert!(!missing.status.success());
    assert!(text(&missing).contains("/no/such/config.toml"));
    let left = tmp.path().join("runs");
    assert!(
        !left.exists() || std::fs::read_dir(&left).unwrap().next().is_none(),
        "nothing written for bad configs"
    );
}

#[test]
fn print_config_shows_the_embedded_default_with_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    let out = privsplit(
        &[
            "run",
            "--print-config",
            "--set",
            "collateral.alphas=[0, 0.6]",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let cfg: toml::Table = String::from_utf8_lossy(&out.stdout).parse().unwrap();
    assert_eq!(cfg["fonts"]["train"].as_integer(), Some(12000));
    let defence = &cfg["collateral"]["defence"];
    assert_eq!(defence["mmd_weight"].as_float(), Some(3.0));
    assert_eq!(defence["lr_schedule"].as_str(), Some("cosine"));
    assert_eq!(
        cfg["collateral"]["alphas"].as_array().unwrap()[1].as_float(),
        Some(0.6)
    );
}

/// The authors' protocol config at a tiny size: two seeds (mean ± std in the report), the distinguisher
/// set, the authors' adversaries and the random forest, the shared optimiser and the initial adversary.
#[test]
fn authors_config_runs_at_a_tiny_size_and_reports_mean_and_std() {
    if !authors_fonts_installed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/ryffel2019-authors.toml");
    let config = config.to_string_lossy().to_string();
    let args = [
        "run",
        config.as_str(),
        "--quiet",
        "--name",
        "authors",
        "--out",
        "runs",
        "--set",
        "fonts.train=400",
        "--set",
        "fonts.test=400",
        "--set",
        "collateral.k=4",
        "--set",
        "collateral.seeds=[0, 1]",
        "--set",
        "collateral.defence_adversary='authors_ffn'",
        "--set",
        "collateral.attackers=['authors_ffn', 'random_forest']",
        "--set",
        "collateral.evaluation.attack_epochs=3",
        "--set",
        "collateral.evaluation.average_last=2",
        "--set",
        "collateral.classic.forest.trees=10",
    ];
    // The authors' gentle SGD (lr 0.002, momentum 0.5) needs 250 epochs of these 400 images to learn the
    // main task (lowest seed 49 %), which the run requires; defence and recovery one epoch each.
    let schedule = [
        "--set",
        "collateral.plain_epochs=250",
        "--set",
        "collateral.defence_epochs=1",
        "--set",
        "collateral.recovery_epochs=1",
    ];
    let out = privsplit(&[&args[..], &schedule].concat(), tmp.path());
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("collateral learning (2 seed(s))"), "{t}");
    let dir = std::fs::read_dir(tmp.path().join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["collateral"]["seeds"], serde_json::json!([0, 1]));
    assert_eq!(report["collateral"]["network"]["outputs"], 4);
    for a in report["collateral"]["per_alpha"].as_array().unwrap() {
        assert_eq!(a["runs"], 2);
        // Each seed's main-task accuracy and the lowest of them, beside the mean ± std.
        let runs: Vec<f64> = a["main_accuracy_runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(runs.len(), 2);
        assert_eq!(
            a["lowest_main_accuracy"].as_f64().unwrap(),
            runs[0].min(runs[1])
        );
        let status = a["status"].as_str().unwrap();
        if status == "DIVERGED" {
            assert!(a["attacks"].as_array().unwrap().is_empty());
        } else {
            let names: Vec<&str> = a["attacks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["attacker"].as_str().unwrap())
                .collect();
            assert_eq!(names, ["authors_ffn", "random_forest"]);
        }
    }
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains(" ± "), "mean ± std in the report:\n{md}");
    assert!(
        md.contains("(lowest run "),
        "the lowest seed's main task:\n{md}"
    );
    let csv = std::fs::read_to_string(dir.join("attribute_leakage.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains("collateral_random_forest_std"),
        "{csv}"
    );
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains("main_accuracy_std,main_accuracy_min"),
        "{csv}"
    );
    assert!(!dir.join("encryption_cost.csv").exists());
}

/// A `[defend]` section (configs/defend-small.toml at a tiny size, NoPeek at one alpha): the defence runs
/// after the other steps and its result is part of the unified report (its section in report.md / .html,
/// `defence_alphas.csv`, `defence_tradeoff.png` / `.svg`, `defend` in report.json), with the defend run
/// folder and a weight file per model under `defend/`. Needs the fonts and Fashion-MNIST.
#[test]
fn run_with_a_defend_section_reports_the_defence_and_writes_its_files() {
    if !authors_fonts_installed() || !fashion_mnist_installed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/defend-small.toml");
    let config = config.to_string_lossy().to_string();
    let mut args = vec![
        "run",
        &config,
        "--quiet",
        "--name",
        "def",
        "--out",
        "runs",
        "--set",
        "defend.alphas=[2]",
        "--set",
        "defend.defences=['nopeek']",
    ];
    args.extend_from_slice(TINY);
    args.extend_from_slice(&SHORT_SCHEDULE);
    let out = privsplit(&args, tmp.path());
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("Partition-point defence: Partition point k=2"),
        "{t}"
    );
    let runs = run_folders(&tmp.path().join("runs"));
    assert_eq!(runs.len(), 1, "{runs:?}");
    let dir = &runs[0];
    for f in [
        "defence_alphas.csv",
        "defence_tradeoff.png",
        "defence_tradeoff.svg",
        "defend/report.json",
        "defend/report.md",
        "defend/alphas.csv",
        "defend/config.toml",
        "defend/undefended/model.safetensors",
        "defend/nopeek-alpha-2/model.safetensors",
        "defend/nopeek-alpha-2/report.json",
    ] {
        assert!(dir.join(f).is_file(), "missing {f}");
    }
    let csv = std::fs::read_to_string(dir.join("defence_alphas.csv")).unwrap();
    assert_eq!(
        csv,
        std::fs::read_to_string(dir.join("defend/alphas.csv")).unwrap()
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[0].starts_with("defence,alpha,final_alpha,status"),
        "{csv}"
    );
    assert!(
        lines[1].starts_with("none,0,") && lines[2].starts_with("nopeek,2,"),
        "{csv}"
    );

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["defend"]["status"], "done", "{}", report["defend"]);
    assert_eq!(report["defend"]["folder"], "defend");
    let d = &report["defend"]["report"];
    assert_eq!(
        (d["k"].as_u64(), d["stage"].as_str()),
        (Some(2), Some("pool1"))
    );
    let results = d["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["defence"], "nopeek");
    assert_eq!(results[0]["attacks"].as_array().unwrap().len(), 3);
    assert_eq!(
        results[0]["diverged"].as_bool().unwrap(),
        results[0]["status"] == "diverged"
    );
    assert!(d["summary"]
        .as_str()
        .unwrap()
        .starts_with("Partition point k=2"));
    assert!(report["recommendation"]["text"]
        .as_str()
        .unwrap()
        .contains("Partition-point defence: "));
    assert_eq!(report["sweep"]["status"], "disabled");
    let files: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for f in [
        "defence_alphas.csv",
        "defence_tradeoff.svg",
        "defend/report.md",
    ] {
        assert!(files.contains(&f), "{f} not in {files:?}");
    }
    let prov = &report["provenance"];
    assert_eq!(prov["step_seconds"].as_array().unwrap().len(), 5);
    assert!(prov["seeds"].to_string().contains("defend.schedule.seed"));
    for f in ["report.md", "report.html"] {
        let doc = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(
            doc.contains("Defence of the partition point") && doc.contains("defence_tradeoff.png"),
            "{f}:\n{doc}"
        );
    }
    // The effective config keeps the section, every field filled in from the preset.
    let cfg: toml::Table = std::fs::read_to_string(dir.join("config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(cfg["defend"]["preset"].as_str(), Some("tiny"));
    assert_eq!(cfg["defend"]["defence_images"].as_integer(), Some(256));
}
