//! `privsplit infer`: client of the trusted-partition service.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use privsplit_tee::attestation::{PolicyOptions, PolicyVerifier};
use privsplit_tee::launch::{infer_blocking, Requests};

/// Arguments of `privsplit infer`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trusted-partition service.
    #[arg(long, default_value = "127.0.0.1:7443")]
    endpoint: SocketAddr,
    /// The verification policy: measurements, TCB, TDX registers, SEV-SNP TCB, DCAP collateral.
    #[command(flatten)]
    policy: PolicyOptions,
    /// IDX image file (e.g. Fashion-MNIST `t10k-images-idx3-ubyte.gz`); pixels scaled to [0, 1].
    #[arg(long)]
    idx: Option<PathBuf>,
    /// TON_IoT CSV file: every row is preprocessed with --preprocess and sent (serve `tabular-mlp`); the
    /// predicted `type` is printed per row.
    #[arg(long, conflicts_with = "idx", requires = "preprocess")]
    csv: Option<PathBuf>,
    /// The model's preprocessing (`model.safetensors.preprocess.json` of `privsplit tabular train`).
    #[arg(long)]
    preprocess: Option<PathBuf>,
    /// PNG/JPEG images for an ImageNet model (serve vgg16, resnet50, efficientnet-b0 or
    /// efficientnet-lite0): torchvision's evaluation preprocessing at --size px and the ImageNet
    /// normalisation, done here before the trusted partition.
    #[arg(long, num_args = 1.., conflicts_with_all = ["idx", "csv"])]
    image: Vec<PathBuf>,
    /// Input size of --image (pixels; the served model's SIZE, 224 unless served as NAME@SIZE).
    #[arg(long, default_value_t = 224)]
    size: usize,
    /// First image index in --idx.
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// Number of requests (images, or synthetic inputs without --idx).
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Input shape for synthetic inputs, `[channels, height, width]` or `[features]`, comma-separated.
    #[arg(long, default_value = "1,28,28")]
    shape: String,
    /// Seed of the synthetic inputs (uniform in [0, 1)).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn requests(a: Args) -> Requests {
    let count = a.count;
    match (a.csv, a.preprocess, a.idx) {
        (Some(csv), Some(preprocess), _) => Requests::Csv { csv, preprocess },
        _ if !a.image.is_empty() => Requests::Images {
            files: a.image,
            size: a.size,
        },
        (_, _, Some(path)) => Requests::Idx {
            path,
            index: a.index,
            count,
        },
        _ => Requests::Random {
            shape: a.shape,
            count,
            seed: a.seed,
        },
    }
}

/// Runs `privsplit infer`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let verifier = PolicyVerifier::new(args.policy.policy()?);
    let (endpoint, tabular) = (args.endpoint, args.csv.is_some());
    let xs = requests(args).load()?;
    let (say, print) = (&mut |s: &str| eprintln!("{s}"), &mut |s: &str| {
        println!("{s}")
    });
    infer_blocking(endpoint, &verifier, xs, tabular, say, print)
        .with_context(|| format!("inference at the trusted-partition service {endpoint}"))
}
