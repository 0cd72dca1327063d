//! Keys and ciphertexts from an adversary: identity elements are refused on load, and a tampered
//! ciphertext fails with a clear error in bounded time (the discrete-log search is bounded by the key's
//! declared input range and by the table's giant-step cap).

// Tests unwrap: a failing unwrap is a failing test, with the error printed.
#![allow(clippy::unwrap_used)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use group::prime::PrimeCurveAffine;
use privsplit_fe::blstrs::{G1Affine, G2Affine};
use privsplit_fe::quadratic::{EncryptionKey, CIPHERTEXT_HEADER_BYTES};
use privsplit_fe::{
    decrypt, setup, Ciphertext, DecryptionFailure, DlogTable, Error, FunctionalKey, PublicKey,
    QuantisedQuadratic,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn g1_identity() -> [u8; 48] {
    G1Affine::identity().to_compressed()
}

fn g2_identity() -> [u8; 96] {
    G2Affine::identity().to_compressed()
}

fn expect_identity_error<T: std::fmt::Debug>(r: Result<T, Error>, what: &str) {
    match r {
        Err(e @ Error::Format { .. }) => {
            let m = e.to_string();
            assert!(m.contains("identity"), "{what}: {m}");
        }
        other => panic!("{what}: expected a Format error naming the identity, got {other:?}"),
    }
}

#[test]
fn identity_elements_are_refused_on_load() {
    let mut rng = ChaCha20Rng::seed_from_u64(200);
    let n = 3;
    let (pk, msk) = setup(n, 0, 255, &mut rng).unwrap();
    let model = QuantisedQuadratic::from_integers(1, n, 2, vec![1, 2, -1, 3], vec![2, -1]).unwrap();
    let key = msk.keygen(&model).unwrap();
    let ct = pk.encrypt_pixels(&[1, 2, 3], &mut rng).unwrap();

    // Public key: header 8 + 4 + 8 + 8 + 8 = 36 bytes, then (n + 1) G1, then (n + 1) G2.
    let pb = pk.to_bytes();
    for at in [36 + 48, 36 + 4 * 48 + 96] {
        let mut bad = pb.clone();
        if at < 36 + 4 * 48 {
            bad[at..at + 48].copy_from_slice(&g1_identity());
        } else {
            bad[at..at + 96].copy_from_slice(&g2_identity());
        }
        expect_identity_error(PublicKey::from_bytes(&bad), "public key");
    }
    // Functional key: its last G2 element.
    let kb = key.to_bytes();
    let mut bad = kb.clone();
    let at = kb.len() - 96;
    bad[at..].copy_from_slice(&g2_identity());
    expect_identity_error(FunctionalKey::from_bytes(&bad), "functional key");
    // Ciphertext: c0, then per slot a0 (G1), a1 (G1), b0 (G2), b1 (G2).
    let cb = ct.to_bytes();
    let c0 = CIPHERTEXT_HEADER_BYTES;
    let slot = c0 + 48 + (48 + 48 + 96 + 96); // slot 1
    for (at, g1) in [
        (c0, true),
        (slot, true),
        (slot + 48, true),
        (slot + 96, false),
        (slot + 192, false),
    ] {
        let mut bad = cb.clone();
        if g1 {
            bad[at..at + 48].copy_from_slice(&g1_identity());
        } else {
            bad[at..at + 96].copy_from_slice(&g2_identity());
        }
        expect_identity_error(Ciphertext::from_bytes(&bad), "ciphertext");
    }
    // The untouched encodings still load.
    PublicKey::from_bytes(&pb).unwrap();
    FunctionalKey::from_bytes(&kb).unwrap();
    Ciphertext::from_bytes(&cb).unwrap();
}

/// Runs `f` on a thread and fails the test if it has not finished within `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}"))
}

#[test]
fn tampered_ciphertext_fails_fast_under_the_keys_input_range() {
    // Binary inputs: the key declares [0, 1], so |out| <= 100 * (100 + 100)^2 = 4e6. Under the pixel range
    // [0, 255] the bound would be 100 * (255 * 200)^2 = 2.6e11, about 2.5e8 giant steps with this table.
    let mut rng = ChaCha20Rng::seed_from_u64(201);
    let model = QuantisedQuadratic::from_integers(1, 2, 1, vec![0, 100, 100], vec![100]).unwrap();
    assert_eq!(model.dlog_bound_for_range(0, 1).unwrap(), 4_000_000);
    assert_eq!(model.dlog_bound().unwrap(), 100 * (255 * 200u64).pow(2));
    let (pk, msk) = setup(2, 0, 1, &mut rng).unwrap();
    let key = msk.keygen(&model).unwrap();
    assert_eq!(key.input_range(), (0, 1));
    let table = DlogTable::build(1 << 10).unwrap();
    let ct = pk.encrypt(&[1, 1], &mut rng).unwrap();
    // Replace c0 by another valid G1 point: decryption yields an unrelated element of G_T.
    let mut cb = ct.to_bytes();
    let c0 = CIPHERTEXT_HEADER_BYTES;
    cb[c0..c0 + 48].copy_from_slice(&G1Affine::generator().to_compressed());
    let tampered = Ciphertext::from_bytes(&cb).unwrap();
    let t0 = Instant::now();
    let (honest, bad) = within(Duration::from_secs(60), move || {
        (
            decrypt(&ct, &key, &model, &table).map_err(|e| e.to_string()),
            decrypt(&tampered, &key, &model, &table),
        )
    });
    assert_eq!(honest.unwrap(), vec![4_000_000]);
    match bad {
        Err(Error::Decryption(DecryptionFailure::OutOfBound { bound })) => {
            assert_eq!(bound, 4_000_000)
        }
        other => panic!("expected OutOfBound, got {other:?}"),
    }
    eprintln!("honest + tampered decryption: {:?}", t0.elapsed());
}

#[test]
fn giant_step_cap_bounds_any_search() {
    // A bound of 2^40 with a 64-entry table would take 2^34 giant steps each way; the cap stops it.
    let table = DlogTable::build(64).unwrap().with_max_giant_steps(1000);
    let g = privsplit_fe::dlog::gt_generator();
    let r = within(Duration::from_secs(60), move || {
        let v = privsplit_fe::gt::vartime_pow_small(&g, 64 * 900 + 5);
        let w = privsplit_fe::gt::vartime_pow_small(&g, -(64 * 2000));
        (
            table.vartime_solve(&v, 1 << 40).map_err(|e| e.to_string()),
            table.vartime_solve(&w, 1 << 40),
        )
    });
    assert_eq!(
        r.0.unwrap(),
        64 * 900 + 5,
        "values inside the capped range are still found"
    );
    match r.1 {
        Err(Error::Decryption(DecryptionFailure::SearchCapped { bound, searched })) => {
            assert_eq!(bound, 1 << 40);
            assert_eq!(searched, 1000 * 64 + 63);
        }
        other => panic!("expected SearchCapped, got {other:?}"),
    }
}

#[test]
fn identically_zero_output_gets_no_key() {
    // Output 1 has an all-zero Q column: its key element would be g2^0, the identity that
    // `FunctionalKey::from_bytes` refuses; key generation refuses it first, naming the output.
    let mut rng = ChaCha20Rng::seed_from_u64(202);
    let (_, msk) = setup(2, 0, 255, &mut rng).unwrap();
    let model =
        QuantisedQuadratic::from_integers(2, 2, 2, vec![1, 2, 3, 4, 5, 6], vec![3, 0, -1, 0])
            .unwrap();
    let e = msk.keygen(&model).unwrap_err().to_string();
    assert!(e.contains("output 1") && e.contains("zero"), "{e}");
}
