//! The two services and the client (tokio, TCP).
//!
//! Data path of one request (`docs/WIRE.md`): client -(Noise, encrypted)-> trusted service: input;
//! trusted runs `[0, k)`; trusted -> untrusted: feature map (in the clear, by design); untrusted runs
//! `[k, n)` and returns logits; trusted -(encrypted)-> client: logits.

mod client;
mod trusted;
mod untrusted;
mod upstream;

use std::net::SocketAddr;
use std::time::Duration;

pub use client::{Client, ClientConfig, Prediction};
pub use trusted::{serve_trusted, TrustedConfig};
pub use untrusted::{load_dump, serve_untrusted, UntrustedConfig};
pub use upstream::Upstream;

/// Default time a request may wait on the untrusted service (5,000 ms).
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time for connecting and for the Noise handshake plus evidence (10,000 ms).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running service. Dropping it (or [`ServerHandle::shutdown`]) stops accepting and closes every
/// connection of the service at once, as a killed process would.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// The bound address (port resolved when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the service and closes its connections.
    pub fn shutdown(self) {
        self.task.abort();
    }

    /// Waits until the service stops (it runs until shut down).
    pub async fn join(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
