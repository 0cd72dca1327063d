//! Helpers that several test binaries of `privsplit-tee` share (each binary uses a subset).
#![allow(dead_code)]

use privsplit_tee::attestation::{Policy, PolicyVerifier};
use privsplit_tee::service::{Client, ClientConfig, ServerHandle};
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
