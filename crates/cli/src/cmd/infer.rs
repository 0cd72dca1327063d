//! `privsplit infer`: client of the trusted-partition service.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use privsplit_tee::attestation::{Policy, PolicyVerifier};
use privsplit_tee::service::{Client, ClientConfig};
use privsplit_tee::TensorMsg;

/// Arguments of `privsplit infer`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trusted-partition service.
    #[arg(long, default_value = "127.0.0.1:7443")]
    endpoint: SocketAddr,
    /// Accept insecure development evidence (a server without a TEE): NO SECURITY.
    #[arg(long)]
    allow_insecure_dev: bool,
    /// Allowed measurement (hex MRENCLAVE / MRTD / SNP MEASUREMENT); repeatable.
    #[arg(long = "measurement")]
    measurements: Vec<String>,
    /// Accepted DCAP TCB status (default UpToDate); repeatable.
    #[arg(long = "accept-tcb")]
    tcb: Vec<String>,
    /// DCAP collateral (JSON) from your own PCCS: used for every quote; collateral the server sends is
    /// then ignored.
    #[arg(long)]
    collateral: Option<PathBuf>,
    /// Minimum DCAP TCB evaluation data number (Intel TCB recovery counter); older collateral is refused.
    #[arg(long)]
    min_tcb_eval_number: Option<u32>,
    /// TDX: expected RTMR, `INDEX=HEX` (INDEX 0-3, 48-byte hex); repeatable. Without any, TDX evidence is
    /// refused unless --allow-unpinned-rtmrs.
    #[arg(long = "rtmr")]
    rtmrs: Vec<String>,
    /// TDX: expected MRCONFIGID (48-byte hex).
    #[arg(long)]
    mr_config_id: Option<String>,
    /// TDX: expected MROWNER (48-byte hex).
    #[arg(long)]
    mr_owner: Option<String>,
    /// TDX: expected MROWNERCONFIG (48-byte hex).
    #[arg(long)]
    mr_owner_config: Option<String>,
    /// TDX: expected TD_ATTRIBUTES (8-byte hex, report byte order).
    #[arg(long)]
    td_attributes: Option<String>,
    /// TDX: expected XFAM (8-byte hex, report byte order).
    #[arg(long)]
    xfam: Option<String>,
    /// TDX: accept evidence with no RTMR pinned (MRTD then covers the firmware only, not the OS).
    #[arg(long)]
    allow_unpinned_rtmrs: bool,
    /// SEV-SNP: minimum reported TCB, `bl=N,tee=N,snp=N,ucode=N[,fmc=N]` (decimal SVNs of current AMD
    /// firmware). Without it SEV-SNP evidence is refused unless --allow-any-snp-tcb.
    #[arg(long)]
    min_snp_tcb: Option<String>,
    /// SEV-SNP: accept any reported TCB (no minimum).
    #[arg(long)]
    allow_any_snp_tcb: bool,
    /// DCAP: refuse platforms whose PCK certificate says dynamic platform, cached keys or SMT enabled.
    #[arg(long)]
    dcap_strict_platform: bool,
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
    let mut policy = Policy {
        allow_insecure_dev: args.allow_insecure_dev,
        ..Policy::default()
    };
    for m in &args.measurements {
        policy
            .allowed_measurements
            .push(hex::decode(m).with_context(|| format!("--measurement {m}: expected hex"))?);
    }
    if !args.tcb.is_empty() {
        policy.accepted_tcb_statuses = args.tcb.clone();
    }
    let from_hex =
        |flag: &str, v: &str| ::hex::decode(v).map_err(|e| anyhow::anyhow!("--{flag} {v}: {e}"));
    for r in &args.rtmrs {
        let (i, v) = r
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--rtmr {r}: expected INDEX=HEX"))?;
        let i: usize = i
            .trim()
            .parse()
            .ok()
            .filter(|i| *i < 4)
            .ok_or_else(|| anyhow::anyhow!("--rtmr {r}: INDEX must be 0, 1, 2 or 3"))?;
        policy.tdx.rtmr[i] = Some(from_hex("rtmr", v)?);
    }
    let t = &mut policy.tdx;
    for (flag, v, slot) in [
        ("mr-config-id", &args.mr_config_id, &mut t.mr_config_id),
        ("mr-owner", &args.mr_owner, &mut t.mr_owner),
        (
            "mr-owner-config",
            &args.mr_owner_config,
            &mut t.mr_owner_config,
        ),
        ("td-attributes", &args.td_attributes, &mut t.td_attributes),
        ("xfam", &args.xfam, &mut t.xfam),
    ] {
        if let Some(v) = v {
            *slot = Some(from_hex(flag, v)?);
        }
    }
    t.allow_unpinned_rtmrs = args.allow_unpinned_rtmrs;
    if let Some(m) = &args.min_snp_tcb {
        policy.min_snp_tcb =
            privsplit_tee::attestation::SnpTcb::parse(m).context("--min-snp-tcb")?;
    }
    policy.allow_any_snp_tcb = args.allow_any_snp_tcb;
    policy.min_tcb_eval_data_number = args.min_tcb_eval_number;
    policy.dcap_allow_platform_flags = !args.dcap_strict_platform;
    if let Some(p) = &args.collateral {
        let b = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        policy.dcap_collateral =
            Some(serde_json::from_slice(&b).context("parsing the DCAP collateral")?);
    }
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
