//! `privsplit fe`: quadratic functional encryption of the private layer (setup, keygen, encrypt, infer,
//! bench). The library is `privsplit_fe`; this file is glue only.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use privsplit_experiments::bench::fe::markdown;
use privsplit_fe::bench::{self, BenchConfig};
use privsplit_fe::format::read_file;
use privsplit_fe::inference::{decode_batch, decrypt_batch, encode_batch};
use privsplit_fe::{
    DlogTable, FunctionalKey, MasterSecretKey, PublicKey, QuantConfig, QuantisedQuadratic,
};
use privsplit_io::write_atomic;

/// Arguments of `privsplit fe`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Generate a master key pair: writes `<out-dir>/fe.pk` (public) and `<out-dir>/fe.msk` (secret).
    Setup {
        /// Number of inputs n (pixels), without the bias slot.
        #[arg(long, default_value_t = 784)]
        inputs: usize,
        /// Output folder.
        #[arg(long, default_value = "fe-keys")]
        out_dir: PathBuf,
    },
    /// Issue the functional key of a quantised model file (written by the integration or `synth-model`).
    Keygen {
        /// Master secret key file.
        #[arg(long)]
        msk: PathBuf,
        /// Quantised model file (`PSFEQMDL`).
        #[arg(long)]
        model: PathBuf,
        /// Output functional key file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Encrypt images: an IDX image file (`[n, rows, cols]` u8, optionally gzipped) or a raw file of
    /// `--raw-inputs`-byte images.
    Encrypt {
        /// Master public key file.
        #[arg(long)]
        pk: PathBuf,
        /// Image file.
        #[arg(long)]
        images: PathBuf,
        /// Treat the image file as raw bytes, this many per image.
        #[arg(long)]
        raw_inputs: Option<usize>,
        /// Encrypt at most this many images.
        #[arg(long)]
        limit: Option<usize>,
        /// Output ciphertext batch file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Decrypt the private outputs of encrypted images with a functional key; writes a JSON report with
    /// the integer and dequantised outputs per image.
    Infer {
        /// Ciphertext batch file.
        #[arg(long)]
        ciphertexts: PathBuf,
        /// Functional key file.
        #[arg(long)]
        key: PathBuf,
        /// Quantised model file the key was issued for.
        #[arg(long)]
        model: PathBuf,
        /// Discrete-log table file (built and saved there if missing).
        #[arg(long, default_value = "fe-keys/dlog-2p22.tbl")]
        table: PathBuf,
        /// log2 of the table size (memory/time trade-off: 12 * 2^bits bytes).
        #[arg(long, default_value_t = 22)]
        table_bits: u32,
        /// JSON report path.
        #[arg(long, default_value = "fe-infer.json")]
        out: PathBuf,
    },
    /// Write a synthetic quantised model (random weights; for trying the commands, not a trained model).
    SynthModel {
        /// Hidden units.
        #[arg(long, default_value_t = 40)]
        hidden: usize,
        /// Inputs.
        #[arg(long, default_value_t = 784)]
        inputs: usize,
        /// Outputs.
        #[arg(long, default_value_t = 4)]
        outputs: usize,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Measure every figure of the FE performance table (single thread and rayon), GoFE as ratio basis.
    Bench {
        /// Discrete-log table file (built and saved there if missing).
        #[arg(long, default_value = "fe-keys/dlog-2p22.tbl")]
        table: PathBuf,
        /// log2 of the table size.
        #[arg(long, default_value_t = 22)]
        table_bits: u32,
        /// Repetitions per figure (median reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Also write the table as Markdown here (e.g. /tmp/fe-bench.md, then paste into docs/BENCHMARKS.md).
        #[arg(long)]
        write: Option<PathBuf>,
    },
}

/// Runs `privsplit fe`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Setup { inputs, out_dir } => setup(inputs, &out_dir),
        Command::Keygen { msk, model, out } => keygen(&msk, &model, &out),
        Command::Encrypt {
            pk,
            images,
            raw_inputs,
            limit,
            out,
        } => encrypt(&pk, &images, raw_inputs, limit, &out),
        Command::Infer {
            ciphertexts,
            key,
            model,
            table,
            table_bits,
            out,
        } => infer(&ciphertexts, &key, &model, &table, table_bits, &out),
        Command::SynthModel {
            hidden,
            inputs,
            outputs,
            seed,
            out,
        } => {
            let f = bench::synthetic_float_model(hidden, inputs, outputs, seed);
            let m = QuantisedQuadratic::from_float(&f, &QuantConfig::default())?;
            write_atomic(&out, &m.to_bytes())?;
            println!(
                "wrote {} (synthetic {hidden}x{inputs}->{outputs} model, discrete-log bound {})",
                out.display(),
                m.dlog_bound()?
            );
            Ok(())
        }
        Command::Bench {
            table,
            table_bits,
            reps,
            write,
        } => bench_cmd(&table, table_bits, reps, write.as_deref()),
    }
}

fn setup(inputs: usize, out_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let (pk, msk) = privsplit_fe::setup(inputs, 0, 255, &mut rand::rngs::OsRng)?;
    write_atomic(&out_dir.join("fe.pk"), &pk.to_bytes())?;
    // The master secret key: readable by its owner only (mode 0600), from the moment it appears.
    msk.save(&out_dir.join("fe.msk"))?;
    println!(
        "wrote {0}/fe.pk and {0}/fe.msk (n = {inputs}, pixels in [0, 255])",
        out_dir.display()
    );
    Ok(())
}

fn keygen(msk: &Path, model: &Path, out: &Path) -> anyhow::Result<()> {
    let msk = MasterSecretKey::from_bytes(&read_file(msk)?)
        .with_context(|| format!("reading {}", msk.display()))?;
    let model = load_model(model)?;
    let key = msk.keygen(&model)?;
    write_atomic(out, &key.to_bytes())?;
    println!("wrote {} ({} outputs)", out.display(), key.outputs());
    Ok(())
}

fn load_model(path: &Path) -> anyhow::Result<QuantisedQuadratic> {
    QuantisedQuadratic::from_bytes(&read_file(path)?)
        .with_context(|| format!("reading quantised model {}", path.display()))
}

fn encrypt(
    pk: &Path,
    images: &Path,
    raw_inputs: Option<usize>,
    limit: Option<usize>,
    out: &Path,
) -> anyhow::Result<()> {
    let pk = PublicKey::from_bytes(&read_file(pk)?)
        .with_context(|| format!("reading {}", pk.display()))?;
    let (per, data) = match raw_inputs {
        Some(n) => (n, read_file(images)?),
        None => {
            let a = privsplit_data::idx::read_images(images)
                .with_context(|| format!("reading IDX images {}", images.display()))?;
            (a.dims[1] * a.dims[2], a.data)
        }
    };
    if per != pk.inputs() {
        bail!(
            "{}: images have {per} pixels, the public key expects {}",
            images.display(),
            pk.inputs()
        );
    }
    if per == 0 || data.len() % per != 0 {
        bail!(
            "{}: {} bytes is not a whole number of {per}-byte images",
            images.display(),
            data.len()
        );
    }
    let count = (data.len() / per).min(limit.unwrap_or(usize::MAX));
    let prepared = pk.prepare(6)?;
    let t = Instant::now();
    let mut rng = rand::rngs::OsRng;
    let cts = data
        .chunks(per)
        .take(count)
        .map(|img| prepared.encrypt_pixels(img, &mut rng))
        .collect::<Result<Vec<_>, _>>()?;
    write_atomic(out, &encode_batch(&cts))?;
    println!(
        "encrypted {count} images in {:.2} s -> {}",
        t.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

fn open_table(path: &Path, bits: u32) -> anyhow::Result<DlogTable> {
    if bits > 28 {
        bail!("--table-bits {bits}: at most 28");
    }
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let t = Instant::now();
    let existed = path.exists();
    let table = DlogTable::open_or_build(path, 1u64 << bits)?;
    eprintln!(
        "discrete-log table {} (2^{bits} entries): {} in {:.2} s",
        path.display(),
        if existed {
            "memory-mapped"
        } else {
            "built and saved"
        },
        t.elapsed().as_secs_f64()
    );
    Ok(table)
}

fn infer(
    cts: &Path,
    key: &Path,
    model: &Path,
    table: &Path,
    bits: u32,
    out: &Path,
) -> anyhow::Result<()> {
    let cts =
        decode_batch(&read_file(cts)?).with_context(|| format!("reading {}", cts.display()))?;
    let key = FunctionalKey::from_bytes(&read_file(key)?)
        .with_context(|| format!("reading {}", key.display()))?;
    let model = load_model(model)?;
    let table = open_table(table, bits)?;
    let t = Instant::now();
    let outs = decrypt_batch(&cts, &key, &model, &table)?;
    let secs = t.elapsed().as_secs_f64();
    let mut images = Vec::with_capacity(outs.len());
    for (i, o) in outs.iter().enumerate() {
        let arg = o
            .dequantised
            .iter()
            .enumerate()
            .fold(
                (0usize, f32::MIN),
                |b, (k, v)| if *v > b.1 { (k, *v) } else { b },
            )
            .0;
        println!("image {i}: outputs {:?} (argmax {arg})", o.integer);
        images.push(serde_json::json!({ "index": i, "integer": o.integer, "dequantised": o.dequantised, "argmax_private_output": arg }));
    }
    let report = serde_json::json!({
        "images": images,
        "seconds": secs,
        "ms_per_image": if outs.is_empty() { 0.0 } else { secs * 1e3 / outs.len() as f64 },
        "dlog_bound": model.dlog_bound()?,
        "note": "outputs of the private quadratic layer; the clear public head classifies the dequantised values",
    });
    write_atomic(out, serde_json::to_string_pretty(&report)?.as_bytes())?;
    println!(
        "decrypted {} images in {secs:.2} s -> {}",
        outs.len(),
        out.display()
    );
    Ok(())
}

fn bench_cmd(table: &Path, bits: u32, reps: usize, write: Option<&Path>) -> anyhow::Result<()> {
    let t = Instant::now();
    let table = open_table(table, bits)?;
    let table_s = t.elapsed().as_secs_f64();
    let cfg = BenchConfig {
        reps,
        ..BenchConfig::default()
    };
    let rows = bench::run(&cfg, &table, &|l| eprintln!("  {l}"))?;
    let md = markdown(&rows, bits, table_s, reps);
    println!("{md}");
    if let Some(p) = write {
        write_atomic(p, md.as_bytes())?;
        println!("wrote {}", p.display());
    }
    Ok(())
}
