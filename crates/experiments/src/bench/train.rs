//! The training-step benchmark (`privsplit bench train`): one training step of each of the three networks
//! that dominate privsplit's training time, in burn (on `--device`) and in PyTorch
//! (`bench/pytorch_train_step.py`, CPU) with the same thread count, when `python3 -c "import torch"` works:
//!
//! - `adversary-cnn`: the collateral adversary CNN of Ryffel et al. 2019, §5 (`Linear k->784 -> 1x28x28 ->
//!   conv5x5 20 -> maxpool -> conv5x5 50 -> maxpool -> FC 500 -> FC classes`), SGD lr 0.01 momentum 0.9;
//! - `cgan-pool1`: the c-GAN discriminator + generator step of the Fashion-MNIST sweep at the pool1
//!   partition point (feature map `[32, 14, 14]` -> image `[1, 28, 28]`, batch 32, decoder 24/12 channels,
//!   Adam lr 2e-3 beta1 0.5, L1 weight 100; pix2pix, Isola et al. 2017, §3), run by `train_cgan` itself;
//! - `quadratic`: the quadratic network of Ryffel et al. 2019 (`784 -> 40 -> square -> 4 -> 32 -> 10`),
//!   SGD lr 0.01 momentum 0.9, run by the collateral main-task trainer (`train::fit`).
//!
//! Each figure is the median step time (ms) after untimed warm-up steps.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use burn::optim::GradientsParams;
use burn::tensor::{Distribution, Int, Tensor};
use privsplit_attacks::cgan::{train_cgan, CganConfig};
use privsplit_models::adversary::{AdversaryConfig, AdversaryKind};
use privsplit_models::device::{device_name, threads, DeviceChoice};
use privsplit_models::quadratic::QuadraticConfig;
use privsplit_models::tensor::Features;
use privsplit_models::train::{cross_entropy, fit, scalar, OptimizerConfig, TrainConfig};
use serde::Serialize;

use crate::collateral::init_network;
use crate::sweep::SweepConfig;
use crate::{Error, Result, StepContext};

/// Settings of the training-step benchmark (the flags of `privsplit bench train`).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct BenchTrainConfig {
    /// Images per step of the adversary CNN and the quadratic network (the c-GAN uses the sweep's 32).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 128))]
    pub batch: usize,
    /// Size k of the private output (the adversary's input).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 4))]
    pub k: usize,
    /// Sensitive classes (the adversary's outputs).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 2))]
    pub classes: usize,
    /// Timed steps (the median is reported).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 20))]
    pub steps: usize,
    /// Untimed warm-up steps.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 3))]
    pub warmup: usize,
    /// The PyTorch script.
    #[cfg_attr(
        feature = "clap",
        arg(long, default_value = "bench/pytorch_train_step.py")
    )]
    pub script: PathBuf,
    /// Skip PyTorch even when it is installed.
    #[cfg_attr(feature = "clap", arg(long))]
    pub no_pytorch: bool,
    /// Where burn's steps run (set from the command line's `--device`).
    #[cfg_attr(feature = "clap", arg(skip))]
    pub device: DeviceChoice,
}

/// One network's step time in burn and in PyTorch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchTrainRow {
    /// The network (`adversary-cnn`, `cgan-pool1`, `quadratic`).
    pub network: &'static str,
    /// Images per step.
    pub batch: usize,
    /// Median step time in burn (ms).
    pub burn_median_ms: f64,
    /// Median step time in PyTorch (ms), when measured.
    pub pytorch_median_ms: Option<f64>,
    /// burn / PyTorch, when PyTorch was measured.
    pub ratio_burn_over_pytorch: Option<f64>,
}

/// What the benchmark measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchTrainResult {
    /// burn's device (`flex`, `cpu`, `cuda`, `wgpu`).
    pub device: &'static str,
    /// CPU threads of burn (the rayon pool) and of PyTorch (`torch.set_num_threads`).
    pub threads: usize,
    /// Timed steps per network.
    pub steps: usize,
    /// Untimed warm-up steps per network.
    pub warmup: usize,
    /// One row per network.
    pub rows: Vec<BenchTrainRow>,
    /// Why PyTorch was not measured.
    pub pytorch_absent_reason: Option<String>,
}

impl BenchTrainResult {
    /// The result as a Markdown table (what `privsplit bench train` prints).
    pub fn text(&self) -> String {
        let mut s = format!(
            "burn 0.22.1 on {} vs PyTorch (CPU), {} threads each, median of {} steps after {} warm-up:\n\n\
             | network | batch | burn ms/step | PyTorch ms/step | burn / PyTorch |\n|---|---|---|---|---|\n",
            self.device, self.threads, self.steps, self.warmup
        );
        for r in &self.rows {
            let (t, ratio) = match (r.pytorch_median_ms, r.ratio_burn_over_pytorch) {
                (Some(t), Some(q)) => (format!("{t:.2}"), format!("{q:.2}")),
                _ => ("-".into(), "-".into()),
            };
            s.push_str(&format!(
                "| {} | {} | {:.2} | {t} | {ratio} |\n",
                r.network, r.batch, r.burn_median_ms
            ));
        }
        if let Some(why) = &self.pytorch_absent_reason {
            s.push_str(&format!("\nPyTorch not measured: {why}\n"));
        }
        s
    }
}

/// The c-GAN's batch: the Fashion-MNIST sweep's.
const CGAN_BATCH: usize = 32;
/// The pool1 feature map of the small CNN, `[channels, height, width]`.
const POOL1: [usize; 3] = [32, 14, 14];

/// Runs the benchmark.
///
/// # Errors
/// [`Error::Invalid`] for zero sizes or fewer than 2 classes; the device's error when it cannot run;
/// model errors.
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
    let device = device_name(&args.device.resolve()?);
    let burn = [
        ("adversary-cnn", args.batch, adversary_step_ms(args)?),
        ("cgan-pool1", CGAN_BATCH, cgan_step_ms(args)?),
        ("quadratic", args.batch, quadratic_step_ms(args)?),
    ];
    let mut absent = None;
    let rows = burn
        .into_iter()
        .map(|(network, batch, burn_ms)| {
            let torch = if args.no_pytorch {
                Err("skipped (--no-pytorch)".to_string())
            } else if absent.is_some() {
                Err(String::new())
            } else {
                pytorch_step_ms(args, network, batch)
            };
            if let Err(why) = &torch {
                absent.get_or_insert_with(|| why.clone());
            }
            let t = torch.ok();
            BenchTrainRow {
                network,
                batch,
                burn_median_ms: burn_ms,
                pytorch_median_ms: t,
                ratio_burn_over_pytorch: t.map(|t| burn_ms / t),
            }
        })
        .collect();
    Ok(BenchTrainResult {
        device,
        threads: threads(),
        steps: args.steps,
        warmup: args.warmup,
        rows,
        pytorch_absent_reason: absent,
    })
}

/// Median of the step times after the warm-up ones.
fn median_after(mut times: Vec<f64>, warmup: usize) -> Result<f64> {
    let mut t = times.split_off(warmup.min(times.len()));
    if t.is_empty() {
        return Err(Error::invalid(
            "bench train",
            "at least one timed step",
            "none",
        ));
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

/// Milliseconds between successive calls (the first from construction): a step timer for trainers that
/// report every step through a progress callback.
struct StepClock(Instant, Vec<f64>);

impl StepClock {
    fn new() -> Self {
        Self(Instant::now(), Vec::new())
    }

    fn tick(&mut self) {
        let now = Instant::now();
        self.1.push((now - self.0).as_secs_f64() * 1e3);
        self.0 = now;
    }
}

fn adversary_step_ms(args: &BenchTrainConfig) -> Result<f64> {
    let device = args.device.resolve()?.autodiff();
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
    let mut clock = StepClock::new();
    for _ in 0..args.warmup + args.steps {
        let loss = cross_entropy(model.forward(z.clone()), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = opt.step(opt_cfg.lr, model, grads);
        // Force the lazy backend to finish the step before stopping the clock.
        let _ = scalar(&loss);
        let _ = privsplit_models::train::parameter_values(&model)
            .first()
            .copied();
        clock.tick();
    }
    median_after(clock.1, args.warmup)
}

/// `train_cgan` on one batch per epoch, so its per-epoch progress line marks each step.
fn cgan_step_ms(args: &BenchTrainConfig) -> Result<f64> {
    let dev = args.device.resolve()?;
    dev.seed(1);
    let [c, h, w] = POOL1;
    let z = Tensor::<4>::random([CGAN_BATCH, c, h, w], Distribution::Default, &dev);
    let img = Tensor::<4>::random([CGAN_BATCH, 1, 28, 28], Distribution::Default, &dev);
    let mut cfg: CganConfig = SweepConfig::fashion_mnist().cgan;
    cfg.train.epochs = args.warmup + args.steps;
    cfg.train.batch_size = CGAN_BATCH;
    let mut clock = StepClock::new();
    train_cgan(&z, &img, &cfg, &mut |_| clock.tick())?;
    median_after(clock.1, args.warmup)
}

/// The collateral main-task trainer (`fit`, as `run_main_task` calls it) on `warmup + steps` batches.
fn quadratic_step_ms(args: &BenchTrainConfig) -> Result<f64> {
    let device = args.device.resolve()?.autodiff();
    let net = QuadraticConfig::ryffel2019();
    let model = init_network(&net, &device, 0)?;
    let n = args.batch * (args.warmup + args.steps);
    let x = Features::new(
        (0..n * net.inputs)
            .map(|i| (i.wrapping_mul(2_654_435_761) % 1000) as f32 / 1000.0)
            .collect(),
        n,
        net.inputs,
    )?;
    let y: Vec<u8> = (0..n).map(|i| (i % net.classes) as u8).collect();
    let cfg = TrainConfig {
        epochs: 1,
        batch_size: args.batch,
        optimizer: OptimizerConfig::sgd(0.01, 0.9),
        seed: 0,
        device: args.device,
    };
    let mut clock = StepClock::new();
    fit(
        model,
        &x,
        &y,
        &cfg,
        &device,
        "bench",
        &mut |_| clock.tick(),
        None,
    )?;
    median_after(clock.1, args.warmup)
}

fn pytorch_step_ms(
    args: &BenchTrainConfig,
    network: &str,
    batch: usize,
) -> std::result::Result<f64, String> {
    let probe = Command::new("python3")
        .args(["-c", "import torch"])
        .output();
    match probe {
        Err(e) => return Err(format!("python3 not runnable ({e})")),
        Ok(o) if !o.status.success() => {
            return Err(
                "PyTorch is not installed (python3 -c \"import torch\" failed; \
                 PYTHONPATH=$(bash bench/install-pytorch.sh))"
                    .into(),
            )
        }
        Ok(_) => {}
    }
    let out = Command::new("python3")
        .arg(&args.script)
        .args(["--network", network, "--batch", &batch.to_string()])
        .args(["--k", &args.k.to_string()])
        .args(["--classes", &args.classes.to_string()])
        .args(["--steps", &args.steps.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--threads", &threads().to_string()])
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
