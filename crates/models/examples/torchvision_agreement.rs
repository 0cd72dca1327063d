//! privsplit's forward pass against PyTorch's at every partition point, on torchvision weights.
//!
//! Reads the folder written by `bench/torchvision_reference.py` (state dicts of `vgg16`, `resnet50` and
//! `efficientnet_b0` as zip `.pth`, legacy `.pth` and safetensors; an input and PyTorch's feature map at every
//! partition point), loads each weight file through `privsplit_models::import`, runs the staged model one
//! stage at a time and prints, per partition point k, the relative error
//! `max |privsplit - pytorch| / max |pytorch|` (the largest over the three weight files) as a Markdown table.
//! Exits with status 1 when any error exceeds 1e-4 (float32).
//!
//! ```text
//! PYTHONPATH=$(bash bench/install-pytorch.sh) python3 bench/torchvision_reference.py --out /tmp/tvref
//! cargo run --release -p privsplit-models --example torchvision_agreement -- /tmp/tvref
//! ```

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use privsplit_models::import::{load_pytorch, read_state_dict, SourceTensor};
use privsplit_models::zoo::ArchConfig;

const TOLERANCE: f32 = 1e-4;

fn tensor(t: &SourceTensor, dev: &Device) -> Result<Tensor<4>, String> {
    let shape: [usize; 4] = t
        .shape
        .clone()
        .try_into()
        .map_err(|s| format!("expected a 4-d tensor, got shape {s:?}"))?;
    Ok(Tensor::from_data(
        TensorData::new(t.data.clone(), shape),
        dev,
    ))
}

fn rel_error(got: &[f32], want: &[f32]) -> f32 {
    let scale = want
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    let diff = got
        .iter()
        .zip(want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

fn check(dir: &Path, name: &str, arch: ArchConfig) -> Result<f32, String> {
    let dev = Device::flex();
    let reference = read_state_dict(&dir.join(format!("{name}_reference.safetensors")))
        .map_err(|e| e.to_string())?;
    let input = reference
        .get("input")
        .ok_or("reference file has no `input`")?;
    let size = input.shape[2];
    let arch = ArchConfig {
        input_size: size,
        ..arch
    };
    let files = [".pth", "_legacy.pth", ".safetensors"];
    let mut rows: Vec<(String, Vec<usize>, f32)> = Vec::new();
    for suffix in files {
        let path: PathBuf = dir.join(format!("{name}{suffix}"));
        let model = load_pytorch(&arch, &path, &dev).map_err(|e| e.to_string())?;
        let infos = model.stage_infos();
        let mut y = tensor(input, &dev)?;
        for (k, info) in infos.iter().enumerate().map(|(i, s)| (i + 1, s)) {
            y = model
                .forward_range(y, k - 1, k)
                .map_err(|e| e.to_string())?;
            let want = reference
                .get(&format!("k{k}"))
                .ok_or(format!("reference file has no `k{k}`"))?;
            let got: Vec<f32> = y
                .clone()
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| format!("{e:?}"))?;
            if got.len() != want.data.len() {
                return Err(format!(
                    "{name} k={k}: {} values, PyTorch has {:?}",
                    got.len(),
                    want.shape
                ));
            }
            let err = rel_error(&got, &want.data);
            match rows.get_mut(k - 1) {
                Some(row) => row.2 = row.2.max(err),
                None => rows.push((info.name.clone(), want.shape.clone(), err)),
            }
        }
    }
    println!("\n{name} ({size}x{size} input; weights: zip .pth, legacy .pth, safetensors)\n");
    println!("| k | stage | feature map | max rel. error |");
    println!("|---|---|---|---|");
    let mut worst = 0.0f32;
    for (i, (stage, shape, err)) in rows.iter().enumerate() {
        println!("| {} | {stage} | {:?} | {err:.2e} |", i + 1, &shape[1..]);
        worst = worst.max(*err);
    }
    Ok(worst)
}

fn main() {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: torchvision_agreement DIR (written by bench/torchvision_reference.py)");
        std::process::exit(2);
    };
    let mut failed = false;
    for (name, arch) in [
        ("vgg16", ArchConfig::vgg16(224, 1000)),
        ("resnet50", ArchConfig::resnet50(224, 1000)),
        ("efficientnet_b0", ArchConfig::efficientnet_b0(224, 1000)),
    ] {
        if !dir.join(format!("{name}_reference.safetensors")).is_file() {
            eprintln!("{name}: no reference in {} (skipped)", dir.display());
            continue;
        }
        match check(&dir, name, arch) {
            Ok(worst) => {
                println!("\n{name}: worst {worst:.2e} (tolerance {TOLERANCE:.0e})");
                failed |= worst > TOLERANCE;
            }
            Err(e) => {
                eprintln!("{name}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
