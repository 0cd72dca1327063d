//! Operations on loopback: Prometheus metrics and probes on their own port, graceful drain of requests in
//! flight, and the TOML configuration's limits reaching the service.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::sync::Arc;
use std::time::Duration;

use privsplit_tee::attestation::{Policy, PolicyVerifier};
use privsplit_tee::exec::{ToyMlp, ToyPartition};
use privsplit_tee::service::{serve_ops, serve_untrusted, Client, ClientConfig, UntrustedConfig};
use privsplit_tee::wire::TensorMsg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::local;

const DIMS: [usize; 3] = [8, 12, 4];

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (code, body)
}

fn x() -> TensorMsg {
    TensorMsg::new(vec![1, DIMS[0]], vec![0.25; DIMS[0]]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_probes_and_graceful_drain() {
    let m = Arc::new(ToyMlp::new(&DIMS, 2).unwrap());
    let back = ToyPartition::new(m.clone(), 1, 2)
        .unwrap()
        .with_delay(Duration::from_millis(400));
    let u = serve_untrusted(local().await, Arc::new(back), UntrustedConfig::default())
        .await
        .unwrap();
    let front = ToyPartition::new(m.clone(), 0, 1).unwrap();
    let t = common::trusted_dev(Arc::new(front), u.local_addr()).await;
    let ops = serve_ops(local().await, t.metrics()).await.unwrap();
    let oaddr = ops.local_addr();
    assert_eq!(get(oaddr, "/healthz").await, (200, "ok\n".into()));
    assert_eq!(get(oaddr, "/readyz").await.0, 200);
    assert_eq!(get(oaddr, "/nope").await.0, 404);
    let dev = PolicyVerifier::new(Policy::insecure_dev());
    let mut c = Client::connect(t.local_addr(), &dev, ClientConfig::default())
        .await
        .unwrap();
    c.infer(x()).await.unwrap();
    // Over the connection... a refused handshake: garbage instead of a Noise message.
    let mut junk = TcpStream::connect(t.local_addr()).await.unwrap();
    junk.write_all(&[3, 0, 0, 0, 1, 2, 3]).await.unwrap();
    let mut sink = Vec::new();
    let _ = junk.read_to_end(&mut sink).await;
    let (code, body) = get(oaddr, "/metrics").await;
    assert_eq!(code, 200);
    for want in [
        "privsplit_requests_total{result=\"ok\"} 1",
        "privsplit_request_latency_seconds_count 1",
        "privsplit_rejected_handshakes_total{reason=\"handshake\"} 1",
        "privsplit_queue_depth",
        "privsplit_connections",
    ] {
        assert!(body.contains(want), "missing {want:?} in\n{body}");
    }
    // A request in flight when the drain starts is still answered; new connections are refused.
    let addr = t.local_addr();
    let inflight = tokio::spawn(async move { c.infer(x()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let metrics = t.metrics();
    let drain = tokio::spawn(t.drain(Duration::from_secs(5)));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!metrics.ready());
    assert_eq!(get(oaddr, "/readyz").await.0, 503);
    let r = inflight.await.unwrap();
    let want = m.forward_range(&x(), 0, 2).unwrap();
    assert_eq!(r.unwrap().logits, want);
    assert!(drain.await.unwrap(), "drain did not finish in time");
    assert!(
        Client::connect(addr, &dev, ClientConfig::default())
            .await
            .is_err(),
        "a drained service accepted a new session"
    );
}
