//! Every trainer takes its device from its config (`--device`), never a hard-coded CPU: given a backend
//! this build does not have, each one refuses with the error naming that device and its cargo feature,
//! before training anything. The device a run used is what its outputs record.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use privsplit_attacks::collateral::{collateral_attack, CollateralAttackConfig, SensitiveView};
use privsplit_attacks::AttributeAttacker;
use privsplit_defenses::synthetic::seven_segment_split;
use privsplit_experiments::bench::train::{run as bench_train, BenchTrainConfig};
use privsplit_experiments::collateral::{run_collateral, run_main_task, CollateralConfig};
use privsplit_experiments::defend::{run_defend, DefendConfig};
use privsplit_experiments::run::RunConfig;
use privsplit_experiments::sweep::{run_sweep, SweepConfig};
use privsplit_models::adversary::AdversaryKind;
use privsplit_models::device::DeviceChoice;
use privsplit_models::tabular::train_tabular;
use privsplit_models::tensor::Features;
use privsplit_models::train::{OptimizerConfig, TrainConfig};
use privsplit_models::zoo::ArchConfig;

/// A backend this build lacks (`None` when all are compiled in: nothing to refuse).
fn absent() -> Option<DeviceChoice> {
    [DeviceChoice::Cuda, DeviceChoice::Wgpu, DeviceChoice::Cpu]
        .into_iter()
        .find(|d| !d.compiled_in())
}

fn assert_refused(what: &str, dev: DeviceChoice, err: impl std::fmt::Display) {
    let e = err.to_string();
    assert!(
        e.contains(&format!("device {dev}")) && e.contains(&format!("--features {dev}")),
        "{what}: {e}"
    );
}

#[test]
fn every_trainer_takes_the_device_of_its_config() {
    let Some(dev) = absent() else {
        eprintln!("every backend is compiled in: nothing to refuse");
        return;
    };
    let data = seven_segment_split(64, 32, 1);
    // Collateral learning: main task, plain phase + defence + adversaries.
    let cfg = CollateralConfig {
        plain_epochs: 1,
        defence_epochs: 1,
        recovery_epochs: 1,
        alphas: vec![0.0],
        attackers: vec![AttributeAttacker::Mlp],
        device: dev,
        ..CollateralConfig::default()
    };
    assert_refused(
        "main task",
        dev,
        run_main_task(&cfg, &data, &mut |_| {}).unwrap_err(),
    );
    assert_refused(
        "collateral",
        dev,
        run_collateral(&cfg, &data, &mut |_| {}).unwrap_err(),
    );
    // A neural attacker of the sensitive attribute on its own.
    let view = |n: usize| SensitiveView {
        outputs: Features::new(vec![0.5; n * 4], n, 4).unwrap(),
        sensitive: (0..n).map(|i| (i % 2) as u8).collect(),
        classes: 2,
    };
    let schedule = TrainConfig {
        epochs: 1,
        batch_size: 8,
        optimizer: OptimizerConfig::sgd(0.01, 0.9),
        seed: 1,
        device: dev,
    };
    let attack = CollateralAttackConfig {
        adversary: AdversaryKind::Cnn,
        train: schedule,
        average_last: 0,
    };
    assert_refused(
        "attacker",
        dev,
        collateral_attack(&attack, &view(16), &view(8), &mut |_| {}).unwrap_err(),
    );
    // Partition sweep: victim classifier, c-GAN, inverse network, rMLE.
    let sweep = SweepConfig {
        device: dev,
        ..SweepConfig::tiny()
    };
    assert_refused(
        "sweep",
        dev,
        run_sweep(&sweep, &data, &mut |_| {}).unwrap_err(),
    );
    // Partition-point defence (reconstruction defence, NoPeek): the victim, the defence and its attackers.
    let mut defend = DefendConfig::tiny();
    defend.sweep.device = dev;
    let dir = tempfile::tempdir().unwrap();
    assert_refused(
        "defend",
        dev,
        run_defend(&defend, &data, dir.path(), &mut |_| {}).unwrap_err(),
    );
    // Tabular MLP victim.
    let x = Features::new(vec![0.1; 16 * 4], 16, 4).unwrap();
    let y: Vec<u8> = (0..16).map(|i| (i % 2) as u8).collect();
    let arch = ArchConfig::tabular_mlp(4, 2);
    assert_refused(
        "tabular",
        dev,
        train_tabular(&arch, &x, &y, &schedule, &mut |_| {}).unwrap_err(),
    );
    // The training benchmark.
    let bench = BenchTrainConfig {
        batch: 8,
        k: 4,
        classes: 2,
        steps: 1,
        warmup: 0,
        script: "absent.py".into(),
        no_pytorch: true,
        device: dev,
    };
    assert_refused("bench train", dev, bench_train(&bench).unwrap_err());
}

#[test]
fn the_run_config_carries_one_device_to_both_steps_and_its_report() {
    let cfg = RunConfig::from_toml(
        "",
        "test",
        &[
            "collateral.device=\"flex\"".into(),
            "sweep.device=\"flex\"".into(),
        ],
    )
    .unwrap();
    assert_eq!(cfg.collateral.device, DeviceChoice::Flex);
    assert_eq!(cfg.sweep.sweep_config().unwrap().device, DeviceChoice::Flex);
    assert_eq!(cfg.device_label(), "flex");
    let err = RunConfig::from_toml("", "test", &["sweep.device=\"tpu\"".into()]).unwrap_err();
    assert!(err.to_string().contains("tpu"), "{err}");
}

#[test]
fn the_training_benchmark_reports_its_device_threads_and_three_networks() {
    let r = bench_train(&BenchTrainConfig {
        batch: 8,
        k: 4,
        classes: 2,
        steps: 2,
        warmup: 1,
        script: "absent.py".into(),
        no_pytorch: true,
        device: DeviceChoice::Flex,
    })
    .unwrap();
    assert_eq!(r.device, "flex");
    assert_eq!(r.threads, privsplit_models::device::threads());
    let names: Vec<_> = r.rows.iter().map(|x| x.network).collect();
    assert_eq!(names, ["adversary-cnn", "cgan-pool1", "quadratic"]);
    for row in &r.rows {
        assert!(
            row.burn_median_ms > 0.0 && row.pytorch_median_ms.is_none(),
            "{row:?}"
        );
    }
    assert!(r.text().contains("--no-pytorch"), "{}", r.text());
}
