//! `privsplit bench train`: one training step of the collateral adversary CNN (Ryffel et al. 2019, §5) at a
//! given batch size, burn (flex CPU backend) against PyTorch (`bench/pytorch_train_step.py`) when
//! `python3 -c "import torch"` works.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Int, Tensor};
use privsplit_models::adversary::{AdversaryConfig, AdversaryKind};
use privsplit_models::train::{cross_entropy, scalar, OptimizerConfig};

/// Arguments of `privsplit bench train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Images per step.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Size k of the private output (the adversary's input).
    #[arg(long, default_value_t = 4)]
    k: usize,
    /// Sensitive classes (the adversary's outputs).
    #[arg(long, default_value_t = 2)]
    classes: usize,
    /// Timed steps (the median is reported).
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// The PyTorch script.
    #[arg(long, default_value = "bench/pytorch_train_step.py")]
    script: PathBuf,
    /// Skip PyTorch even when it is installed.
    #[arg(long)]
    no_pytorch: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `privsplit bench train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batch > 0 && args.steps > 0 && args.k > 0,
        "--batch, --steps and --k must be > 0"
    );
    anyhow::ensure!(args.classes >= 2, "--classes must be >= 2");
    let burn_ms = burn_step_ms(&args)?;
    let torch = if args.no_pytorch {
        Err("skipped (--no-pytorch)".to_string())
    } else {
        pytorch_step_ms(&args)
    };
    if args.json {
        let v = serde_json::json!({
            "network": "collateral adversary CNN (Ryffel et al. 2019)",
            "batch": args.batch,
            "steps": args.steps,
            "burn_flex_median_ms": burn_ms,
            "pytorch_median_ms": torch.as_ref().ok(),
            "pytorch_absent_reason": torch.as_ref().err(),
            "ratio_burn_over_pytorch": torch.as_ref().ok().map(|t| burn_ms / t),
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "collateral adversary CNN, batch {}, median of {} steps after {} warm-up:",
        args.batch, args.steps, args.warmup
    );
    println!("  burn 0.22.1 flex : {burn_ms:9.2} ms/step");
    match torch {
        Ok(t) => {
            println!("  PyTorch (CPU)    : {t:9.2} ms/step");
            println!("  ratio burn/torch : {:9.2}x", burn_ms / t);
        }
        Err(why) => println!("  PyTorch          : not measured — {why}"),
    }
    Ok(())
}

fn burn_step_ms(args: &Args) -> anyhow::Result<f64> {
    let device = Device::flex().autodiff();
    let mut model = AdversaryConfig {
        kind: AdversaryKind::Cnn,
        inputs: args.k,
        classes: args.classes,
    }
    .init(&device, 0)
    .context("building the adversary CNN")?;
    let opt_cfg = OptimizerConfig::sgd(0.01, 0.9);
    let mut opt = opt_cfg.init();
    device.seed(0);
    let z = Tensor::<2>::random(
        [args.batch, args.k],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let y = Tensor::<1, Int>::random(
        [args.batch],
        Distribution::Uniform(0.0, args.classes as f64),
        &device,
    );
    let mut times = Vec::with_capacity(args.steps);
    for i in 0..args.warmup + args.steps {
        let t0 = Instant::now();
        let loss = cross_entropy(model.forward(z.clone()), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = opt.step(opt_cfg.lr, model, grads);
        // Force the lazy backend to finish the step before stopping the clock.
        let _ = scalar(&loss);
        let _ = privsplit_models::train::parameter_values(&model)
            .first()
            .copied();
        if i >= args.warmup {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn pytorch_step_ms(args: &Args) -> Result<f64, String> {
    let probe = Command::new("python3")
        .args(["-c", "import torch"])
        .output();
    match probe {
        Err(e) => return Err(format!("python3 not runnable ({e})")),
        Ok(o) if !o.status.success() => {
            return Err("PyTorch is not installed (python3 -c \"import torch\" failed)".into())
        }
        Ok(_) => {}
    }
    let out = Command::new("python3")
        .arg(&args.script)
        .args([
            "--batch",
            &args.batch.to_string(),
            "--k",
            &args.k.to_string(),
        ])
        .args([
            "--classes",
            &args.classes.to_string(),
            "--steps",
            &args.steps.to_string(),
        ])
        .args(["--warmup", &args.warmup.to_string()])
        .output()
        .map_err(|e| format!("running {}: {e}", args.script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            args.script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = text
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| format!("unexpected output of {}: {text}", args.script.display()))?;
    v["median_ms"]
        .as_f64()
        .ok_or_else(|| format!("no median_ms in {v}"))
}
