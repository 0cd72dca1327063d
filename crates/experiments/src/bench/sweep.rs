//! `privsplit bench sweep`: training-step times of the Fashion-MNIST CNN and of the c-GAN (generator +
//! discriminator step), beside the same steps in PyTorch when `python3 -c "import torch"` works; optionally
//! the full Fashion-MNIST sweep with its time split.

use std::process::Command;
use std::time::Instant;

use std::fmt::Write as _;
use std::path::PathBuf;

use burn::tensor::{Distribution, Tensor};
use privsplit_attacks::cgan::{train_cgan, CganConfig};
use privsplit_models::classifier::{train_classifier, ClassifierTrainConfig};
use privsplit_models::device::DeviceChoice;
use privsplit_models::zoo::ArchConfig;

use crate::datasets::load_fashion_mnist;
use crate::sweep::{run_sweep, summary, SweepConfig};
use crate::{Result, StepContext};

/// Settings of the sweep benchmark (the flags of `privsplit bench sweep`).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct BenchSweepConfig {
    /// Timed steps per measurement.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 10))]
    pub steps: usize,
    /// Also run the full Fashion-MNIST sweep (all points, all attacks) and report its time split.
    #[cfg_attr(feature = "clap", arg(long))]
    pub full: bool,
    /// Fashion-MNIST folder (for `--full`).
    #[cfg_attr(
        feature = "clap",
        arg(long, default_value = privsplit_data::fashion_mnist::DEBIAN_DIR)
    )]
    pub data_dir: PathBuf,
    /// Where burn's steps (and the full sweep) run (set from the command line's `--device`).
    #[cfg_attr(feature = "clap", arg(skip))]
    pub device: DeviceChoice,
}

const TORCH_SCRIPT: &str = r#"
import sys, time, torch, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(0); torch.set_num_threads(int(sys.argv[2]))
steps = int(sys.argv[1])
cnn = nn.Sequential(nn.Conv2d(1,32,3,padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32,64,3,padding=1), nn.ReLU(),
                    nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3136,128), nn.ReLU(), nn.Linear(128,10))
opt = torch.optim.Adam(cnn.parameters(), 1e-3)
x = torch.rand(128,1,28,28); y = torch.randint(0,10,(128,))
def cnn_step():
    opt.zero_grad(); F.cross_entropy(cnn(x), y).backward(); opt.step()
class Gen(nn.Module):
    def __init__(s):
        super().__init__(); s.i = nn.Conv2d(64,32,3,padding=1); s.u1 = nn.Conv2d(32,16,3,padding=1)
        s.u2 = nn.Conv2d(16,16,3,padding=1); s.o = nn.Conv2d(16,1,3,padding=1)
    def forward(s, z):
        z = F.relu(s.i(z)); z = F.relu(s.u1(F.interpolate(z, size=(14,14))))
        z = F.relu(s.u2(F.interpolate(z, size=(28,28)))); return torch.sigmoid(s.o(z))
class Disc(nn.Module):
    def __init__(s):
        super().__init__(); s.c = nn.Conv2d(64,8,1); s.c1 = nn.Conv2d(9,16,4,2,1); s.c2 = nn.Conv2d(16,32,4,2,1)
        s.o = nn.Conv2d(32,1,3,padding=1)
    def forward(s, img, z):
        c = F.interpolate(s.c(z), size=img.shape[2:]); h = F.leaky_relu(s.c1(torch.cat([img,c],1)),0.2)
        return s.o(F.leaky_relu(s.c2(h),0.2))
g, d = Gen(), Disc(); og = torch.optim.Adam(g.parameters(), 2e-3, betas=(0.5,0.999)); od = torch.optim.Adam(d.parameters(), 2e-3, betas=(0.5,0.999))
z = torch.randn(64,64,7,7); img = torch.rand(64,1,28,28)
def gan_step():
    od.zero_grad(); fake = g(z).detach()
    (F.softplus(-d(img,z)).mean() + F.softplus(d(fake,z)).mean()).backward(); od.step()
    og.zero_grad(); fake = g(z); (F.softplus(-d(fake,z)).mean() + 100*(fake-img).abs().mean()).backward(); og.step()
for name, f in [("cnn", cnn_step), ("cgan", gan_step)]:
    f(); t = time.perf_counter()
    for _ in range(steps): f()
    print(name, (time.perf_counter()-t)/steps*1e3)
"#;

fn torch_times(steps: usize) -> Option<(f64, f64)> {
    // burn's thread count (the rayon pool, `--threads`), so both run on as many threads.
    let threads = privsplit_models::device::threads();
    let out = Command::new("python3")
        .args(["-c", TORCH_SCRIPT, &steps.to_string(), &threads.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.trim().parse::<f64>().ok()))
    };
    Some((get("cnn ")?, get("cgan ")?))
}

/// Runs the benchmark and returns its text (what `privsplit bench sweep` prints); progress of the full
/// sweep goes to `progress`.
///
/// # Errors
/// Training errors; [`crate::Error::NotInstalled`] when `full` and Fashion-MNIST is missing.
pub fn run(args: &BenchSweepConfig, progress: &mut dyn FnMut(&str)) -> Result<String> {
    let mut out = String::new();
    let dev = args.device.resolve()?;
    let steps = args.steps.max(1);
    // CNN: one epoch of `steps` batches of 128 (plus one warm-up batch).
    let n = 128 * (steps + 1);
    let x = Tensor::<4>::random([n, 1, 28, 28], Distribution::Default, &dev);
    let y: Vec<usize> = (0..n).map(|i| i % 10).collect();
    let cfg = ClassifierTrainConfig {
        epochs: 1,
        batch_size: 128,
        learning_rate: 1e-3,
        images: n,
        seed: 1,
    };
    let t = Instant::now();
    train_classifier(&ArchConfig::small_cnn(), &x, &y, &cfg, &mut |_| {})?;
    let cnn_ms = t.elapsed().as_secs_f64() * 1e3 / (steps + 1) as f64;
    // c-GAN: feature map [64, 7, 7] (small CNN, k = 4) -> 28x28, batch 64, D step + G step.
    let n = 64 * (steps + 1);
    let z = Tensor::<4>::random([n, 64, 7, 7], Distribution::Default, &dev);
    let img = Tensor::<4>::random([n, 1, 28, 28], Distribution::Default, &dev);
    let mut gcfg = CganConfig::default();
    gcfg.train.epochs = 1;
    gcfg.train.batch_size = 64;
    gcfg.train.decoder = SweepConfig::fashion_mnist().cgan.train.decoder;
    let t = Instant::now();
    train_cgan(&z, &img, &gcfg, &mut |_| {})?;
    let gan_ms = t.elapsed().as_secs_f64() * 1e3 / (steps + 1) as f64;
    let _ = writeln!(out, "burn (flex, CPU): small-CNN train step (batch 128) {cnn_ms:.1} ms; c-GAN step (D + G, batch 64) {gan_ms:.1} ms");
    let _ = match torch_times(steps) {
        Some((tc, tg)) => writeln!(
            out,
            "PyTorch (same command, same threads): CNN step {tc:.1} ms (burn/PyTorch = {:.2}x); c-GAN step {tg:.1} ms \
             (burn/PyTorch = {:.2}x)",
            cnn_ms / tc,
            gan_ms / tg
        ),
        None => writeln!(out, "PyTorch: not installed (python3 -c 'import torch' failed); no ratio"),
    };
    if args.full {
        let split = load_fashion_mnist(&args.data_dir)?;
        let cfg = SweepConfig {
            device: args.device,
            ..SweepConfig::fashion_mnist()
        };
        let t = Instant::now();
        let run = run_sweep(&cfg, &split, progress).step("full Fashion-MNIST sweep")?;
        let r = &run.report;
        let _ = writeln!(
            out,
            "full Fashion-MNIST sweep: {:.1} s total",
            t.elapsed().as_secs_f64()
        );
        let _ = writeln!(out, "  classifier training: {:.1} s", r.train_seconds);
        let mut per_attack = std::collections::BTreeMap::new();
        for p in &r.points {
            let s: f64 = p.attacks.iter().map(|a| a.seconds).sum();
            let _ = writeln!(out, "  k={} ({}): {:.1} s", p.k, p.stage, s);
            for a in &p.attacks {
                *per_attack.entry(a.attack.name()).or_insert(0.0) += a.seconds;
            }
        }
        for (a, s) in per_attack {
            let _ = writeln!(out, "  {a}: {s:.1} s over all points");
        }
        let _ = writeln!(out, "{}", summary(r));
    }
    Ok(out)
}
