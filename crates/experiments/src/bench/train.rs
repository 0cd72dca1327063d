//! The training-step benchmark (`privsplit bench train`): one training step of the collateral adversary CNN (Ryffel et al. 2019, §5) at a
//! given batch size, burn (flex CPU backend) against PyTorch (`bench/pytorch_train_step.py`) when
//! `python3 -c "import torch"` works.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Int, Tensor};
use privsplit_models::adversary::{AdversaryConfig, AdversaryKind};
use privsplit_models::train::{cross_entropy, scalar, OptimizerConfig};
use serde::Serialize;

use crate::{Error, Result, StepContext};

/// Settings of the training-step benchmark.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchTrainConfig {
    /// Images per step.
    pub batch: usize,
    /// Size k of the private output (the adversary's input).
    pub k: usize,
    /// Sensitive classes (the adversary's outputs).
    pub classes: usize,
    /// Timed steps (the median is reported).
    pub steps: usize,
    /// Untimed warm-up steps.
    pub warmup: usize,
    /// The PyTorch script (`bench/pytorch_train_step.py`).
    pub script: PathBuf,
    /// Skip PyTorch even when it is installed.
    pub no_pytorch: bool,
}

/// What the benchmark measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchTrainResult {
    /// The network.
    pub network: &'static str,
    /// Images per step.
    pub batch: usize,
    /// Timed steps.
    pub steps: usize,
    /// Median step time of burn's flex CPU backend (ms).
    pub burn_flex_median_ms: f64,
    /// Median step time of PyTorch (ms), when measured.
    pub pytorch_median_ms: Option<f64>,
    /// Why PyTorch was not measured.
    pub pytorch_absent_reason: Option<String>,
    /// burn / PyTorch.
    pub ratio_burn_over_pytorch: Option<f64>,
    /// Untimed warm-up steps.
    #[serde(skip)]
    pub warmup: usize,
}

impl BenchTrainResult {
    /// The result as text (what `privsplit bench train` prints).
    pub fn text(&self) -> String {
        let mut s = format!(
            "collateral adversary CNN, batch {}, median of {} steps after {} warm-up:\n  burn 0.22.1 flex : {:9.2} ms/step\n",
            self.batch, self.steps, self.warmup, self.burn_flex_median_ms
        );
        match (self.pytorch_median_ms, &self.pytorch_absent_reason) {
            (Some(t), _) => s.push_str(&format!(
                "  PyTorch (CPU)    : {t:9.2} ms/step\n  ratio burn/torch : {:9.2}x\n",
                self.burn_flex_median_ms / t
            )),
            (None, why) => s.push_str(&format!(
                "  PyTorch          : not measured — {}\n",
                why.as_deref().unwrap_or("unknown")
            )),
        }
        s
    }
}

/// Runs the benchmark.
///
/// # Errors
/// [`Error::Invalid`] for zero sizes or fewer than 2 classes; model errors.
pub fn run(args: &BenchTrainConfig) -> Result<BenchTrainResult> {
    if args.batch == 0 || args.steps == 0 || args.k == 0 || args.classes < 2 {
        return Err(Error::invalid(
            "bench train settings",
            "batch, steps and k > 0, classes >= 2",
            format!(
                "batch {}, steps {}, k {}, classes {}",
                args.batch, args.steps, args.k, args.classes
            ),
        ));
    }
    let burn_ms = burn_step_ms(args)?;
    let torch = if args.no_pytorch {
        Err("skipped (--no-pytorch)".to_string())
    } else {
        pytorch_step_ms(args)
    };
    Ok(BenchTrainResult {
        network: "collateral adversary CNN (Ryffel et al. 2019)",
        batch: args.batch,
        steps: args.steps,
        burn_flex_median_ms: burn_ms,
        pytorch_median_ms: torch.as_ref().ok().copied(),
        pytorch_absent_reason: torch.as_ref().err().cloned(),
        ratio_burn_over_pytorch: torch.as_ref().ok().map(|t| burn_ms / t),
        warmup: args.warmup,
    })
}

fn burn_step_ms(args: &BenchTrainConfig) -> Result<f64> {
    let device = Device::flex().autodiff();
    let mut model = AdversaryConfig {
        kind: AdversaryKind::Cnn,
        inputs: args.k,
        classes: args.classes,
    }
    .init(&device, 0)
    .step("building the adversary CNN")?;
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

fn pytorch_step_ms(args: &BenchTrainConfig) -> std::result::Result<f64, String> {
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
