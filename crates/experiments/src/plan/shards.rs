//! Cutting a [`PlanSpec`] into shards: one job per partition point (sweep) or per (alpha, seed)
//! (collateral learning), each with its command line, output folder and log file, recorded in the
//! manifest; and writing the plan folder (`plan.json`, the Slurm array script, the Kubernetes manifests).

use std::path::{Path, PathBuf};

use super::spec::{
    config_sha256, file_sha256, CollateralGrid, GridData, PlanGrid, PlanManifest, PlanSpec,
    ShardParams, ShardSpec, SweepGrid, MANIFEST_FILE, MANIFEST_VERSION,
};
use super::{kube, slurm};
use crate::{Error, Result};

fn shard_paths(i: usize) -> (PathBuf, PathBuf) {
    (
        PathBuf::from(format!("shards/shard-{i}")),
        PathBuf::from(format!("logs/shard-{i}.log")),
    )
}

fn sweep_shards(g: &SweepGrid, dir: &Path, extra: &[String]) -> Result<Vec<ShardSpec>> {
    if g.points.is_empty() {
        return Err(Error::invalid(
            "plan points",
            "at least one partition point",
            "none",
        ));
    }
    let mut shards = Vec::with_capacity(g.points.len());
    for (i, &k) in g.points.iter().enumerate() {
        if g.points[..i].contains(&k) {
            return Err(Error::invalid(
                "plan points",
                "distinct partition points",
                format!("{k} twice"),
            ));
        }
        let (output, log) = shard_paths(i);
        let mut a: Vec<String> = vec!["sweep".into(), "--preset".into(), g.preset.name().into()];
        a.extend(["--points".into(), k.to_string()]);
        let opt = |a: &mut Vec<String>, flag: &str, v: Option<String>| {
            if let Some(v) = v {
                a.extend([flag.to_string(), v]);
            }
        };
        opt(&mut a, "--input-size", g.input_size.map(|v| v.to_string()));
        opt(
            &mut a,
            "--eval-images",
            g.eval_images.map(|v| v.to_string()),
        );
        opt(
            &mut a,
            "--train-epochs",
            g.train_epochs.map(|v| v.to_string()),
        );
        opt(&mut a, "--rmle-steps", g.rmle_steps.map(|v| v.to_string()));
        opt(
            &mut a,
            "--weights",
            g.weights.as_ref().map(|p| p.display().to_string()),
        );
        opt(
            &mut a,
            "--data-dir",
            g.data_dir.as_ref().map(|p| p.display().to_string()),
        );
        a.extend(["--out".into(), dir.join(&output).display().to_string()]);
        a.extend(["--name".into(), "sweep".into()]);
        a.extend(extra.iter().cloned());
        shards.push(ShardSpec {
            index: i,
            params: ShardParams {
                point: Some(k),
                alpha: None,
                seed: None,
            },
            args: a,
            output,
            log,
        });
    }
    Ok(shards)
}

fn collateral_shards(g: &CollateralGrid, dir: &Path, extra: &[String]) -> Result<Vec<ShardSpec>> {
    if g.alphas.is_empty() || g.seeds.is_empty() {
        return Err(Error::invalid(
            "plan alphas and seeds",
            "at least one alpha and one seed",
            format!("{} alphas, {} seeds", g.alphas.len(), g.seeds.len()),
        ));
    }
    let c = &g.config;
    let attackers: Vec<&str> = c.attackers.iter().map(|a| a.name()).collect();
    let (data_flag, train, test) = match g.data {
        GridData::Synthetic { train, test } => ("--synthetic", train, test),
        GridData::Fonts { train, test } => ("--fonts-default", train, test),
    };
    if train == 0 || test == 0 {
        return Err(Error::invalid(
            "plan data",
            "--train and --test above 0",
            format!("{train} training and {test} test images"),
        ));
    }
    let mut shards = Vec::new();
    for &seed in &g.seeds {
        for &alpha in &g.alphas {
            if !(alpha.is_finite() && alpha >= 0.0) {
                return Err(Error::invalid(
                    "plan alpha",
                    "a finite value >= 0",
                    alpha.to_string(),
                ));
            }
            let i = shards.len();
            let (output, log) = shard_paths(i);
            let mut a: Vec<String> = vec!["collateral".into(), data_flag.into()];
            for (flag, v) in [
                ("--train", train.to_string()),
                ("--test", test.to_string()),
                ("--plain-epochs", c.plain_epochs.to_string()),
                ("--defence-epochs", c.defence_epochs.to_string()),
                ("--recovery-epochs", c.recovery_epochs.to_string()),
                ("--batch", c.batch_size.to_string()),
                ("--lr", c.lr.to_string()),
                ("--attackers", attackers.join(",")),
                (
                    "--defence-adversary",
                    c.defence_adversary.name().to_string(),
                ),
                ("--alpha", alpha.to_string()),
                ("--seed", seed.to_string()),
                (
                    "--json",
                    dir.join(&output).join("outcome.json").display().to_string(),
                ),
            ] {
                a.extend([flag.to_string(), v]);
            }
            a.extend(extra.iter().cloned());
            shards.push(ShardSpec {
                index: i,
                params: ShardParams {
                    point: None,
                    alpha: Some(alpha),
                    seed: Some(seed),
                },
                args: a,
                output,
                log,
            });
        }
    }
    Ok(shards)
}

/// Builds the manifest of `spec`: one shard per partition point, or per (seed, alpha) with the alphas
/// varying fastest; hashes the shared configuration and the weights file.
///
/// # Errors
/// [`Error::Invalid`] on an empty or repeated grid, a bad plan name or zero resources; [`Error::Io`] when the
/// weights file cannot be read.
pub fn build_manifest(spec: &PlanSpec) -> Result<PlanManifest> {
    let ok_name = !spec.name.is_empty()
        && spec.name.len() <= 40
        && spec
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !spec.name.starts_with('-');
    if !ok_name {
        return Err(Error::invalid(
            "plan name",
            "1 to 40 lower-case letters, digits or '-', not starting with '-'",
            &spec.name,
        ));
    }
    let r = &spec.resources;
    if r.cpus == 0 || r.mem_mb == 0 || r.time_min == 0 {
        return Err(Error::invalid(
            "plan resources",
            "cpus, memory (MiB) and time (min) above 0",
            format!("{} cpus, {} MiB, {} min", r.cpus, r.mem_mb, r.time_min),
        ));
    }
    if !spec.dir.is_absolute() {
        return Err(Error::invalid(
            "plan folder",
            "an absolute path",
            spec.dir.display().to_string(),
        ));
    }
    let extra = r.shard_args()?;
    let extra = extra.as_slice();
    let (shards, config_sha256, weights) = match &spec.grid {
        PlanGrid::Sweep(g) => {
            let cfg = g.config();
            cfg.validate()?;
            (
                sweep_shards(g, &spec.dir, extra)?,
                config_sha256(&cfg)?,
                g.weights.clone(),
            )
        }
        PlanGrid::Collateral(g) => {
            g.config.validate()?;
            (
                collateral_shards(g, &spec.dir, extra)?,
                config_sha256(&g.shared_config())?,
                None,
            )
        }
    };
    let weights_sha256 = weights.as_deref().map(file_sha256).transpose()?;
    Ok(PlanManifest {
        version: MANIFEST_VERSION,
        name: spec.name.clone(),
        dir: spec.dir.clone(),
        bin: spec.bin.clone(),
        grid: spec.grid.clone(),
        config_sha256,
        weights,
        weights_sha256,
        resources: spec.resources.clone(),
        shards,
    })
}

/// Writes the plan into `spec.dir` (created): `plan.json`, `shard.sh` (runs one shard by index),
/// `array.sbatch`, `merge.sbatch`, `submit.sh`, `k8s-shards.yaml`, `k8s-merge.yaml`, and the empty
/// `shards/` and `logs/` folders. Every file is written atomically.
///
/// # Errors
/// As [`build_manifest`]; [`Error::Io`] / [`Error::Report`] when a folder or file cannot be written.
pub fn write_plan(spec: &PlanSpec) -> Result<PlanManifest> {
    let m = build_manifest(spec)?;
    for sub in ["shards", "logs"] {
        let p = spec.dir.join(sub);
        std::fs::create_dir_all(&p).map_err(|source| Error::Io { path: p, source })?;
    }
    let json = serde_json::to_vec_pretty(&m)
        .map_err(|e| Error::invalid("plan manifest", "a JSON-serialisable value", e.to_string()))?;
    let files = [
        (MANIFEST_FILE, json),
        ("shard.sh", slurm::shard_script(&m).into_bytes()),
        ("array.sbatch", slurm::array_script(&m).into_bytes()),
        ("merge.sbatch", slurm::merge_script(&m).into_bytes()),
        ("submit.sh", slurm::submit_script(&m).into_bytes()),
        ("k8s-shards.yaml", kube::shards_job(&m).into_bytes()),
        ("k8s-merge.yaml", kube::merge_job(&m).into_bytes()),
    ];
    for (name, bytes) in files {
        privsplit_report::write_atomic(&spec.dir.join(name), &bytes)?;
    }
    Ok(m)
}
