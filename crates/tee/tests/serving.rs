//! End-to-end serving on loopback (127.0.0.1, OS-assigned ports): correctness against the in-process
//! split run, 1,000 requests from 16 concurrent clients, the untrusted service killed and restarted,
//! a failing hardware attester, a relaying man-in-the-middle, and the feature dump.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use privsplit_tee::attestation::sources::ConfigfsTsmAttester;
use privsplit_tee::attestation::{InsecureDevAttester, Policy, PolicyVerifier};
use privsplit_tee::channel::{handshake_initiator, handshake_responder, SecureChannel};
use privsplit_tee::exec::{PartitionExec, ToyMlp, ToyPartition};
use privsplit_tee::service::{
    load_dump, serve_trusted, serve_untrusted, Client, ClientConfig, ServerHandle, TrustedConfig,
    UntrustedConfig,
};
use privsplit_tee::wire::TensorMsg;
use tokio::net::{TcpListener, TcpStream};

const DIMS: [usize; 4] = [16, 32, 24, 10];
const K: usize = 1;

fn model() -> Arc<ToyMlp> {
    Arc::new(ToyMlp::new(&DIMS, 7).unwrap())
}

fn input(client: usize, j: usize) -> TensorMsg {
    let data = (0..DIMS[0])
        .map(|i| ((client * 131 + j * 17 + i * 7) % 23) as f32 / 11.0 - 1.0)
        .collect();
    TensorMsg::new(vec![1, DIMS[0]], data).unwrap()
}

async fn local() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

async fn start_untrusted(m: &Arc<ToyMlp>, delay: Duration, at: Option<SocketAddr>) -> ServerHandle {
    let l = match at {
        Some(a) => TcpListener::bind(a).await.unwrap(),
        None => local().await,
    };
    let back = ToyPartition::new(m.clone(), K, DIMS.len() - 1)
        .unwrap()
        .with_delay(delay);
    serve_untrusted(l, Arc::new(back), UntrustedConfig::default())
        .await
        .unwrap()
}

async fn start_trusted(m: &Arc<ToyMlp>, upstream: SocketAddr, timeout: Duration) -> ServerHandle {
    let front = ToyPartition::new(m.clone(), 0, K).unwrap();
    let cfg = TrustedConfig {
        upstream: Some(upstream),
        upstream_timeout: timeout,
        ..TrustedConfig::default()
    };
    serve_trusted(
        local().await,
        Arc::new(front),
        Arc::new(InsecureDevAttester),
        cfg,
    )
    .await
    .unwrap()
}

fn dev_verifier() -> PolicyVerifier {
    PolicyVerifier::new(Policy::insecure_dev())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dev_mode_end_to_end_matches_in_process_and_needs_opt_in() {
    let m = model();
    let u = start_untrusted(&m, Duration::ZERO, None).await;
    let t = start_trusted(&m, u.local_addr(), Duration::from_secs(5)).await;
    // Without --allow-insecure-dev the client refuses before sending anything.
    let strict = PolicyVerifier::new(Policy::default());
    let e = Client::connect(t.local_addr(), &strict, ClientConfig::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("allow-insecure-dev"), "{e}");
    let mut c = Client::connect(t.local_addr(), &dev_verifier(), ClientConfig::default())
        .await
        .unwrap();
    assert!(c.claims().insecure_dev);
    for j in 0..5 {
        let x = input(0, j);
        let want = m.forward_range(&x, 0, DIMS.len() - 1).unwrap();
        let p = c.infer(x).await.unwrap();
        assert!(p.insecure_dev, "reply not marked insecure-dev");
        assert_eq!(p.logits, want);
    }
    // A wrongly shaped input is a clear error, and the session goes on.
    let e = c
        .infer(TensorMsg::new(vec![1, 3], vec![0.0; 3]).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected shape"), "{e}");
    assert!(c.infer(input(0, 9)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_1000_requests_16_clients_all_exact() {
    let m = model();
    let u = start_untrusted(&m, Duration::ZERO, None).await;
    let t = start_trusted(&m, u.local_addr(), Duration::from_secs(10)).await;
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..16usize {
        let addr = t.local_addr();
        let m = m.clone();
        let n = if client < 8 { 63 } else { 62 }; // 8*63 + 8*62 = 1000
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr, &dev_verifier(), ClientConfig::default())
                .await
                .unwrap();
            let mut ok = 0usize;
            for j in 0..n {
                let x = input(client, j);
                let f = m.forward_range(&x, 0, K).unwrap();
                let want = m.forward_range(&f, K, DIMS.len() - 1).unwrap();
                let got = c.infer(x).await.unwrap();
                assert_eq!(got.logits, want, "client {client} request {j}");
                ok += 1;
            }
            ok
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 1000);
    eprintln!("1000 requests / 16 clients in {:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn untrusted_killed_mid_run_then_restarted() {
    let m = model();
    let u = start_untrusted(&m, Duration::from_millis(400), None).await;
    let uaddr = u.local_addr();
    let t = start_trusted(&m, uaddr, Duration::from_secs(3)).await;
    let taddr = t.local_addr();
    // Four requests in flight on four sessions.
    let mut inflight = Vec::new();
    for client in 0..4 {
        inflight.push(tokio::spawn(async move {
            let mut c = Client::connect(taddr, &dev_verifier(), ClientConfig::default())
                .await
                .unwrap();
            let t0 = Instant::now();
            let r = c.infer(input(client, 0)).await;
            (r, t0.elapsed())
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    u.shutdown(); // closes the listener and every connection, as a killed process would
    for h in inflight {
        let (r, dt) = h.await.unwrap();
        let e = r.unwrap_err().to_string();
        assert!(e.contains("unavailable") && e.contains("in flight"), "{e}");
        assert!(dt < Duration::from_secs(3), "took {dt:?}");
    }
    // The trusted service stays up: new sessions work, requests fail fast with a clear error.
    let mut c = Client::connect(taddr, &dev_verifier(), ClientConfig::default())
        .await
        .unwrap();
    let e = c.infer(input(5, 0)).await.unwrap_err().to_string();
    assert!(
        e.contains("unavailable") && e.contains("connect failed"),
        "{e}"
    );
    // Untrusted back on the same port: serving resumes on the same session.
    let _u2 = start_untrusted(&m, Duration::ZERO, Some(uaddr)).await;
    let x = input(6, 1);
    let want = m.forward_range(&x, 0, DIMS.len() - 1).unwrap();
    assert_eq!(c.infer(x).await.unwrap().logits, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_timeout_is_enforced() {
    let m = model();
    let u = start_untrusted(&m, Duration::from_millis(1500), None).await;
    let t = start_trusted(&m, u.local_addr(), Duration::from_millis(300)).await;
    let mut c = Client::connect(t.local_addr(), &dev_verifier(), ClientConfig::default())
        .await
        .unwrap();
    let t0 = Instant::now();
    let e = c.infer(input(0, 0)).await.unwrap_err().to_string();
    assert!(e.contains("timed out after 300 ms"), "{e}");
    assert!(t0.elapsed() < Duration::from_millis(1400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_hardware_attester_never_falls_back() {
    let m = model();
    let tmp = tempfile::tempdir().unwrap();
    let front = ToyPartition::new(m.clone(), 0, DIMS.len() - 1).unwrap();
    let att = ConfigfsTsmAttester::new(tmp.path(), None, None);
    let t = serve_trusted(
        local().await,
        Arc::new(front),
        Arc::new(att),
        TrustedConfig::default(),
    )
    .await
    .unwrap();
    // Even a client that would accept insecure-dev evidence gets none.
    let e = Client::connect(t.local_addr(), &dev_verifier(), ClientConfig::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot attest") && e.contains("evidence source failed"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaying_man_in_the_middle_is_detected() {
    let m = model();
    let front = ToyPartition::new(m.clone(), 0, DIMS.len() - 1).unwrap();
    let t = serve_trusted(
        local().await,
        Arc::new(front),
        Arc::new(InsecureDevAttester),
        TrustedConfig::default(),
    )
    .await
    .unwrap();
    let taddr = t.local_addr();
    let proxy = local().await;
    let paddr = proxy.local_addr().unwrap();
    // The proxy terminates the client's handshake and runs its own to the server, relaying the
    // server's (genuine) evidence.
    let relay = tokio::spawn(async move {
        let (mut cs, _) = proxy.accept().await.unwrap();
        let s1 = handshake_responder(&mut cs, "client").await.unwrap();
        let mut ss = TcpStream::connect(taddr).await.unwrap();
        let s2 = handshake_initiator(&mut ss, "server").await.unwrap();
        assert_ne!(s1.handshake_hash(), s2.handshake_hash());
        let mut to_server = SecureChannel::new(ss, s2, 1 << 20, "server".into());
        let mut to_client = SecureChannel::new(cs, s1, 1 << 20, "client".into());
        let ev = to_server.recv().await.unwrap().unwrap();
        to_client.send(&ev).await.unwrap();
        // Any input the client sent would arrive here; it must send none.
        to_client.recv().await
    });
    let e = Client::connect(paddr, &dev_verifier(), ClientConfig::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("report data"), "{e}");
    let seen = relay.await.unwrap();
    assert!(
        matches!(seen, Ok(None)) || seen.is_err(),
        "client sent input to the relay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_features_stores_exactly_what_untrusted_saw() {
    let m = model();
    let dir = tempfile::tempdir().unwrap();
    let back = ToyPartition::new(m.clone(), K, DIMS.len() - 1).unwrap();
    let u = serve_untrusted(
        local().await,
        Arc::new(back),
        UntrustedConfig {
            dump_dir: Some(dir.path().to_path_buf()),
            ..UntrustedConfig::default()
        },
    )
    .await
    .unwrap();
    let t = start_trusted(&m, u.local_addr(), Duration::from_secs(5)).await;
    let mut c = Client::connect(t.local_addr(), &dev_verifier(), ClientConfig::default())
        .await
        .unwrap();
    let mut want = Vec::new();
    for j in 0..3 {
        let x = input(2, j);
        want.push(m.forward_range(&x, 0, K).unwrap());
        c.infer(x).await.unwrap();
    }
    let got = load_dump(dir.path()).unwrap();
    assert_eq!(got, want);
    let front = ToyPartition::new(m, 0, K).unwrap();
    assert_eq!(front.input_shape(), vec![0, DIMS[0]]);
}
