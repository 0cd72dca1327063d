//! Operations: Prometheus metrics, health and readiness probes on a separate (localhost) HTTP port, and
//! the SIGTERM / Ctrl-C signal that starts a graceful drain.
//!
//! Endpoints (HTTP/1.1, `GET` only, one request per connection, `Connection: close`):
//! - `/healthz`: 200 `ok` while the process serves (liveness);
//! - `/readyz`: 200 `ready`, or 503 while draining or after the last call to the untrusted service
//!   failed (readiness: take the replica out of the load balancer);
//! - `/metrics`: the text exposition format (`prometheus-client`'s OpenMetrics text encoder, which
//!   Prometheus scrapes), metric names prefixed `privsplit_`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use super::ServerHandle;
use crate::error::{io, Result};

type Labels = [(&'static str, &'static str); 1];

/// The metrics of one service (cheap to update from any task).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Histogram,
    rejected: Family<Labels, Counter>,
    queue_depth: Gauge,
    connections: Gauge,
    draining: AtomicBool,
    upstream_ok: AtomicBool,
}

impl Metrics {
    /// Fresh metrics for the service called `service` (`trusted` or `untrusted`, used in the help text).
    pub fn new(service: &str) -> Self {
        let mut registry = Registry::with_prefix("privsplit");
        let requests = Family::<Labels, Counter>::default();
        // 0.5 ms .. ~16 s in 16 doubling buckets.
        let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let rejected = Family::<Labels, Counter>::default();
        let queue_depth = Gauge::default();
        let connections = Gauge::default();
        registry.register(
            "requests",
            format!("Requests answered by the {service} service, by result"),
            requests.clone(),
        );
        registry.register(
            "request_latency_seconds",
            format!("Time from receiving a request to sending its reply ({service}), seconds"),
            latency.clone(),
        );
        registry.register(
            "rejected_handshakes",
            "Connections refused before a session existed, by reason",
            rejected.clone(),
        );
        registry.register(
            "queue_depth",
            "Compute jobs waiting for a thread",
            queue_depth.clone(),
        );
        registry.register(
            "connections",
            "Open client (or link) connections",
            connections.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            rejected,
            queue_depth,
            connections,
            draining: AtomicBool::new(false),
            upstream_ok: AtomicBool::new(true),
        }
    }

    /// Counts one answered request (`result`: `ok`, `error`, `verification_failed`, `overloaded`) and
    /// its latency in seconds.
    pub fn request(&self, result: &'static str, seconds: f64) {
        self.requests.get_or_create(&[("result", result)]).inc();
        self.latency.observe(seconds);
    }

    /// Counts one refused connection (`reason`: `connection_limit`, `timeout`, `handshake`,
    /// `attestation`).
    pub fn rejected_handshake(&self, reason: &'static str) {
        self.rejected.get_or_create(&[("reason", reason)]).inc();
    }

    /// Number of refused connections for `reason` so far.
    pub fn rejected_count(&self, reason: &'static str) -> u64 {
        self.rejected.get_or_create(&[("reason", reason)]).get()
    }

    /// Number of answered requests with `result` so far.
    pub fn request_count(&self, result: &'static str) -> u64 {
        self.requests.get_or_create(&[("result", result)]).get()
    }

    /// Sets the queue-depth gauge.
    pub fn set_queue_depth(&self, n: usize) {
        self.queue_depth.set(n as i64);
    }

    /// One more (`+1`) or one fewer (`-1`) open connection.
    pub fn connection(&self, delta: i64) {
        self.connections.inc_by(delta);
    }

    /// Open connections now.
    pub fn open_connections(&self) -> i64 {
        self.connections.get()
    }

    /// Marks the service as draining (readiness fails from now on).
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Records whether the last call to the untrusted service succeeded.
    pub fn set_upstream_ok(&self, ok: bool) {
        self.upstream_ok.store(ok, Ordering::Relaxed);
    }

    /// Ready to take traffic: not draining and the untrusted service answered last time.
    pub fn ready(&self) -> bool {
        !self.draining.load(Ordering::Relaxed) && self.upstream_ok.load(Ordering::Relaxed)
    }

    /// The text exposition of all metrics.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        if encode(&mut s, &self.registry).is_err() {
            s.clear();
        }
        s
    }
}

/// Serves `/healthz`, `/readyz` and `/metrics` for `metrics` on `listener` (bind it to 127.0.0.1 or a
/// pod-internal address; it has no authentication) until the handle is dropped.
///
/// # Errors
/// [`crate::Error::Io`] when the listener's address cannot be read.
pub async fn serve_ops(listener: TcpListener, metrics: Arc<Metrics>) -> Result<ServerHandle> {
    let addr = listener.local_addr().map_err(|e| io("ops listener", e))?;
    let (drain_tx, mut drain_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                acc = listener.accept() => match acc {
                    Ok((s, _)) => {
                        let m = metrics.clone();
                        tokio::spawn(async move {
                            if let Err(e) = answer(s, &m).await {
                                debug!("ops request: {e}");
                            }
                        });
                    }
                    Err(e) => warn!("ops: accept failed: {e}"),
                },
                _ = drain_rx.changed() => return,
            }
        }
    });
    Ok(ServerHandle::new(addr, task, drain_tx))
}

async fn answer(mut s: TcpStream, m: &Metrics) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    // The request line and headers must arrive within 2 s and fit in 4 KiB.
    let read = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let k = s.read(&mut buf[n..]).await?;
            n += k;
            if k == 0 || n == buf.len() || buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok::<_, std::io::Error>(());
            }
        }
    })
    .await;
    if read.is_err() {
        return Ok(());
    }
    let head = String::from_utf8_lossy(&buf[..n]);
    let mut parts = head.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body) = match (method, path) {
        ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_string()),
        ("GET", "/readyz") if m.ready() => ("200 OK", "text/plain", "ready\n".to_string()),
        ("GET", "/readyz") => (
            "503 Service Unavailable",
            "text/plain",
            "not ready\n".to_string(),
        ),
        ("GET", "/metrics") => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            m.encode(),
        ),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(resp.as_bytes()).await?;
    s.shutdown().await
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C): the signal to drain and stop (unix; Ctrl-C elsewhere).
///
/// # Errors
/// [`crate::Error::Io`] when the signal handlers cannot be installed.
pub async fn shutdown_signal() -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(|e| io("SIGTERM handler", e))?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| io("SIGINT handler", e))?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| io("Ctrl-C handler", e))
    }
}
