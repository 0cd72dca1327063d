//! Cluster plans: the Slurm and Kubernetes files of a plan, the manifest round trip, and the merge's
//! refusal of missing, failed or foreign shards.

use std::path::{Path, PathBuf};

use privsplit_attacks::ReconstructionAttack::Cgan;
use privsplit_experiments::collateral::CollateralConfig;
use privsplit_experiments::plan::{
    config_sha256, file_sha256, merge_plan, write_plan, CollateralGrid, GridData, PlanGrid,
    PlanManifest, PlanSpec, Resources, SweepGrid,
};
use privsplit_experiments::sweep::{
    AttackScore, PointResult, SweepConfig, SweepPreset, SweepReport,
};

fn sweep_grid(points: &[usize], weights: Option<PathBuf>) -> SweepGrid {
    SweepGrid {
        preset: SweepPreset::Tiny,
        points: points.to_vec(),
        input_size: None,
        eval_images: Some(8),
        train_epochs: Some(1),
        rmle_steps: None,
        weights,
        data_dir: None,
    }
}

fn spec(dir: &Path, grid: PlanGrid, resources: Resources) -> PlanSpec {
    PlanSpec {
        name: "test-plan".into(),
        dir: dir.to_path_buf(),
        bin: "/opt/privsplit/bin/privsplit".into(),
        grid,
        resources,
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).expect(file)
}

#[test]
fn sweep_plan_writes_array_resources_dependency_and_round_trips() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let res = Resources {
        cpus: 3,
        mem_mb: 1500,
        time_min: 90,
        gpu: true,
        partition: Some("gpu".into()),
        ..Resources::default()
    };
    let grid = sweep_grid(&[0, 2, 5], None);
    let m = write_plan(&spec(tmp.path(), PlanGrid::Sweep(grid.clone()), res)).expect("plan");
    let array = read(tmp.path(), "array.sbatch");
    for want in [
        "#SBATCH --array=0-2\n",
        "#SBATCH --cpus-per-task=3\n",
        "#SBATCH --mem=1500M\n",
        "#SBATCH --time=01:30:00\n",
        "#SBATCH --gres=gpu:1\n",
        "#SBATCH --partition=gpu\n",
        "logs/shard-%a.log",
        "$SLURM_ARRAY_TASK_ID",
    ] {
        assert!(
            array.contains(want),
            "array.sbatch lacks {want:?}:\n{array}"
        );
    }
    let submit = read(tmp.path(), "submit.sh");
    assert!(submit.contains("sbatch --parsable"), "{submit}");
    assert!(
        submit.contains("--dependency=afterok:\"$array\""),
        "{submit}"
    );
    assert!(read(tmp.path(), "merge.sbatch").contains("plan merge"));
    let shard = read(tmp.path(), "shard.sh");
    assert!(shard.contains("--points 5"), "{shard}");
    assert!(shard.contains("--device cuda"), "{shard}");
    let k8s = read(tmp.path(), "k8s-shards.yaml");
    for want in [
        "completionMode: Indexed",
        "completions: 3",
        "JOB_COMPLETION_INDEX",
        "nvidia.com/gpu: 1",
    ] {
        assert!(k8s.contains(want), "k8s-shards.yaml lacks {want:?}:\n{k8s}");
    }
    assert!(read(tmp.path(), "k8s-merge.yaml").contains("plan merge"));

    // The manifest: one shard per point, paths, hashes; read back equal.
    assert_eq!(m.shards.len(), 3);
    assert_eq!(m.shards[2].params.point, Some(5));
    assert_eq!(m.shards[2].log, PathBuf::from("logs/shard-2.log"));
    assert_eq!(
        m.config_sha256,
        config_sha256(&grid.config()).expect("hash")
    );
    assert_eq!(m.config_sha256.len(), 64);
    assert_eq!(m.weights_sha256, None);
    assert_eq!(PlanManifest::read(tmp.path()).expect("read"), m);
}

#[test]
fn collateral_plan_has_one_shard_per_alpha_and_seed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let grid = CollateralGrid {
        config: CollateralConfig::default(),
        alphas: vec![0.0, 1.5],
        seeds: vec![3, 4],
        data: GridData::Synthetic {
            train: 100,
            test: 50,
        },
    };
    let m = write_plan(&spec(
        tmp.path(),
        PlanGrid::Collateral(grid.clone()),
        Resources::default(),
    ))
    .expect("plan");
    assert_eq!(m.shards.len(), 4);
    let p = &m.shards[3].params;
    assert_eq!((p.alpha, p.seed), (Some(1.5), Some(4)));
    let args = m.shards[3].args.join(" ");
    assert!(
        args.contains("--alpha 1.5") && args.contains("--seed 4") && args.contains("--synthetic"),
        "{args}"
    );
    assert!(!read(tmp.path(), "array.sbatch").contains("--gres"));
    // Per-shard settings do not enter the hash.
    let other = CollateralConfig {
        alphas: vec![9.0],
        seed: 77,
        ..CollateralConfig::default()
    };
    let again = CollateralGrid {
        config: other,
        ..grid
    };
    assert_eq!(
        config_sha256(&again.shared_config()).expect("hash"),
        m.config_sha256
    );
}

#[test]
fn plan_rejects_bad_input() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = |grid: SweepGrid, name: &str, dir: &Path| {
        let mut s = spec(dir, PlanGrid::Sweep(grid), Resources::default());
        s.name = name.into();
        write_plan(&s).expect_err("bad plan")
    };
    assert!(bad(sweep_grid(&[], None), "ok", tmp.path())
        .to_string()
        .contains("at least one partition point"));
    assert!(bad(sweep_grid(&[1, 1], None), "ok", tmp.path())
        .to_string()
        .contains("1 twice"));
    assert!(bad(sweep_grid(&[1], None), "Bad Name", tmp.path())
        .to_string()
        .contains("plan name"));
    assert!(bad(sweep_grid(&[1], None), "ok", Path::new("rel/dir"))
        .to_string()
        .contains("absolute"));
    let missing = tmp.path().join("nope.safetensors");
    assert!(bad(sweep_grid(&[1], Some(missing)), "ok", tmp.path())
        .to_string()
        .contains("nope.safetensors"));
}

/// A sweep report of one partition point, as `privsplit sweep --points k` writes it.
fn shard_report(cfg: &SweepConfig, k: usize, ssim: f64) -> SweepReport {
    SweepReport {
        config: SweepConfig {
            points: Some(vec![k]),
            ..cfg.clone()
        },
        num_stages: 6,
        stage_names: Vec::new(),
        model_accuracy: Some(0.8),
        test_accuracy: None,
        baseline: None,
        points: vec![PointResult {
            k,
            stage: format!("s{k}"),
            feature_shape: [1, 2, 2],
            feature_bytes: 16,
            trusted_flops: 10 * k as u64,
            trusted_param_bytes: 4 * k,
            untrusted_flops: 1,
            untrusted_param_bytes: 4,
            trusted_ms: 0.1,
            untrusted_ms: 0.1,
            attacks: vec![AttackScore {
                attack: Cgan,
                ssim,
                ssim_std: 0.01,
                psnr: 12.0,
                accuracy: None,
                images: 8,
                seconds: 1.0,
                grid: Vec::new(),
                leakage: None,
            }],
            enclave: None,
        }],
        recommendation: None,
        image_shape: [1, 28, 28],
        originals: Vec::new(),
        seconds: 1.0,
        train_seconds: 0.5,
        priors: Vec::new(),
        verdicts: Vec::new(),
        floor: None,
        repeats: None,
    }
}

fn put_shard(m: &PlanManifest, i: usize, r: &SweepReport) {
    let d = m
        .dir
        .join(&m.shards[i].output)
        .join("sweep-20260101T000000Z");
    std::fs::create_dir_all(&d).expect("mkdir");
    privsplit_report::write_json(&d.join("report.json"), r).expect("write");
}

#[test]
fn merge_refuses_missing_failed_and_foreign_shards_then_joins_complete_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let grid = sweep_grid(&[0, 2, 4], None);
    let cfg = grid.config();
    let m = write_plan(&spec(
        tmp.path(),
        PlanGrid::Sweep(grid),
        Resources::default(),
    ))
    .expect("plan");
    put_shard(&m, 0, &shard_report(&cfg, 0, 0.9));
    put_shard(&m, 2, &shard_report(&cfg, 4, 0.1));

    // Shard 1 missing: named with its index and log path.
    let e = merge_plan(tmp.path())
        .expect_err("missing shard")
        .to_string();
    let log1 = tmp.path().join("logs/shard-1.log");
    assert!(e.contains("shard 1: missing"), "{e}");
    assert!(e.contains(&format!("(log: {})", log1.display())), "{e}");
    assert!(!e.contains("shard 0:") && !e.contains("shard 2:"), "{e}");

    // Shard 1 from another configuration.
    let other = SweepConfig {
        eval_images: cfg.eval_images + 1,
        ..cfg.clone()
    };
    put_shard(&m, 1, &shard_report(&other, 2, 0.5));
    let e = merge_plan(tmp.path())
        .expect_err("foreign config")
        .to_string();
    assert!(
        e.contains("shard 1:") && e.contains("config SHA-256") && e.contains(&m.config_sha256),
        "{e}"
    );

    // Shard 1 failed (its task wrote the exit status).
    put_shard(&m, 1, &shard_report(&cfg, 2, 0.5));
    let failed = m.dir.join(&m.shards[1].output).join("FAILED");
    std::fs::write(&failed, "3\n").expect("write");
    let e = merge_plan(tmp.path())
        .expect_err("failed shard")
        .to_string();
    assert!(
        e.contains("shard 1: failed with exit status 3") && e.contains(&log1.display().to_string()),
        "{e}"
    );
    std::fs::remove_file(&failed).expect("rm");

    // Complete: joined, recommendation recomputed over all points.
    let merged = merge_plan(tmp.path()).expect("merge");
    let r: SweepReport =
        privsplit_report::read_json(&merged.folder.join("report.json")).expect("read");
    assert_eq!(r.points.iter().map(|p| p.k).collect::<Vec<_>>(), [0, 2, 4]);
    assert_eq!(r.config.points, Some(vec![0, 2, 4]));
    assert_eq!(r.recommendation.map(|x| x.k), Some(4));
    assert!(merged.folder.starts_with(tmp.path()));
}

#[test]
fn merge_refuses_a_shard_that_read_other_weights() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = tmp.path().join("model.safetensors");
    std::fs::write(&w, b"weights v1").expect("write");
    let grid = sweep_grid(&[1], Some(w.clone()));
    let cfg = grid.config();
    let dir = tmp.path().join("plan");
    let m = write_plan(&spec(&dir, PlanGrid::Sweep(grid), Resources::default())).expect("plan");
    assert_eq!(
        m.weights_sha256.as_deref(),
        Some(file_sha256(&w).expect("hash").as_str())
    );
    assert!(read(&dir, "shard.sh").contains("sha256sum"));
    put_shard(&m, 0, &shard_report(&cfg, 1, 0.2));
    let stamp = m.dir.join(&m.shards[0].output).join("weights.sha256");
    std::fs::write(&stamp, format!("{}\n", "0".repeat(64))).expect("write");
    let e = merge_plan(&dir).expect_err("other weights").to_string();
    assert!(
        e.contains("shard 0: ran on weights") && e.contains("logs/shard-0.log"),
        "{e}"
    );
    std::fs::write(
        &stamp,
        format!("{}\n", m.weights_sha256.clone().expect("hash")),
    )
    .expect("write");
    merge_plan(&dir).expect("merge");
}

/// Runs the plan's own `shard.sh INDEX` as a Slurm task would, with a decoy `PRIVSPLIT_BIN` in the
/// environment (Slurm copies the submitting shell's variables into the task).
#[cfg(unix)]
fn run_shard_script(dir: &Path, index: usize) -> std::process::Output {
    std::process::Command::new("sh")
        .arg(dir.join("shard.sh"))
        .arg(index.to_string())
        .env("PRIVSPLIT_BIN", "/bin/true")
        .output()
        .expect("run sh shard.sh")
}

#[cfg(unix)]
#[test]
fn a_failing_shard_binary_and_a_missing_shard_make_the_merge_fail_by_index_and_log() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let grid = CollateralGrid {
        config: CollateralConfig::default(),
        alphas: vec![0.0, 2.0],
        seeds: vec![0],
        data: GridData::Synthetic {
            train: 100,
            test: 50,
        },
    };
    let mut s = spec(tmp.path(), PlanGrid::Collateral(grid), Resources::default());
    s.bin = "/bin/false".into();
    let m = write_plan(&s).expect("plan");

    // Shard 0 runs the plan's binary (not the decoy from the environment), which exits with 1.
    let out = run_shard_script(tmp.path(), 0);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let marker = m.dir.join(&m.shards[0].output).join("FAILED");
    assert_eq!(
        std::fs::read_to_string(&marker).expect("FAILED").trim(),
        "1"
    );

    // Shard 1 never ran.
    let e = merge_plan(tmp.path()).expect_err("failed plan").to_string();
    let log = |i: usize| tmp.path().join(format!("logs/shard-{i}.log"));
    assert!(
        e.contains(&format!(
            "shard 0: failed with exit status 1 (log: {})",
            log(0).display()
        )),
        "{e}"
    );
    assert!(
        e.contains("shard 1: missing") && e.contains(&format!("(log: {})", log(1).display())),
        "{e}"
    );

    // A rerun of shard 0 clears its old marker; an index outside the plan is refused.
    std::fs::write(m.dir.join(&m.shards[0].output).join("stale"), "x").expect("write");
    assert_eq!(run_shard_script(tmp.path(), 0).status.code(), Some(1));
    assert!(!m.dir.join(&m.shards[0].output).join("stale").exists());
    let out = run_shard_script(tmp.path(), 7);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no shard 7"));
    let merged = std::fs::read_dir(tmp.path())
        .expect("read plan folder")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("merged"))
        .count();
    assert_eq!(merged, 0, "a failed merge left a run folder");
}

/// `PlanSpec::new` makes a sweep grid's weights absolute (every node reads the same file) and refuses
/// weights it cannot read, naming the flag and the file.
#[test]
fn plan_spec_resolves_the_weights_or_names_the_missing_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(tmp.path().join("sub")).expect("mkdir");
    let w = tmp.path().join("model.safetensors");
    std::fs::write(&w, b"weights").expect("write");
    let dotted = tmp.path().join("sub").join("..").join("model.safetensors");
    let grid = PlanGrid::Sweep(sweep_grid(&[1], Some(dotted)));
    let dir = tmp.path().join("plan");
    let s = PlanSpec::new(
        "p",
        &dir,
        Some("privsplit".into()),
        grid,
        Resources::default(),
    )
    .expect("spec");
    let PlanGrid::Sweep(g) = &s.grid else {
        panic!("a sweep grid stays a sweep grid")
    };
    assert_eq!(
        g.weights.as_deref(),
        Some(w.canonicalize().expect("canon").as_path())
    );
    let missing = PlanGrid::Sweep(sweep_grid(&[1], Some(tmp.path().join("nope.safetensors"))));
    let e = PlanSpec::new(
        "p",
        &dir,
        Some("privsplit".into()),
        missing,
        Resources::default(),
    )
    .expect_err("missing weights")
    .to_string();
    assert!(
        e.contains("--weights") && e.contains("nope.safetensors"),
        "{e}"
    );
}
