//! 10^5 fuzzed frames on each link, through the real receive paths: the client channel (Noise NN) and the
//! trusted <-> untrusted link (Noise KK, including trace payloads). Mutated plaintexts are sealed by the
//! genuine peer (so they reach the frame and trace parsers), mutated ciphertexts must fail authentication;
//! nothing panics. Then garbage on the sockets of running services: they stay up and keep answering.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::sync::Arc;

use privsplit_tee::attestation::{InsecureDevAttester, Policy, PolicyVerifier};
use privsplit_tee::channel::{handshake_initiator, handshake_responder};
use privsplit_tee::exec::{ToyMlp, ToyPartition};
use privsplit_tee::fuzzing::{fuzz_plaintext, FuzzRng};
use privsplit_tee::link::{link_initiator, link_responder, LinkKeys, StaticKeypair};
use privsplit_tee::service::{
    serve_trusted, serve_untrusted, Client, ClientConfig, TrustedConfig, UntrustedConfig,
};
use privsplit_tee::verify::encode_tensors;
use privsplit_tee::wire::{Body, Frame, FrameKind, TensorMsg};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

fn tensor(r: &mut FuzzRng) -> TensorMsg {
    let shape: Vec<usize> = (0..1 + r.below(4)).map(|_| 1 + r.below(3)).collect();
    let n = shape.iter().product();
    TensorMsg::new(
        shape,
        (0..n)
            .map(|_| f32::from_bits(r.next_u64() as u32))
            .collect(),
    )
    .unwrap()
}

/// A valid frame of any kind (traces included), then mutated in one of several ways.
fn fuzzed_plaintext(r: &mut FuzzRng, i: usize) -> Vec<u8> {
    let f = match r.below(3) {
        0 => Frame::tensor(FrameKind::Request, r.next_u64(), tensor(r)),
        1 => Frame {
            kind: FrameKind::Trace,
            flags: 0,
            request_id: r.next_u64(),
            body: Body::Bytes(encode_tensors(
                &(0..r.below(4)).map(|_| tensor(r)).collect::<Vec<_>>(),
            )),
        },
        _ => Frame::error(r.next_u64(), "x"),
    };
    let mut b = f.to_bytes();
    match i % 5 {
        0 => {}
        1 => {
            let p = r.below(b.len());
            b[p] ^= 1 << r.below(8);
        }
        2 => b.truncate(r.below(b.len())),
        3 => b.extend((0..1 + r.below(8)).map(|_| r.next_u64() as u8)),
        _ => {
            // Lie in the trace count / ndim / dims region.
            for _ in 0..3 {
                let p = 13 + r.below(b.len().saturating_sub(13).max(1));
                if p < b.len() {
                    b[p] = r.next_u64() as u8;
                }
            }
        }
    }
    b
}

const N: usize = 100_000;

#[tokio::test]
async fn client_channel_100k_fuzzed_frames() {
    let mut r = FuzzRng::new(7);
    let (mut parsed, mut auth_fail) = (0usize, 0usize);
    let mut i = 0;
    while i < N {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let (c, s) = tokio::join!(
            handshake_initiator(&mut a, "c"),
            handshake_responder(&mut b, "s")
        );
        let (mut c, mut s) = (c.unwrap(), s.unwrap());
        // One session carries up to 1,000 frames, until a tampered ciphertext ends it.
        for _ in 0..1000 {
            let plain = fuzzed_plaintext(&mut r, i);
            let mut rec = c.seal(&plain).unwrap();
            i += 1;
            if i % 97 == 0 {
                let p = r.below(rec.len());
                rec[p] ^= 0x40;
                assert!(s.open(&rec).is_err());
                auth_fail += 1;
                break;
            }
            let opened = s.open(&rec).unwrap();
            assert_eq!(opened, plain);
            parsed += usize::from(fuzz_plaintext(&opened, 64));
            if i >= N {
                break;
            }
        }
    }
    eprintln!("client channel: {i} frames, {parsed} parsed, {auth_fail} forged rejected");
    assert!(parsed > 10_000 && auth_fail > 500);
}

#[tokio::test]
async fn service_link_100k_fuzzed_frames() {
    let (kt, ku) = (
        StaticKeypair::generate().unwrap(),
        StaticKeypair::generate().unwrap(),
    );
    let tk = LinkKeys {
        local: kt.clone(),
        peer: ku.public(),
    };
    let uk = LinkKeys {
        local: ku,
        peer: kt.public(),
    };
    let mut r = FuzzRng::new(11);
    let (mut parsed, mut auth_fail) = (0usize, 0usize);
    let mut i = 0;
    while i < N {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let (t, u) = tokio::join!(
            link_initiator(&mut a, &tk, "u"),
            link_responder(&mut b, &uk, "t")
        );
        let ((mut seal, _), (_, mut open)) = (t.unwrap(), u.unwrap());
        for _ in 0..1000 {
            let plain = fuzzed_plaintext(&mut r, i);
            let mut rec = seal.seal(&plain).unwrap();
            i += 1;
            if i % 89 == 0 {
                let p = r.below(rec.len());
                rec[p] ^= 0x01;
                assert!(open.open(&rec).is_err());
                assert!(
                    open.open(&seal.seal(b"after").unwrap()).is_err(),
                    "link not dead"
                );
                auth_fail += 1;
                break;
            }
            let opened = open.open(&rec).unwrap();
            assert_eq!(opened, plain);
            parsed += usize::from(fuzz_plaintext(&opened, 64));
            if i >= N {
                break;
            }
        }
    }
    eprintln!("service link: {i} frames, {parsed} parsed, {auth_fail} forged rejected");
    assert!(parsed > 10_000 && auth_fail > 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_sockets_leaves_both_services_serving() {
    let m = Arc::new(ToyMlp::new(&[6, 8, 3], 4).unwrap());
    let (kt, ku) = (
        StaticKeypair::generate().unwrap(),
        StaticKeypair::generate().unwrap(),
    );
    let u = serve_untrusted(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Arc::new(ToyPartition::new(m.clone(), 1, 2).unwrap()),
        UntrustedConfig {
            link: Some(LinkKeys {
                local: ku.clone(),
                peer: kt.public(),
            }),
            ..UntrustedConfig::default()
        },
    )
    .await
    .unwrap();
    let t = serve_trusted(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Arc::new(ToyPartition::new(m.clone(), 0, 1).unwrap()),
        Arc::new(InsecureDevAttester),
        TrustedConfig {
            upstream: Some(u.local_addr()),
            link: Some(LinkKeys {
                local: kt,
                peer: ku.public(),
            }),
            ..TrustedConfig::default()
        },
    )
    .await
    .unwrap();
    let mut r = FuzzRng::new(3);
    for i in 0..400 {
        let addr = if i % 2 == 0 {
            t.local_addr()
        } else {
            u.local_addr()
        };
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut junk = fuzzed_plaintext(&mut r, i);
        if i % 3 == 0 {
            junk.splice(0..0, (junk.len() as u32).to_le_bytes());
        }
        let _ = s.write_all(&junk).await;
    }
    let mut c = Client::connect(
        t.local_addr(),
        &PolicyVerifier::new(Policy::insecure_dev()),
        ClientConfig::default(),
    )
    .await
    .unwrap();
    let x = TensorMsg::new(vec![1, 6], vec![0.5; 6]).unwrap();
    assert_eq!(
        c.infer(x.clone()).await.unwrap().logits,
        m.forward_range(&x, 0, 2).unwrap()
    );
}
