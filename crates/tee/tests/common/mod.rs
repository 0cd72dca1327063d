//! Helpers that several test binaries of `privsplit-tee` share (each binary uses a subset).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use privsplit_tee::attestation::{InsecureDevAttester, Policy, PolicyVerifier};
use privsplit_tee::exec::PartitionExec;
use privsplit_tee::service::{serve_trusted, Client, ClientConfig, ServerHandle, TrustedConfig};
use tokio::net::TcpListener;

/// A listener on a free port of the loopback interface.
pub async fn local() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// A client of the trusted partition `t` that accepts the insecure development attestation
/// (`Policy::insecure_dev`), with the default client settings.
pub async fn client(t: &ServerHandle) -> Client {
    Client::connect(
        t.local_addr(),
        &PolicyVerifier::new(Policy::insecure_dev()),
        ClientConfig::default(),
    )
    .await
    .unwrap()
}

/// The trusted partition `front` served on a free loopback port with the insecure development
/// attestation (`InsecureDevAttester`), forwarding the feature map to the untrusted service at
/// `upstream`; default settings otherwise.
pub async fn trusted_dev(front: Arc<dyn PartitionExec>, upstream: SocketAddr) -> ServerHandle {
    serve_trusted(
        local().await,
        front,
        Arc::new(InsecureDevAttester),
        TrustedConfig {
            upstream: Some(upstream),
            ..TrustedConfig::default()
        },
    )
    .await
    .unwrap()
}
