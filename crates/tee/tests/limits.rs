//! Resource limits of the services on loopback: connection cap, idle and read timeouts, per-model frame
//! limit and batch cap, bounded evidence generation, bounded upstream queue, a panicking partition, and
//! load (idle connections plus clients sending maximal frames) with a resident-memory bound.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use privsplit_tee::attestation::{Attester, Evidence, InsecureDevAttester, Policy, PolicyVerifier};
use privsplit_tee::channel::handshake_initiator;
use privsplit_tee::exec::{PartitionExec, ToyMlp, ToyPartition};
use privsplit_tee::service::{
    serve_trusted, serve_untrusted, Client, ClientConfig, Limits, ServerHandle, TrustedConfig,
    UntrustedConfig, Upstream,
};
use privsplit_tee::wire::{frame_limit, TensorMsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The small CNN's input size (784 values) in front of a tiny MLP: frames the size of real requests.
const DIMS: [usize; 3] = [784, 32, 10];

fn model() -> Arc<ToyMlp> {
    Arc::new(ToyMlp::new(&DIMS, 3).unwrap())
}

fn input(batch: usize, seed: usize) -> TensorMsg {
    let data = (0..batch * DIMS[0])
        .map(|i| ((i * 7 + seed * 13) % 29) as f32 / 29.0)
        .collect();
    TensorMsg::new(vec![batch, DIMS[0]], data).unwrap()
}

async fn local() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

fn dev() -> PolicyVerifier {
    PolicyVerifier::new(Policy::insecure_dev())
}

async fn trusted_with(
    front: Arc<dyn PartitionExec>,
    attester: Arc<dyn Attester>,
    cfg: TrustedConfig,
) -> ServerHandle {
    serve_trusted(local().await, front, attester, cfg)
        .await
        .unwrap()
}

async fn tee_only(limits: Limits, handshake: Duration) -> ServerHandle {
    let m = model();
    let front = Arc::new(ToyPartition::new(m, 0, DIMS.len() - 1).unwrap());
    let cfg = TrustedConfig {
        limits,
        handshake_timeout: handshake,
        ..TrustedConfig::default()
    };
    trusted_with(front, Arc::new(InsecureDevAttester), cfg).await
}

/// True when the server closes `s` within `within` (EOF or reset), false when it stays open.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut b = [0u8; 64];
    loop {
        match tokio::time::timeout(within, s.read(&mut b)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_refuses_extra_connections() {
    let limits = Limits {
        max_connections: 4,
        ..Limits::default()
    };
    let t = tee_only(limits, Duration::from_millis(600)).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(t.local_addr()).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut fifth = TcpStream::connect(t.local_addr()).await.unwrap();
    assert!(
        closed_within(&mut fifth, Duration::from_millis(300)).await,
        "a connection over the cap must be closed at once"
    );
    assert_eq!(t.metrics().rejected_count("connection_limit"), 1);
    // The idle ones never handshake: the handshake timeout frees their slots.
    for s in &mut idle {
        assert!(closed_within(s, Duration::from_secs(2)).await);
    }
    let mut c = Client::connect(t.local_addr(), &dev(), ClientConfig::default())
        .await
        .unwrap();
    assert!(c.infer(input(1, 0)).await.is_ok());
    assert!(t.metrics().rejected_count("timeout") >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_session_and_slow_sender_are_cut() {
    let limits = Limits {
        idle_timeout: Duration::from_millis(300),
        read_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let t = tee_only(limits, Duration::from_secs(5)).await;
    // Idle after the handshake: closed after the idle timeout.
    let mut s = TcpStream::connect(t.local_addr()).await.unwrap();
    let _session = handshake_initiator(&mut s, "test").await.unwrap();
    let t0 = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(3)).await);
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
    // Slow sender: two bytes of a length prefix, then nothing: cut by the read timeout.
    let mut s = TcpStream::connect(t.local_addr()).await.unwrap();
    let _session = handshake_initiator(&mut s, "test").await.unwrap();
    s.write_all(&[0x10, 0x00]).await.unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(3)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_cap_and_per_model_frame_limit() {
    let limits = Limits {
        max_batch: 4,
        ..Limits::default()
    };
    let t = tee_only(limits, Duration::from_secs(5)).await;
    let mut c = Client::connect(t.local_addr(), &dev(), ClientConfig::default())
        .await
        .unwrap();
    assert_eq!(
        c.infer(input(4, 1)).await.unwrap().logits.shape,
        vec![4, 10]
    );
    // The frame limit is 4 x 784 values: a batch of 5 does not even fit a frame: the session ends.
    assert_eq!(frame_limit(&[0, 784], 4).unwrap(), 13 + 8 + 4 * 4 * 784);
    let e = c.infer(input(5, 1)).await.unwrap_err().to_string();
    assert!(e.contains("record length") && e.contains("at most"), "{e}");
    // A fresh session still works.
    let mut c = Client::connect(t.local_addr(), &dev(), ClientConfig::default())
        .await
        .unwrap();
    assert!(c.infer(input(2, 2)).await.is_ok());
}

struct Panicky(ToyPartition);

impl PartitionExec for Panicky {
    fn input_shape(&self) -> Vec<usize> {
        self.0.input_shape()
    }
    fn run(&self, input: TensorMsg) -> privsplit_tee::Result<TensorMsg> {
        assert!(input.data[0] != 13.0, "poisoned input");
        self.0.run(input)
    }
    fn describe(&self) -> String {
        "panicky".into()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_partition_fails_one_request_and_the_worker_lives() {
    let m = model();
    let front = Arc::new(Panicky(ToyPartition::new(m.clone(), 0, 2).unwrap()));
    let t = trusted_with(
        front,
        Arc::new(InsecureDevAttester),
        TrustedConfig {
            compute_threads: 1,
            ..TrustedConfig::default()
        },
    )
    .await;
    let cfg = ClientConfig {
        request_timeout: Duration::from_secs(3),
        ..ClientConfig::default()
    };
    let mut c = Client::connect(t.local_addr(), &dev(), cfg).await.unwrap();
    let mut bad = input(1, 0);
    bad.data[0] = 13.0;
    let e = c.infer(bad).await.unwrap_err().to_string();
    assert!(
        e.contains("panicked") && e.contains("poisoned input"),
        "{e}"
    );
    for j in 0..3 {
        let x = input(1, j);
        assert_eq!(
            c.infer(x.clone()).await.unwrap().logits,
            m.forward_range(&x, 0, 2).unwrap()
        );
    }
}

/// Insecure-dev evidence after a delay, counting how many run at once.
struct SlowAttester {
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl Attester for SlowAttester {
    fn name(&self) -> &'static str {
        "slow-test"
    }
    fn is_insecure_dev(&self) -> bool {
        true
    }
    fn evidence(&self, rd: &[u8; 64]) -> privsplit_tee::Result<Evidence> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(150));
        self.running.fetch_sub(1, Ordering::SeqCst);
        InsecureDevAttester.evidence(rd)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn evidence_generation_is_bounded() {
    let att = Arc::new(SlowAttester {
        running: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let front = Arc::new(ToyPartition::new(model(), 0, 2).unwrap());
    let t = trusted_with(
        front,
        att.clone(),
        TrustedConfig {
            limits: Limits {
                evidence_concurrency: 1,
                ..Limits::default()
            },
            ..TrustedConfig::default()
        },
    )
    .await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let a = t.local_addr();
        tasks.push(tokio::spawn(async move {
            Client::connect(a, &dev(), ClientConfig::default())
                .await
                .is_ok()
        }));
    }
    for h in tasks {
        assert!(h.await.unwrap());
    }
    assert_eq!(att.peak.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_queue_is_bounded() {
    let m = model();
    let back = ToyPartition::new(m, 1, 2)
        .unwrap()
        .with_delay(Duration::from_millis(300));
    let u = serve_untrusted(local().await, Arc::new(back), UntrustedConfig::default())
        .await
        .unwrap();
    let up = Arc::new(
        Upstream::new(u.local_addr(), Duration::from_secs(5), 1 << 20).with_queue_depth(2),
    );
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let up = up.clone();
        tasks.push(tokio::spawn(async move {
            up.call(TensorMsg::new(vec![1, 32], vec![0.1; 32]).unwrap())
                .await
        }));
    }
    let mut over = 0;
    for h in tasks {
        match h.await.unwrap() {
            Ok(_) => {}
            Err(e) => {
                assert!(e.to_string().contains("overloaded"), "{e}");
                over += 1;
            }
        }
    }
    assert!(over >= 3, "{over} refused");
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|v| v.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

/// `idle` connections that never handshake plus `heavy` sessions each sending maximal frames
/// (batch = max_batch) in a loop, while one well-behaved client must keep getting exact answers.
/// Returns the growth of this process's resident memory (server and clients together), KiB.
async fn load(idle: usize, heavy: usize, rounds: usize) -> u64 {
    let m = model();
    let limits = Limits {
        max_connections: idle + heavy + 8,
        ..Limits::default()
    };
    let t = tee_only(limits, Duration::from_secs(30)).await;
    let addr = t.local_addr();
    let before = rss_kib();
    let mut idles = Vec::new();
    for _ in 0..idle {
        idles.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut tasks = Vec::new();
    for h in 0..heavy {
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr, &dev(), ClientConfig::default())
                .await
                .unwrap();
            for r in 0..rounds {
                // Load shedding refuses some maximal requests (compute queue full): that is the bound.
                if let Err(e) = c.infer(input(limits.max_batch, h + r)).await {
                    assert!(e.to_string().contains("overloaded"), "{e}");
                }
            }
        }));
    }
    let mut good = Client::connect(addr, &dev(), ClientConfig::default())
        .await
        .unwrap();
    for j in 0..10 {
        let x = input(1, 1000 + j);
        let want = m.forward_range(&x, 0, 2).unwrap();
        // A well-behaved client retries a refused request after a short back-off.
        let mut got = None;
        for _ in 0..200 {
            match good.infer(x.clone()).await {
                Ok(p) => {
                    got = Some(p.logits);
                    break;
                }
                Err(e) if e.to_string().contains("overloaded") => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, Some(want));
    }
    for h in tasks {
        h.await.unwrap();
    }
    let after = rss_kib();
    drop(idles);
    after.saturating_sub(before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_with_limits_scaled_down() {
    let grew = load(200, 20, 5).await;
    eprintln!("RSS growth with 200 idle + 20 maximal-frame clients: {grew} KiB");
    // Bound: (connections x per-connection frame limit) + thread stacks + allocator slack.
    assert!(grew < 200 * 1024, "resident memory grew by {grew} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full size (1,000 idle + 100 maximal-frame clients): run with --ignored"]
async fn load_with_limits_full_size() {
    let grew = load(1000, 100, 5).await;
    eprintln!("RSS growth with 1000 idle + 100 maximal-frame clients: {grew} KiB");
    assert!(grew < 256 * 1024, "resident memory grew by {grew} KiB");
}
