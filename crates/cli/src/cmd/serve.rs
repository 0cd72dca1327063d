//! `privsplit serve trusted|untrusted|keygen|init-weights`: the split-inference services.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use privsplit_tee::launch::{TrustedLaunch, UntrustedLaunch};
use privsplit_tee::link::StaticKeypair;
use privsplit_tee::model::ModelSpec;
use privsplit_tee::service::ServeOptions;

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
    /// Generates a static X25519 key pair for the trusted<->untrusted link (Noise KK): FILE (mode
    /// 0600) and FILE.pub (the public key to pin in the peer's configuration).
    Keygen(KeygenArgs),
}

#[derive(Debug, clap::Args)]
struct KeygenArgs {
    /// Key file to write (atomically, mode 0600); the public key goes to FILE.pub.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
struct ModelArgs {
    /// A zoo image model `NAME[@SIZE][:WEIGHTS]` (NAME `small-cnn`, `vgg16`, `resnet50`, `efficientnet-b0`,
    /// `efficientnet-lite0`; SIZE default 224; weights here or with --weights: privsplit safetensors or a
    /// torchvision .pth), `tabular-mlp[:type|:label]` (the TON_IoT MLP of `privsplit tabular train`; needs
    /// --weights with WEIGHTS.preprocess.json next to it) or `toy:W0,W1,...[@SEED]` (a deterministic MLP).
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
    /// Verify the untrusted partition's results (Freivalds checks; needs its weights in --weights;
    /// settings from [verify] of --config).
    #[arg(long)]
    verify: bool,
    #[command(flatten)]
    ops: ServeOptions,
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
    /// Device of the untrusted partition (e.g. `cuda`) and CPU threads.
    #[command(flatten)]
    device: super::DeviceArgs,
    #[command(flatten)]
    ops: ServeOptions,
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

/// Runs `privsplit serve`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut say = |s: &str| eprintln!("{s}");
    match args.which {
        Which::Trusted(a) => {
            let launch = TrustedLaunch {
                model: ModelSpec::parse(&a.model.model, a.model.weights)?,
                partition: a.model.partition,
                untrusted: a.untrusted.filter(|_| !a.tee_only),
                attester: a.attester,
                vcek: a.vcek,
                collateral: a.collateral,
                upstream_timeout: Duration::from_millis(a.upstream_timeout_ms),
                verify: a.verify,
                file: a.ops.file(!a.tee_only)?,
            };
            Ok(launch.serve_until_signal(a.listen, &mut say)?)
        }
        Which::Untrusted(a) => {
            let launch = UntrustedLaunch {
                model: ModelSpec::parse(&a.model.model, a.model.weights)?,
                partition: a.model.partition,
                device: a.device.apply()?.unwrap_or_default(),
                dump_dir: a.dump_features,
                file: a.ops.file(true)?,
            };
            Ok(launch.serve_until_signal(a.listen, &mut say)?)
        }
        Which::Keygen(a) => {
            let k = StaticKeypair::generate()?;
            let pubp = k
                .write_file(&a.out)
                .with_context(|| format!("writing {}", a.out.display()))?;
            eprintln!(
                "wrote {} (mode 0600, keep secret) and {} (pin it in the peer's config)",
                a.out.display(),
                pubp.display()
            );
            Ok(())
        }
        Which::InitWeights(a) => {
            let arch = match a.model {
                ZooModel::SmallCnn => privsplit_models::zoo::ArchConfig::small_cnn(),
            };
            let model = privsplit_models::zoo::build(&arch, &privsplit_tee::model::Device::flex())?;
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
