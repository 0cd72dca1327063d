//! `privsplit infer`: client of the trusted-partition service.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use privsplit_tee::attestation::{PolicyOptions, PolicyVerifier};
use privsplit_tee::service::{Client, ClientConfig};
use privsplit_tee::TensorMsg;

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

fn inputs(a: &Args) -> anyhow::Result<Vec<TensorMsg>> {
    if let (Some(csv), Some(pre)) = (&a.csv, &a.preprocess) {
        return Ok(privsplit_tee::model::tabular_requests(csv, pre)?);
    }
    if !a.image.is_empty() {
        return Ok(privsplit_tee::model::image_requests(&a.image, a.size)?);
    }
    if let Some(p) = &a.idx {
        let arr = privsplit_data::idx::read_images(p)
            .with_context(|| format!("reading {}", p.display()))?;
        let (n, r, c) = (arr.dims[0], arr.dims[1], arr.dims[2]);
        anyhow::ensure!(
            a.index + a.count <= n,
            "--index {} + --count {} exceeds the {n} images",
            a.index,
            a.count
        );
        return (a.index..a.index + a.count)
            .map(|i| {
                let px = &arr.data[i * r * c..(i + 1) * r * c];
                Ok(TensorMsg::new(
                    vec![1, 1, r, c],
                    px.iter().map(|&b| f32::from(b) / 255.0).collect(),
                )?)
            })
            .collect();
    }
    let shape: Vec<usize> = a
        .shape
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .context("--shape: comma-separated integers")?;
    let mut full = vec![1];
    full.extend(&shape);
    Ok(privsplit_tee::bench::random_inputs(&full, a.count, a.seed)?)
}

/// Runs `privsplit infer`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let policy = args.policy.policy()?;
    let xs = inputs(&args)?;
    let tabular = args.csv.is_some();
    let verifier = PolicyVerifier::new(policy);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        let mut c = Client::connect(args.endpoint, &verifier, ClientConfig::default())
            .await
            .with_context(|| format!("connecting to {}", args.endpoint))?;
        let cl = c.claims().clone();
        let mark = if cl.insecure_dev {
            " [insecure-dev: NO TEE, NO SECURITY]"
        } else {
            ""
        };
        eprintln!(
            "attested: tee={:?} measurement={} tcb={} handshake={:.2} ms{mark}",
            cl.tee,
            hex::encode(&cl.measurement),
            cl.tcb_status,
            c.handshake_time().as_secs_f64() * 1e3
        );
        for (i, x) in xs.into_iter().enumerate() {
            let p = c.infer(x).await?;
            let logits: Vec<String> = p.logits.data.iter().map(|v| format!("{v:.4}")).collect();
            if tabular {
                let names = p.classes().into_iter().map(|c| {
                    privsplit_models::tabular::class_name(p.logits.data.len(), c).unwrap_or("?")
                });
                println!("row {i}: type {}", names.collect::<Vec<_>>().join(","));
            }
            if p.logits.data.len() == privsplit_models::imagenet::NUM_CLASSES {
                let top = privsplit_models::imagenet::top_k(&p.logits.data, 5);
                let names: Vec<String> = top
                    .iter()
                    .map(|t| format!("{} {:.1}%", t.name.unwrap_or("?"), 100.0 * t.probability))
                    .collect();
                println!("request {i}: top-5 {}", names.join(", "));
                continue;
            }
            println!(
                "request {i}: class {:?} logits [{}]{}",
                p.classes(),
                logits.join(", "),
                if p.insecure_dev { " insecure-dev" } else { "" }
            );
        }
        Ok(())
    })
}
