//! The `privsplit` binary. Exit codes: 0 success, 1 any error (the chain is printed), 2 usage error (clap).

use clap::{Parser, Subcommand};
use privsplit_cli::cmd;

/// privsplit: what does the exposed part of a split network leak, what does protection cost, and where
/// should it be cut?
#[derive(Debug, Parser)]
#[command(name = "privsplit", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The main job: an experiment from a TOML config, or the embedded default.
    Run(cmd::run::Args),
    /// Produce or convert datasets (font characters, Fashion-MNIST).
    Data(cmd::data::Args),
    /// Collateral learning: train private + public nets, attack the sensitive attribute, defend.
    Collateral(cmd::collateral::Args),
    /// Partition-point sweep with reconstruction attacks; recommends a partition point.
    Sweep(cmd::sweep::Args),
    /// Quadratic functional encryption of the private layer.
    Fe(cmd::fe::Args),
    /// Split-inference services (trusted / untrusted partition).
    Serve(cmd::serve::Args),
    /// Client of the split-inference services.
    Infer(cmd::infer::Args),
    /// Benchmarks (results go into docs/BENCHMARKS.md).
    Bench(cmd::bench::Args),
}

fn main() {
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
        Command::Fe(a) => cmd::fe::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Infer(a) => cmd::infer::run(a),
        Command::Bench(a) => cmd::bench::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        for cause in e.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(1);
    }
}
