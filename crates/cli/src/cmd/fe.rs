//! `privsplit fe`: quadratic functional encryption of the private layer (setup, keygen, encrypt, infer,
//! bench). The library is `privsplit_fe`; this file is glue only.

use std::path::PathBuf;

use privsplit_experiments::fe_jobs::{self, ImageFile, TableFile};

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
        #[command(flatten)]
        table: TableFile,
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
        #[command(flatten)]
        table: TableFile,
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
        Command::Setup { inputs, out_dir } => {
            println!("{}", fe_jobs::setup_keys(inputs, &out_dir)?)
        }
        Command::Keygen { msk, model, out } => {
            println!("{}", fe_jobs::issue_key(&msk, &model, &out)?)
        }
        Command::Encrypt {
            pk,
            images,
            raw_inputs,
            limit,
            out,
        } => {
            let images = match raw_inputs {
                Some(n) => ImageFile::Raw(images, n),
                None => ImageFile::Idx(images),
            };
            println!("{}", fe_jobs::encrypt_images(&pk, &images, limit, &out)?)
        }
        Command::Infer {
            ciphertexts,
            key,
            model,
            table,
            out,
        } => {
            let t = table.open()?;
            eprintln!("{t}");
            println!(
                "{}",
                fe_jobs::decrypt_images(&ciphertexts, &key, &model, &t.table, &out)?
            )
        }
        Command::SynthModel {
            hidden,
            inputs,
            outputs,
            seed,
            out,
        } => println!(
            "{}",
            fe_jobs::synthetic_model(hidden, inputs, outputs, seed, &out)?
        ),
        Command::Bench { table, reps, write } => {
            let t = table.open()?;
            eprintln!("{t}");
            let md = fe_jobs::bench_table(&t, reps, write.as_deref(), &|l| eprintln!("  {l}"))?;
            println!("{md}");
            if let Some(p) = write {
                println!("wrote {}", p.display());
            }
        }
    }
    Ok(())
}
