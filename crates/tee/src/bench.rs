//! `privsplit bench serve`: latency and throughput of split-inference serving on loopback.
//!
//! Four set-ups over 127.0.0.1, batch 1, the same inputs: **in-process split** (both partitions called
//! back to back, no network: the reference), **TEE-only** (the trusted service runs all `n` layers),
//! **partitioned at k** (trusted `[0, k)` + untrusted `[k, n)`), **untrusted-only** (plain frames to the
//! untrusted service running all layers, no channel, no attestation). Plus **transfer-only**: the
//! partitioned set-up with executors that only emit zero tensors of the real output shapes, i.e. the cost
//! of moving exactly these bytes through both hops including Noise encryption. The floor checked is
//! `partitioned_mean <= 1.10 * in_process_mean + transfer_only_mean`.
//!
//! On a machine without a TEE the trusted service runs in insecure-dev mode: the cost of the TEE itself
//! (SGX enclave transitions and EPC paging, SEV-SNP / TDX memory encryption and exits) is not measured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpListener;

use crate::attestation::{InsecureDevAttester, Policy, PolicyVerifier};
use crate::channel::sealed_len;
use crate::error::{io, Result};
use crate::exec::PartitionExec;
use crate::model::ModelSpec;
use crate::service::{
    serve_trusted, serve_untrusted, Client, ClientConfig, TrustedConfig, UntrustedConfig, Upstream,
};
use crate::wire::{TensorMsg, HEADER_BYTES};

/// Benchmark settings.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The model.
    pub model: ModelSpec,
    /// Partition point `k` (`0 < k < n`).
    pub k: usize,
    /// Timed requests per set-up (batch 1).
    pub requests: usize,
    /// Untimed warm-up requests per set-up.
    pub warmup: usize,
    /// Concurrent clients for the throughput run.
    pub concurrency: usize,
    /// Handshakes timed.
    pub handshakes: usize,
    /// Seed of the inputs (uniform in [0, 1)).
    pub seed: u64,
    /// Where the untrusted partition runs (`--device`); the trusted partition stays on the CPU, as in a
    /// TEE. The toy MLP (plain Rust) runs on the CPU only and takes `flex`.
    #[cfg(feature = "staged")]
    pub device: privsplit_models::device::DeviceChoice,
}

/// Latency (ms, batch 1, one client) and throughput (requests/s, `concurrency` clients).
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Mean latency, ms.
    pub mean_ms: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Throughput with `concurrency` clients, requests per second (0 when not measured).
    pub throughput_rps: f64,
}

/// Bytes crossing each boundary per request (batch 1), including the 4-byte record prefix.
#[derive(Debug, Clone, Serialize)]
pub struct Bytes {
    /// Client -> trusted (encrypted input frame).
    pub client_to_trusted: usize,
    /// Trusted -> client (encrypted logits frame).
    pub trusted_to_client: usize,
    /// Trusted -> untrusted (feature map at k, in the clear).
    pub trusted_to_untrusted: usize,
    /// Untrusted -> trusted (logits, in the clear).
    pub untrusted_to_trusted: usize,
}

/// Results of [`run_bench`].
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Model description and k.
    pub model: String,
    /// The device the untrusted partition ran on (`flex`, `cuda`, ...; `cpu (toy MLP)` for the toy model):
    /// the name of the device both untrusted set-ups were loaded on.
    pub untrusted_device: String,
    /// Partition point.
    pub k: usize,
    /// Number of stages.
    pub n: usize,
    /// Timed requests per set-up.
    pub requests: usize,
    /// Clients in the throughput runs.
    pub concurrency: usize,
    /// Both partitions in one process, no network.
    pub in_process: Stats,
    /// All layers in the trusted service.
    pub tee_only: Stats,
    /// Partitioned at k.
    pub partitioned: Stats,
    /// All layers in the untrusted service, plain frames.
    pub untrusted_only: Stats,
    /// Partitioned set-up with zero-output executors: transfer and channel cost only.
    pub transfer_only: Stats,
    /// Mean connect + Noise handshake + evidence + verification (insecure-dev), ms.
    pub handshake_mean_ms: f64,
    /// Bytes per request.
    pub bytes: Bytes,
    /// `1.10 * in_process.mean + transfer_only.mean`, ms.
    pub floor_ms: f64,
    /// `partitioned.mean <= floor_ms`.
    pub within_floor: bool,
    /// Caveat about what is not measured.
    pub note: String,
}

fn stats(mut lat: Vec<f64>, throughput_rps: f64) -> Stats {
    lat.sort_by(f64::total_cmp);
    let n = lat.len().max(1);
    let pct = |p: f64| {
        lat.get(((n as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    Stats {
        mean_ms: lat.iter().sum::<f64>() / n as f64,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        throughput_rps,
    }
}

/// `count` deterministic pseudo-random inputs in `[0, 1)` of `shape` (`[batch, ...]`; the batch axis is set
/// to 1), from a 64-bit LCG seeded with `seed` (Knuth's MMIX constants) — for timing and smoke tests only.
///
/// # Errors
/// As [`TensorMsg::new`] (an empty or oversized shape).
pub fn random_inputs(shape: &[usize], count: usize, seed: u64) -> Result<Vec<TensorMsg>> {
    let mut s = seed;
    let n: usize = shape.iter().skip(1).product();
    (0..count)
        .map(|_| {
            let data = (0..n)
                .map(|_| {
                    s = s
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    (s >> 40) as f32 / (1u64 << 24) as f32
                })
                .collect();
            let mut sh = shape.to_vec();
            if let Some(batch) = sh.first_mut() {
                *batch = 1;
            }
            TensorMsg::new(sh, data)
        })
        .collect()
}

/// Emits a zero tensor of a fixed shape (transfer-only runs).
struct ZeroExec {
    input: Vec<usize>,
    output: Vec<usize>,
}

impl PartitionExec for ZeroExec {
    fn input_shape(&self) -> Vec<usize> {
        self.input.clone()
    }
    fn run(&self, _input: TensorMsg) -> Result<TensorMsg> {
        let n = self.output.iter().product();
        TensorMsg::new(self.output.clone(), vec![0.0; n])
    }
    fn describe(&self) -> String {
        format!("zeros {:?}", self.output)
    }
}

async fn local() -> Result<TcpListener> {
    TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| io("127.0.0.1:0", e))
}

/// Times `requests` sequential requests and a throughput run through a trusted service.
async fn time_trusted(
    addr: std::net::SocketAddr,
    xs: &[TensorMsg],
    cfg: &BenchConfig,
) -> Result<Stats> {
    let verifier = PolicyVerifier::new(Policy::insecure_dev());
    let mut c = Client::connect(addr, &verifier, ClientConfig::default()).await?;
    for x in xs.iter().take(cfg.warmup) {
        c.infer(x.clone()).await?;
    }
    let mut lat = Vec::with_capacity(cfg.requests);
    for x in xs.iter().take(cfg.requests) {
        let t = Instant::now();
        c.infer(x.clone()).await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let rps = throughput(xs, cfg.concurrency, |mine| {
        let v = verifier.clone();
        async move {
            let mut c = Client::connect(addr, &v, ClientConfig::default()).await?;
            for x in mine {
                c.infer(x).await?;
            }
            Ok(())
        }
    })
    .await?;
    Ok(stats(lat, rps))
}

/// Throughput, requests per second, of `concurrency` tasks each running `worker` over its round-robin
/// share of `xs`.
async fn throughput<W, Fut>(xs: &[TensorMsg], concurrency: usize, worker: W) -> Result<f64>
where
    W: Fn(Vec<TensorMsg>) -> Fut,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let t = Instant::now();
    let mut tasks = Vec::new();
    for ci in 0..concurrency {
        let mine = xs.iter().skip(ci).step_by(concurrency).cloned().collect();
        tasks.push(tokio::spawn(worker(mine)));
    }
    for h in tasks {
        h.await
            .map_err(|e| crate::Error::Exec(format!("bench client: {e}")))??;
    }
    Ok(xs.len() as f64 / t.elapsed().as_secs_f64())
}

type Exec = Arc<dyn PartitionExec>;

/// The untrusted partition `[k, n)` and the whole model as an untrusted partition, both on `cfg.device`,
/// with that device's name.
fn untrusted_sides(cfg: &BenchConfig) -> Result<(Exec, Exec, String)> {
    #[cfg(feature = "staged")]
    {
        use privsplit_models::device::{device_name, DeviceChoice};
        if matches!(cfg.model, ModelSpec::Toy { .. }) {
            if cfg.device != DeviceChoice::Flex {
                return Err(crate::Error::Config {
                    what: "--device",
                    reason: format!(
                        "the toy MLP is plain Rust on the CPU; `{}` needs a zoo model \
                         (--model small-cnn) or --device flex",
                        cfg.device
                    ),
                });
            }
        } else {
            let device = cfg.device.resolve()?;
            return Ok((
                cfg.model.load_side_on(cfg.k, false, &device)?,
                cfg.model.load_side_on(0, false, &device)?,
                device_name(&device).to_string(),
            ));
        }
    }
    Ok((
        cfg.model.load_side(cfg.k, false)?,
        cfg.model.load_side(0, false)?,
        "cpu (toy MLP)".into(),
    ))
}

/// Runs the benchmark (see the module docs).
///
/// # Errors
/// Model loading, binding 127.0.0.1 or any request failing.
pub async fn run_bench(cfg: &BenchConfig) -> Result<BenchReport> {
    let n = cfg.model.num_stages()?;
    let front = cfg.model.load_side(cfg.k, true)?;
    let all_trusted = cfg.model.load_side(n, true)?;
    let (back, all_untrusted, untrusted_device) = untrusted_sides(cfg)?;
    let total = cfg.requests.max(cfg.warmup).max(1);
    let xs = random_inputs(&front.input_shape(), total, cfg.seed)?;

    // In-process split run.
    let mut lat = Vec::new();
    let (f2, b2) = (front.clone(), back.clone());
    let probe = xs[0].clone();
    let (feat, logits) = tokio::task::spawn_blocking(move || -> Result<_> {
        let f = f2.run(probe)?;
        let l = b2.run(f.clone())?;
        Ok((f, l))
    })
    .await
    .map_err(|e| crate::Error::Exec(e.to_string()))??;
    for x in xs.iter().take(cfg.warmup) {
        back.run(front.run(x.clone())?)?;
    }
    for x in xs.iter().take(cfg.requests) {
        let t = Instant::now();
        back.run(front.run(x.clone())?)?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let in_process = stats(lat, 0.0);

    let tcfg = |up: Option<std::net::SocketAddr>| TrustedConfig {
        upstream: up,
        upstream_timeout: Duration::from_secs(30),
        ..TrustedConfig::default()
    };
    let dev = Arc::new(InsecureDevAttester);

    // TEE-only.
    let t_only = serve_trusted(local().await?, all_trusted, dev.clone(), tcfg(None)).await?;
    let tee_only = time_trusted(t_only.local_addr(), &xs, cfg).await?;
    let mut hs = Vec::new();
    let verifier = PolicyVerifier::new(Policy::insecure_dev());
    for _ in 0..cfg.handshakes {
        let c = Client::connect(t_only.local_addr(), &verifier, ClientConfig::default()).await?;
        hs.push(c.handshake_time().as_secs_f64() * 1e3);
    }
    t_only.shutdown();

    // Partitioned at k.
    let u = serve_untrusted(local().await?, back.clone(), UntrustedConfig::default()).await?;
    let t = serve_trusted(
        local().await?,
        front.clone(),
        dev.clone(),
        tcfg(Some(u.local_addr())),
    )
    .await?;
    let partitioned = time_trusted(t.local_addr(), &xs, cfg).await?;
    t.shutdown();
    u.shutdown();

    // Transfer-only: same shapes, no compute.
    let zf = Arc::new(ZeroExec {
        input: front.input_shape(),
        output: feat.shape.clone(),
    });
    let zb = Arc::new(ZeroExec {
        input: back.input_shape(),
        output: logits.shape.clone(),
    });
    let u = serve_untrusted(local().await?, zb, UntrustedConfig::default()).await?;
    let t = serve_trusted(local().await?, zf, dev, tcfg(Some(u.local_addr()))).await?;
    let transfer_only = time_trusted(t.local_addr(), &xs, cfg).await?;
    t.shutdown();
    u.shutdown();

    // Untrusted-only, plain frames.
    let u = serve_untrusted(local().await?, all_untrusted, UntrustedConfig::default()).await?;
    let up = Arc::new(Upstream::new(
        u.local_addr(),
        Duration::from_secs(30),
        crate::wire::DEFAULT_MAX_FRAME_BYTES,
    ));
    for x in xs.iter().take(cfg.warmup) {
        up.call(x.clone()).await?;
    }
    let mut lat = Vec::new();
    for x in xs.iter().take(cfg.requests) {
        let t = Instant::now();
        up.call(x.clone()).await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let rps = throughput(&xs, cfg.concurrency, |mine| {
        let up = up.clone();
        async move {
            for x in mine {
                up.call(x).await?;
            }
            Ok(())
        }
    })
    .await?;
    let untrusted_only = stats(lat, rps);
    u.shutdown();

    let frame = |t: &TensorMsg| 4 + HEADER_BYTES + 4 * t.shape.len() + t.payload_bytes();
    let sealed =
        |t: &TensorMsg| 4 + sealed_len(HEADER_BYTES + 4 * t.shape.len() + t.payload_bytes());
    let bytes = Bytes {
        client_to_trusted: sealed(&xs[0]),
        trusted_to_client: sealed(&logits),
        trusted_to_untrusted: frame(&feat),
        untrusted_to_trusted: frame(&logits),
    };
    let floor_ms = 1.10 * in_process.mean_ms + transfer_only.mean_ms;
    Ok(BenchReport {
        model: format!("{} ({})", front.describe(), back.describe()),
        untrusted_device,
        k: cfg.k,
        n,
        requests: cfg.requests,
        concurrency: cfg.concurrency,
        within_floor: partitioned.mean_ms <= floor_ms,
        floor_ms,
        in_process,
        tee_only,
        partitioned,
        untrusted_only,
        transfer_only,
        handshake_mean_ms: hs.iter().sum::<f64>() / hs.len().max(1) as f64,
        bytes,
        note: "CPU-only machine, trusted service in insecure-dev mode: the TEE overhead itself \
               (enclave transitions, EPC paging, memory encryption) is NOT measured."
            .into(),
    })
}

impl BenchReport {
    /// A Markdown table of the results.
    pub fn to_markdown(&self) -> String {
        let row = |name: &str, s: &Stats| {
            format!(
                "| {name} | {:.3} | {:.3} | {:.3} | {} |\n",
                s.mean_ms,
                s.p50_ms,
                s.p99_ms,
                if s.throughput_rps > 0.0 {
                    format!("{:.0}", s.throughput_rps)
                } else {
                    "-".into()
                }
            )
        };
        let mut m = format!(
            "Model: {}, k = {} of n = {}, untrusted partition on {}, batch 1, {} requests per set-up, \
             throughput with {} clients, loopback.\n\n\
             | set-up | mean ms | p50 ms | p99 ms | throughput req/s |\n|---|---|---|---|---|\n",
            self.model, self.k, self.n, self.untrusted_device, self.requests, self.concurrency
        );
        m += &row("in-process split (reference)", &self.in_process);
        m += &row("TEE-only (all layers trusted)", &self.tee_only);
        m += &row(&format!("partitioned at k = {}", self.k), &self.partitioned);
        m += &row("untrusted-only (plain)", &self.untrusted_only);
        m += &row("transfer-only (zero executors)", &self.transfer_only);
        m += &format!(
            "\nHandshake (connect + Noise NN + evidence + verification, insecure-dev): {:.3} ms mean.\n\
             Bytes per request: client->trusted {} (encrypted), trusted->client {} (encrypted), \
             trusted->untrusted {} (feature map, clear), untrusted->trusted {} (logits, clear).\n\
             Floor: partitioned mean {:.3} ms <= 1.10 x in-process {:.3} ms + transfer-only {:.3} ms = {:.3} ms: {}.\n\n{}\n",
            self.handshake_mean_ms,
            self.bytes.client_to_trusted,
            self.bytes.trusted_to_client,
            self.bytes.trusted_to_untrusted,
            self.bytes.untrusted_to_trusted,
            self.partitioned.mean_ms,
            self.in_process.mean_ms,
            self.transfer_only.mean_ms,
            self.floor_ms,
            if self.within_floor { "met" } else { "NOT met" },
            self.note
        );
        m
    }
}
