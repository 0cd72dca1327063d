//! `privsplit serve trusted|untrusted|init-weights`: the split-inference services.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use privsplit_tee::attestation::sources::attester_from_spec;
use privsplit_tee::model::ModelSpec;
use privsplit_tee::service::{serve_trusted, serve_untrusted, TrustedConfig, UntrustedConfig};

/// Arguments of `privsplit serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    which: Which,
}

#[derive(Debug, clap::Subcommand)]
enum Which {
    /// Trusted-partition service: runs [0, k) (in a TEE), terminates the client's Noise channel.
    Trusted(TrustedArgs),
    /// Untrusted-partition service: runs [k, n) on feature maps received in the clear.
    Untrusted(UntrustedArgs),
    /// Writes freshly initialised weights of a zoo model (safetensors) for a demo without training.
    InitWeights(InitArgs),
}

#[derive(Debug, clap::Args)]
struct ModelArgs {
    /// `small-cnn` (the Fashion-MNIST CNN; needs --weights) or `toy:W0,W1,...[@SEED]` (a deterministic MLP).
    #[arg(long, default_value = "small-cnn")]
    model: String,
    /// Safetensors weights (full model or this side's partition file).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Partition point k: the trusted service runs stages [0, k), the untrusted one [k, n).
    #[arg(long)]
    partition: usize,
}

#[derive(Debug, clap::Args)]
struct TrustedArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7443")]
    listen: SocketAddr,
    /// Address of the untrusted-partition service.
    #[arg(long, required_unless_present = "tee_only")]
    untrusted: Option<SocketAddr>,
    /// Run all n stages here (no untrusted service); --partition is then ignored.
    #[arg(long)]
    tee_only: bool,
    /// Evidence source: `insecure-dev` (NO SECURITY, no TEE), `configfs-tsm[:ROOT]` (TDX / SEV-SNP),
    /// `sev-guest`, `gramine[:ROOT]`. A hardware source that fails is an error, never a fallback.
    #[arg(long)]
    attester: String,
    /// VCEK certificate (DER) for SEV-SNP when the host does not supply it.
    #[arg(long)]
    vcek: Option<PathBuf>,
    /// DCAP collateral (JSON, Intel PCS format) to attach to SGX/TDX quotes.
    #[arg(long)]
    collateral: Option<PathBuf>,
    /// Longest wait for the untrusted service per request, ms.
    #[arg(long, default_value_t = 5000)]
    upstream_timeout_ms: u64,
}

#[derive(Debug, clap::Args)]
struct UntrustedArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7444")]
    listen: SocketAddr,
    /// Store every received feature map here (one `.frame` file per request, docs/WIRE.md).
    #[arg(long)]
    dump_features: Option<PathBuf>,
}

/// Zoo models `init-weights` can write.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ZooModel {
    /// The Fashion-MNIST small CNN.
    #[value(alias = "fashion-mnist-cnn")]
    SmallCnn,
}

#[derive(Debug, clap::Args)]
struct InitArgs {
    /// Zoo model.
    #[arg(long, value_enum, default_value = "small-cnn")]
    model: ZooModel,
    /// Output file (safetensors, written atomically).
    #[arg(long)]
    out: PathBuf,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// Runs `privsplit serve`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.which {
        Which::Trusted(a) => {
            let spec = ModelSpec::parse(&a.model.model, a.model.weights.clone())?;
            let k = if a.tee_only {
                spec.num_stages()?
            } else {
                a.model.partition
            };
            let front = spec
                .load_side(k, true)
                .context("loading the trusted partition")?;
            let attester =
                attester_from_spec(&a.attester, a.vcek.as_deref(), a.collateral.as_deref())?;
            let mode = if attester.is_insecure_dev() {
                " [insecure-dev]"
            } else {
                ""
            };
            let cfg = TrustedConfig {
                upstream: if a.tee_only { None } else { a.untrusted },
                upstream_timeout: Duration::from_millis(a.upstream_timeout_ms),
                ..TrustedConfig::default()
            };
            runtime()?.block_on(async move {
                let l = tokio::net::TcpListener::bind(a.listen)
                    .await
                    .with_context(|| format!("binding {}", a.listen))?;
                let h = serve_trusted(l, front, attester, cfg).await?;
                eprintln!("trusted-partition service on {}{mode}", h.local_addr());
                h.join().await;
                Ok(())
            })
        }
        Which::Untrusted(a) => {
            let spec = ModelSpec::parse(&a.model.model, a.model.weights.clone())?;
            let back = spec
                .load_side(a.model.partition, false)
                .context("loading the untrusted partition")?;
            let cfg = UntrustedConfig {
                dump_dir: a.dump_features,
                ..UntrustedConfig::default()
            };
            runtime()?.block_on(async move {
                let l = tokio::net::TcpListener::bind(a.listen)
                    .await
                    .with_context(|| format!("binding {}", a.listen))?;
                let h = serve_untrusted(l, back, cfg).await?;
                eprintln!("untrusted-partition service on {}", h.local_addr());
                h.join().await;
                Ok(())
            })
        }
        Which::InitWeights(a) => {
            let arch = match a.model {
                ZooModel::SmallCnn => privsplit_models::zoo::ArchConfig::small_cnn(),
            };
            let model = privsplit_models::zoo::build(&arch, &burn_device())?;
            privsplit_models::weights::save_model(&model, &a.out)
                .with_context(|| format!("writing {}", a.out.display()))?;
            eprintln!(
                "wrote {} ({} stages, untrained)",
                a.out.display(),
                model.num_stages()
            );
            Ok(())
        }
    }
}

fn burn_device() -> privsplit_tee::model::Device {
    privsplit_tee::model::Device::flex()
}
