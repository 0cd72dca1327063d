//! The `privsplit` binary: glue only. Each subcommand in [`cmd`] parses its arguments, builds a config,
//! makes one library call (mostly into `privsplit-experiments`) and prints the result. Errors become exit
//! codes here, in one place.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// mimalloc instead of the system allocator: training allocates and frees the same large tensor buffers every step;
/// glibc returns them to the OS and page-faults them back in (docs/BENCHMARKS.md §1, issue 9).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit codes, documented in `--help` and the README.
const EXIT_CODES: &str = "Exit codes: 0 success; 1 a step failed (training, attack, encryption, network, I/O); \
2 usage error (bad arguments); 3 invalid config or input (the message names the setting or the unreadable \
input file); 4 installed data \
missing (run `bash scripts/install-deps.sh`).";

/// privsplit: what does the exposed part of a split network leak, what does protection cost, and where
/// should it be cut?
#[derive(Debug, Parser)]
#[command(name = "privsplit", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The main job: an experiment from a TOML config, or the embedded default.
    Run(cmd::run::Args),
    /// Produce or convert datasets (font characters, Fashion-MNIST, SYNTHETIC TON_IoT rows).
    Data(cmd::data::Args),
    /// Collateral learning: train private + public nets, attack the sensitive attribute, defend.
    Collateral(cmd::collateral::Args),
    /// Partition-point sweep with reconstruction attacks; recommends a partition point.
    Sweep(cmd::sweep::Args),
    /// Defend a partition point (reconstruction defence, NoPeek) per alpha; fresh attackers judge it.
    Defend(cmd::defend::Args),
    /// The TON_IoT intrusion-detection workload: train the tabular MLP, sweep its partition points.
    Tabular(cmd::tabular::Args),
    /// Quadratic functional encryption of the private layer.
    Fe(cmd::fe::Args),
    /// Split-inference services (trusted / untrusted partition).
    Serve(cmd::serve::Args),
    /// Client of the split-inference services.
    Infer(cmd::infer::Args),
    /// Benchmarks (results go into docs/BENCHMARKS.md).
    Bench(cmd::bench::Args),
    /// Cluster plans (Slurm job array, Kubernetes Indexed Job) for sweeps and alpha grids; `plan merge`.
    Plan(cmd::plan::Args),
    /// Top-5 ImageNet classes of PNG/JPEG images with a zoo model and PyTorch or privsplit weights.
    Predict(cmd::predict::Args),
}

/// The exit code of an error: the class of the first error in its chain that has one.
fn exit_code(e: &anyhow::Error) -> u8 {
    use privsplit_experiments::{failure_class, FailureClass};
    match e.chain().find_map(failure_class) {
        Some(FailureClass::NotInstalled) => 4,
        Some(FailureClass::InvalidInput) => 3,
        _ => 1,
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => cmd::run::run(a),
        Command::Data(a) => cmd::data::run(a),
        Command::Collateral(a) => cmd::collateral::run(a),
        Command::Sweep(a) => cmd::sweep::run(a),
        Command::Defend(a) => cmd::defend::run(a),
        Command::Tabular(a) => cmd::tabular::run(a),
        Command::Fe(a) => cmd::fe::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Infer(a) => cmd::infer::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Plan(a) => cmd::plan::run(a),
        Command::Predict(a) => cmd::predict::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(exit_code(&e))
        }
    }
}
