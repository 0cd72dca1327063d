//! The trusted <-> untrusted link (Noise KK, pinned static keys) on loopback: the pinned pair serves end
//! to end; a service holding another key is refused in both directions; a terminating man-in-the-middle is
//! refused and a byte relay sees only ciphertext; key files are 0600, atomic, checked on load.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::{client, local};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use privsplit_tee::attestation::InsecureDevAttester;
use privsplit_tee::exec::{ToyMlp, ToyPartition};
use privsplit_tee::link::{link_responder, read_public_key, LinkKeys, StaticKeypair};
use privsplit_tee::service::{
    serve_trusted, serve_untrusted, ServerHandle, TrustedConfig, UntrustedConfig,
};
use privsplit_tee::wire::TensorMsg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DIMS: [usize; 3] = [12, 16, 5];

fn model() -> Arc<ToyMlp> {
    Arc::new(ToyMlp::new(&DIMS, 11).unwrap())
}

fn input(j: usize) -> TensorMsg {
    TensorMsg::new(
        vec![1, DIMS[0]],
        (0..DIMS[0])
            .map(|i| ((i + 3 * j) % 7) as f32 * 0.25)
            .collect(),
    )
    .unwrap()
}

fn keys(own: &StaticKeypair, peer: &StaticKeypair) -> LinkKeys {
    LinkKeys {
        local: own.clone(),
        peer: peer.public(),
    }
}

async fn untrusted(link: Option<LinkKeys>) -> ServerHandle {
    let back = ToyPartition::new(model(), 1, 2).unwrap();
    serve_untrusted(
        local().await,
        Arc::new(back),
        UntrustedConfig {
            link,
            ..UntrustedConfig::default()
        },
    )
    .await
    .unwrap()
}

async fn trusted(upstream: std::net::SocketAddr, link: Option<LinkKeys>) -> ServerHandle {
    let front = ToyPartition::new(model(), 0, 1).unwrap();
    serve_trusted(
        local().await,
        Arc::new(front),
        Arc::new(InsecureDevAttester),
        TrustedConfig {
            upstream: Some(upstream),
            upstream_timeout: Duration::from_secs(3),
            link,
            ..TrustedConfig::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_pair_serves_end_to_end() {
    let (kt, ku) = (
        StaticKeypair::generate().unwrap(),
        StaticKeypair::generate().unwrap(),
    );
    let u = untrusted(Some(keys(&ku, &kt))).await;
    let t = trusted(u.local_addr(), Some(keys(&kt, &ku))).await;
    let mut c = client(&t).await;
    let m = model();
    for j in 0..5 {
        let x = input(j);
        assert_eq!(
            c.infer(x.clone()).await.unwrap().logits,
            m.forward_range(&x, 0, 2).unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_with_another_key_is_refused() {
    let (kt, ku, kx) = (
        StaticKeypair::generate().unwrap(),
        StaticKeypair::generate().unwrap(),
        StaticKeypair::generate().unwrap(),
    );
    // The untrusted service runs with key X; the trusted service pins U.
    let u = untrusted(Some(keys(&kx, &kt))).await;
    let t = trusted(u.local_addr(), Some(keys(&kt, &ku))).await;
    let mut c = client(&t).await;
    let e = c.infer(input(0)).await.unwrap_err().to_string();
    assert!(e.contains("pinned static key"), "{e}");
    // A trusted service with key X towards an untrusted service pinning T.
    let u = untrusted(Some(keys(&ku, &kt))).await;
    let t = trusted(u.local_addr(), Some(keys(&kx, &ku))).await;
    let mut c = client(&t).await;
    let e = c.infer(input(0)).await.unwrap_err().to_string();
    assert!(e.contains("pinned static key"), "{e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(u.metrics().rejected_count("handshake") >= 1);
    // A trusted service without keys (clear frames) is refused by a keyed untrusted service.
    let t = trusted(u.local_addr(), None).await;
    let mut c = client(&t).await;
    assert!(c.infer(input(0)).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_mitm_is_refused_and_a_relay_sees_ciphertext_only() {
    let (kt, ku, km) = (
        StaticKeypair::generate().unwrap(),
        StaticKeypair::generate().unwrap(),
        StaticKeypair::generate().unwrap(),
    );
    // A man in the middle that knows both public keys (they are public) but holds only its own private
    // key tries to answer the trusted service's handshake as the untrusted service.
    let mitm = local().await;
    let maddr = mitm.local_addr().unwrap();
    let mitm_keys = keys(&km, &kt);
    let got = Arc::new(Mutex::new(None));
    let g = got.clone();
    tokio::spawn(async move {
        let (mut s, _) = mitm.accept().await.unwrap();
        let r = link_responder(&mut s, &mitm_keys, "trusted").await;
        *g.lock().unwrap() = Some(r.map(|_| ()).map_err(|e| e.to_string()));
    });
    let t = trusted(maddr, Some(keys(&kt, &ku))).await;
    let mut c = client(&t).await;
    let e = c.infer(input(1)).await.unwrap_err().to_string();
    assert!(e.contains("pinned static key"), "{e}");
    let seen = got.lock().unwrap().clone().unwrap();
    assert!(seen.unwrap_err().contains("pinned static key"));

    // A relay forwarding bytes between the genuine pair: answers are right, and the feature map never
    // appears in what the relay sees.
    let u = untrusted(Some(keys(&ku, &kt))).await;
    let relay = local().await;
    let raddr = relay.local_addr().unwrap();
    let uaddr = u.local_addr();
    let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let s2 = seen.clone();
    tokio::spawn(async move {
        let (a, _) = relay.accept().await.unwrap();
        let b = TcpStream::connect(uaddr).await.unwrap();
        let (mut ar, mut aw) = a.into_split();
        let (mut br, mut bw) = b.into_split();
        let s3 = s2.clone();
        let up = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = ar.read(&mut buf).await {
                if n == 0 || bw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                s3.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let mut buf = [0u8; 4096];
        while let Ok(n) = br.read(&mut buf).await {
            if n == 0 || aw.write_all(&buf[..n]).await.is_err() {
                break;
            }
            s2.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        let _ = up.await;
    });
    let t = trusted(raddr, Some(keys(&kt, &ku))).await;
    let mut c = client(&t).await;
    let m = model();
    let x = input(2);
    let features = m.forward_range(&x, 0, 1).unwrap();
    assert_eq!(
        c.infer(x.clone()).await.unwrap().logits,
        m.forward_range(&x, 0, 2).unwrap()
    );
    let needle: Vec<u8> = features.data[..4]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let seen = seen.lock().unwrap();
    assert!(seen.len() > 4 * DIMS[1]);
    assert!(
        !seen.windows(needle.len()).any(|w| w == needle.as_slice()),
        "feature map visible on the link"
    );
}

#[test]
fn key_files_are_private_atomic_and_checked() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("trusted.key");
    let k = StaticKeypair::generate().unwrap();
    let pubp = k.write_file(&p).unwrap();
    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(StaticKeypair::read_file(&p).unwrap().public(), k.public());
    assert_eq!(read_public_key(&pubp).unwrap(), k.public());
    assert_eq!(read_public_key(&p).unwrap(), k.public());
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // A private key readable by others is refused.
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = StaticKeypair::read_file(&p).unwrap_err().to_string();
    assert!(e.contains("0600"), "{e}");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A public key that does not match the private key is refused.
    let other = StaticKeypair::generate().unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    let pub_hex: String = k.public().iter().map(|b| format!("{b:02x}")).collect();
    let other_hex: String = other.public().iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&p, text.replace(&pub_hex, &other_hex)).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = StaticKeypair::read_file(&p).unwrap_err().to_string();
    assert!(e.contains("not the public key"), "{e}");
    // A .pub file is not a private key.
    let e = StaticKeypair::read_file(&pubp).unwrap_err().to_string();
    assert!(!e.is_empty());
}
