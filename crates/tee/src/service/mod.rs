//! The two services and the client (tokio, TCP).
//!
//! Data path of one request (`docs/WIRE.md`): client -(Noise NN, encrypted, attested)-> trusted service:
//! input; trusted runs `[0, k)`; trusted -(Noise KK link, static keys pinned on both sides)-> untrusted:
//! feature map; untrusted runs `[k, n)` and returns logits (or, with verification, every linear layer's
//! output, checked by the trusted partition: [`crate::verify`]); trusted -(encrypted)-> client: logits.
//!
//! Every service runs under [`Limits`]: a connection cap, per-model frame limits, a batch cap, handshake,
//! idle and read timeouts, bounded queues and bounded evidence generation.

mod client;
mod config;
mod ops;
mod trusted;
mod untrusted;
mod upstream;

use std::net::SocketAddr;
use std::time::Duration;

pub use client::{Client, ClientConfig, Prediction};
pub use config::{run_until_signal, LimitsFile, LinkFile, ServeFile, ServeOptions, VerifyFile};
pub use ops::{serve_ops, shutdown_signal, Metrics};
pub use trusted::{serve_trusted, TrustedConfig};
pub use untrusted::{load_dump, serve_untrusted, UntrustedConfig};
pub use upstream::Upstream;

/// Default time a request may wait on the untrusted service (5,000 ms).
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time for connecting and for the Noise handshake plus evidence (10,000 ms).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Resource limits of a service (trusted or untrusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest batch (first axis) of one request; the per-model frame limit is the input shape times this
    /// (default 8).
    pub max_batch: usize,
    /// Most connections open at once; further connections are accepted and closed at once, counted as
    /// rejected handshakes (`connection_limit`) (default 1,024).
    pub max_connections: usize,
    /// Longest wait for the next request on an established session before it is closed (default 60 s).
    pub idle_timeout: Duration,
    /// Longest time from the first to the last byte of one request frame (default 5 s).
    pub read_timeout: Duration,
    /// Bound of every queue: compute jobs waiting for a thread, requests in flight per link connection,
    /// replies waiting to be written, requests waiting on the upstream link (default 64).
    pub queue_depth: usize,
    /// Evidence generations (hardware quotes) running at once; handshakes beyond it wait inside their
    /// handshake timeout (default 2).
    pub evidence_concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_batch: 8,
            max_connections: 1024,
            idle_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(5),
            queue_depth: crate::exec::DEFAULT_QUEUE_DEPTH,
            evidence_concurrency: 2,
        }
    }
}

impl Limits {
    /// The read time limits of a session.
    pub fn read_timeouts(&self) -> crate::wire::ReadTimeouts {
        crate::wire::ReadTimeouts {
            idle: self.idle_timeout,
            read: self.read_timeout,
        }
    }

    /// Checks the limits.
    ///
    /// # Errors
    /// [`crate::Error::Config`] when a count is 0.
    pub fn validate(&self) -> crate::Result<()> {
        for (what, v) in [
            ("max batch", self.max_batch),
            ("max connections", self.max_connections),
            ("queue depth", self.queue_depth),
            ("evidence concurrency", self.evidence_concurrency),
        ] {
            if v == 0 {
                return Err(crate::Error::Config {
                    what,
                    reason: "must be at least 1".into(),
                });
            }
        }
        Ok(())
    }
}

/// A running service. Dropping it (or [`ServerHandle::shutdown`]) stops accepting and closes every
/// connection of the service at once, as a killed process would; [`ServerHandle::drain`] stops
/// gracefully.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    drain: tokio::sync::watch::Sender<bool>,
    metrics: std::sync::Arc<Metrics>,
}

impl ServerHandle {
    pub(crate) fn new(
        addr: SocketAddr,
        task: tokio::task::JoinHandle<()>,
        drain: tokio::sync::watch::Sender<bool>,
    ) -> Self {
        Self::with_metrics(addr, task, drain, std::sync::Arc::new(Metrics::new("ops")))
    }

    pub(crate) fn with_metrics(
        addr: SocketAddr,
        task: tokio::task::JoinHandle<()>,
        drain: tokio::sync::watch::Sender<bool>,
        metrics: std::sync::Arc<Metrics>,
    ) -> Self {
        Self {
            addr,
            task,
            drain,
            metrics,
        }
    }

    /// The bound address (port resolved when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The service's metrics (serve them with [`serve_ops`]).
    pub fn metrics(&self) -> std::sync::Arc<Metrics> {
        self.metrics.clone()
    }

    /// Stops the service and closes its connections.
    pub fn shutdown(self) {
        self.task.abort();
    }

    /// Graceful stop: stops accepting, lets every request already received finish and be answered, closes
    /// idle sessions, and waits at most `deadline` for that before closing what is left. Returns true when
    /// everything finished in time.
    pub async fn drain(mut self, deadline: Duration) -> bool {
        self.metrics.set_draining();
        let _ = self.drain.send(true);
        let done = tokio::time::timeout(deadline, &mut self.task).await.is_ok();
        self.task.abort();
        done
    }

    /// Waits until the service stops (it runs until shut down or drained).
    pub async fn join(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
