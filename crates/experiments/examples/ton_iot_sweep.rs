//! The TON_IoT workload on SYNTHETIC data, end to end: generate, load, preprocess, train the 10-class and
//! the binary intrusion-detection MLPs, then sweep every partition point of the 10-class model with the
//! inverse network, the c-GAN and white-box rMLE. **The rows are SYNTHETIC** (the real TON_IoT files are not
//! shippable here); pass a real `train_test_network.csv` as `--csv FILE` to run on it instead.
//!
//! `cargo run --release -p privsplit-attacks --example ton_iot_sweep -- [--rows 50000] [--seed 1]
//!  [--epochs 8] [--attacker 5000] [--eval 1000] [--csv FILE] [--json OUT]`

use std::time::Instant;

use privsplit_attacks::tabular_sweep::{run_tabular_sweep, TabularSweepConfig, TabularSweepData};
use privsplit_data::tabular::{
    stratified_split, write_synthetic, PreprocessConfig, Preprocessor, TonIotGenConfig,
    TonIotTable, CLASSES,
};
use privsplit_models::tabular::{evaluate, train_tabular, TabularTask};
use privsplit_models::tensor::Features;
use privsplit_models::train::{OptimizerConfig, TrainConfig};
use privsplit_models::zoo::ArchConfig;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: usize = arg("--rows", "50000").parse()?;
    let seed: u64 = arg("--seed", "1").parse()?;
    let epochs: usize = arg("--epochs", "8").parse()?;
    let n_att: usize = arg("--attacker", "5000").parse()?;
    let n_eval: usize = arg("--eval", "1000").parse()?;
    let csv = arg("--csv", "");
    let dir = std::env::temp_dir().join(format!("privsplit-ton-iot-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (path, source) = if csv.is_empty() {
        let p = dir.join("ton_iot_synthetic.csv");
        write_synthetic(&p, &TonIotGenConfig { rows, seed })?;
        (
            p,
            format!("SYNTHETIC TON_IoT layout, {rows} rows, generator seed {seed}"),
        )
    } else {
        (
            std::path::PathBuf::from(&csv),
            format!("TON_IoT file {csv}"),
        )
    };
    println!("data: {source}");
    let t = Instant::now();
    let table = TonIotTable::load(&path)?;
    println!(
        "load: {} rows in {:.2} s",
        table.rows,
        t.elapsed().as_secs_f64()
    );
    let (train, test) = stratified_split(&table.class, 0.2, seed)?;
    let pre = Preprocessor::fit(&table, &train, PreprocessConfig::default())?;
    let feats = |idx: &[usize]| -> Result<Features, Box<dyn std::error::Error>> {
        Ok(Features::new(
            pre.transform(&table, idx)?,
            idx.len(),
            pre.dim(),
        )?)
    };
    let pick = |v: &[u8], idx: &[usize]| idx.iter().map(|&i| v[i]).collect::<Vec<u8>>();
    let (xtr, xte) = (feats(&train)?, feats(&test)?);
    println!(
        "split: {} train / {} test rows, {} features",
        train.len(),
        test.len(),
        pre.dim()
    );
    let cfg = TrainConfig {
        epochs,
        batch_size: 256,
        optimizer: OptimizerConfig::adam(1e-3),
        seed,
    };
    let mut models = Vec::new();
    for task in [TabularTask::Type, TabularTask::Binary] {
        let y = |idx: &[usize]| match task {
            TabularTask::Type => pick(&table.class, idx),
            TabularTask::Binary => pick(&table.label, idx),
        };
        let arch = ArchConfig::tabular_mlp(pre.dim(), task.classes());
        let t = Instant::now();
        let model = train_tabular(&arch, &xtr, &y(&train), &cfg, &mut |_| {})?;
        let train_s = t.elapsed().as_secs_f64();
        let s = evaluate(&model, &xte, &y(&test))?;
        println!(
            "{task:?}: test accuracy {:.4}, macro-F1 {:.4} ({epochs} epochs, {train_s:.1} s)",
            s.accuracy, s.macro_f1
        );
        if task == TabularTask::Type {
            for (c, pc) in CLASSES.iter().zip(&s.per_class) {
                println!("  {c:<11} F1 {:.3} (support {})", pc.f1, pc.support);
            }
        }
        models.push(model);
    }
    let att: Vec<usize> = train.iter().copied().take(n_att).collect();
    let ev: Vec<usize> = test.iter().copied().take(n_eval).collect();
    let data = TabularSweepData {
        source,
        attacker: feats(&att)?,
        eval: feats(&ev)?,
        eval_labels: pick(&table.class, &ev),
    };
    let t = Instant::now();
    let report = run_tabular_sweep(
        &models[0],
        &pre,
        &data,
        &TabularSweepConfig::standard(),
        &mut |s| eprintln!("  {s}"),
    )?;
    println!(
        "sweep: {:.1} s ({} points x 3 attacks)",
        t.elapsed().as_secs_f64(),
        report.points.len()
    );
    println!(
        "baseline (class mean of the predicted class): R2 {:.3}, categorical {:.3}, re-id {:.3} (chance {:.3})",
        report.baseline.scores.mean_r2_standardised,
        report.baseline.scores.mean_categorical_accuracy,
        report.baseline.reid.top1,
        report.baseline.reid.chance
    );
    println!(
        "| k | stage | width | attack | R2 (std.) | cat. acc | re-id top-1 [95% CI] | leaks |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for p in &report.points {
        for a in &p.attacks {
            println!(
                "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} [{:.3}, {:.3}] | {} |",
                p.k,
                p.stage,
                p.feature_size,
                a.attack.name(),
                a.scores.mean_r2_standardised,
                a.scores.mean_categorical_accuracy,
                a.reid.top1,
                a.reid.ci95[0],
                a.reid.ci95[1],
                if a.leaks { "yes" } else { "no" }
            );
        }
    }
    println!("recommendation: {:?}", report.recommendation);
    let out = arg("--json", "");
    if !out.is_empty() {
        std::fs::write(&out, serde_json::to_vec_pretty(&report)?)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
