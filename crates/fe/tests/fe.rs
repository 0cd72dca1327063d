//! End-to-end tests of the public-key quadratic scheme and SGP: exactness against plain integer
//! arithmetic, serialisation round trips, rejection of every kind of bad input.

// Tests unwrap: a failing unwrap is a failing test, with the error printed.
#![allow(clippy::unwrap_used)]

use privsplit_fe::blstrs::{G1Affine, G2Affine};
use privsplit_fe::quadratic::{
    ciphertext_group_bytes, decrypt_to_gt, EncryptionKey, CIPHERTEXT_HEADER_BYTES,
};
use privsplit_fe::{
    decrypt, setup, sgp_decrypt, BilinearForm, Ciphertext, DecryptionFailure, DlogTable, Error,
    FloatQuadratic, FunctionalKey, MasterSecretKey, PublicKey, QuantConfig, QuantisedQuadratic,
    SgpMasterKey,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use std::sync::OnceLock;

fn table() -> &'static DlogTable {
    static T: OnceLock<DlogTable> = OnceLock::new();
    T.get_or_init(|| DlogTable::build(1 << 14).unwrap())
}

fn rnd(rng: &mut ChaCha20Rng, lo: i64, hi: i64) -> i64 {
    lo + (rng.next_u64() % (hi - lo + 1) as u64) as i64
}

fn random_model(
    rng: &mut ChaCha20Rng,
    hidden: usize,
    inputs: usize,
    outputs: usize,
    pm: i64,
    qm: i64,
) -> QuantisedQuadratic {
    let p = (0..hidden * (inputs + 1))
        .map(|_| rnd(rng, -pm, pm))
        .collect();
    let mut q: Vec<i64> = (0..hidden * outputs).map(|_| rnd(rng, -qm, qm)).collect();
    // An identically-zero output has no functional key (its key element would be the identity, which
    // keys must not contain): keep every Q column non-zero.
    for c in 0..outputs {
        if (0..hidden).all(|j| q[j * outputs + c] == 0) {
            q[c] = 1;
        }
    }
    QuantisedQuadratic::from_integers(hidden, inputs, outputs, p, q).unwrap()
}

#[test]
fn public_key_decryption_equals_plain_integer_evaluation() {
    let mut rng = ChaCha20Rng::seed_from_u64(100);
    for (hidden, n, k) in [(1usize, 1usize, 1usize), (5, 16, 3), (3, 32, 4)] {
        let model = random_model(&mut rng, hidden, n, k, 3, 5);
        let (pk, msk) = setup(n, 0, 255, &mut rng).unwrap();
        let prepared = pk.prepare(4).unwrap();
        let key = msk.keygen(&model).unwrap();
        for trial in 0..3 {
            // Small pixels keep values inside the 2^14-entry test table's fast range; include extremes.
            let px: Vec<u8> = (0..n)
                .map(|i| {
                    if trial == 2 && i == 0 {
                        255
                    } else {
                        (rng.next_u32() % 8) as u8
                    }
                })
                .collect();
            let want = model.eval_plain(&px).unwrap();
            let ct = if trial % 2 == 0 {
                pk.encrypt_pixels(&px, &mut rng).unwrap()
            } else {
                prepared.encrypt_pixels(&px, &mut rng).unwrap()
            };
            let got = decrypt(&ct, &key, &model, table()).unwrap();
            assert_eq!(got, want, "hidden={hidden} n={n} k={k} trial={trial}");
        }
    }
}

#[test]
fn negative_inputs_and_bias_slot() {
    let mut rng = ChaCha20Rng::seed_from_u64(101);
    let n = 8;
    // One unit that reads only the bias: f = 3 * (P_0)^2, independent of x.
    let mut p = vec![0i64; 2 * (n + 1)];
    p[0] = -7;
    p[n + 1] = 2;
    p[n + 2] = -1;
    p[n + 5] = 3;
    let model = QuantisedQuadratic::from_integers(2, n, 2, p, vec![3, -1, -2, 5]).unwrap();
    let (pk, msk) = setup(n, -50, 50, &mut rng).unwrap();
    let key = msk.keygen(&model).unwrap();
    let x: Vec<i64> = (0..n as i64)
        .map(|i| if i % 2 == 0 { -i * 6 } else { i * 7 })
        .collect();
    let z1 = 2 - x[0] + 3 * x[3];
    let want = vec![3 * 49 - 2 * z1 * z1, -49 + 5 * z1 * z1];
    let ct = pk.encrypt(&x, &mut rng).unwrap();
    assert_eq!(decrypt(&ct, &key, &model, table()).unwrap(), want);
    // Out of declared range.
    let mut bad = x.clone();
    bad[5] = 51;
    assert!(matches!(
        pk.encrypt(&bad, &mut rng),
        Err(Error::InputOutOfRange {
            index: 5,
            value: 51,
            ..
        })
    ));
    assert!(matches!(
        pk.encrypt(&x[..7], &mut rng),
        Err(Error::Length { .. })
    ));
}

#[test]
fn quantised_float_model_round_trip() {
    let mut rng = ChaCha20Rng::seed_from_u64(102);
    let (h, n, k) = (6, 24, 4);
    let mut f = |s: f32| (rng.next_u32() as f64 / u32::MAX as f64 * 2.0 - 1.0) as f32 * s;
    let float = FloatQuadratic {
        hidden: h,
        inputs: n,
        outputs: k,
        p: (0..h * (n + 1)).map(|_| f(0.05)).collect(),
        q: (0..h * k).map(|_| f(1.0)).collect(),
    };
    let model =
        QuantisedQuadratic::from_float(&float, &QuantConfig { p_max: 3, q_max: 3 }).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(103);
    let (pk, msk) = setup(n, 0, 255, &mut rng).unwrap();
    let key = msk.keygen(&model).unwrap();
    let big = DlogTable::build(1 << 16).unwrap();
    for _ in 0..2 {
        let px: Vec<u8> = (0..n).map(|_| rng.next_u32() as u8).collect();
        let ct = pk.encrypt_pixels(&px, &mut rng).unwrap();
        let got = decrypt(&ct, &key, &model, &big).unwrap();
        assert_eq!(got, model.eval_plain(&px).unwrap());
        assert_eq!(model.dequantise(&got).len(), k);
    }
}

#[test]
fn serialisation_round_trips() {
    let mut rng = ChaCha20Rng::seed_from_u64(104);
    let model = random_model(&mut rng, 2, 5, 2, 2, 2);
    let (pk, msk) = setup(5, 0, 255, &mut rng).unwrap();
    let key = msk.keygen(&model).unwrap();
    let ct = pk.encrypt_pixels(&[1, 2, 3, 4, 5], &mut rng).unwrap();
    assert_eq!(PublicKey::from_bytes(&pk.to_bytes()).unwrap(), pk);
    assert_eq!(MasterSecretKey::from_bytes(&msk.to_bytes()).unwrap(), msk);
    assert_eq!(FunctionalKey::from_bytes(&key.to_bytes()).unwrap(), key);
    let cb = ct.to_bytes();
    assert_eq!(
        cb.len(),
        CIPHERTEXT_HEADER_BYTES + ciphertext_group_bytes(5)
    );
    assert_eq!(Ciphertext::from_bytes(&cb).unwrap(), ct);
    assert_eq!(
        QuantisedQuadratic::from_bytes(&model.to_bytes()).unwrap(),
        model
    );
    // A decrypt after the round trip still works.
    let ct2 = Ciphertext::from_bytes(&cb).unwrap();
    let key2 = FunctionalKey::from_bytes(&key.to_bytes()).unwrap();
    assert_eq!(
        decrypt(&ct2, &key2, &model, table()).unwrap(),
        model.eval_plain(&[1, 2, 3, 4, 5]).unwrap()
    );
}

/// A compressed G1 encoding of a point on the curve but outside the prime-order subgroup.
fn g1_off_subgroup(rng: &mut ChaCha20Rng) -> [u8; 48] {
    loop {
        let mut b = [0u8; 48];
        rng.fill_bytes(&mut b);
        b[0] = 0x80 | (b[0] & 0x0f); // compressed flag, x well below p
        if bool::from(G1Affine::from_compressed_unchecked(&b).is_some())
            && bool::from(G1Affine::from_compressed(&b).is_none())
        {
            return b;
        }
    }
}

fn g2_off_curve(rng: &mut ChaCha20Rng) -> [u8; 96] {
    loop {
        let mut b = [0u8; 96];
        rng.fill_bytes(&mut b);
        b[0] = 0x80 | (b[0] & 0x0f);
        b[48] &= 0x0f;
        if bool::from(G2Affine::from_compressed_unchecked(&b).is_none()) {
            return b;
        }
    }
}

#[test]
fn bad_inputs_are_clear_errors() {
    let mut rng = ChaCha20Rng::seed_from_u64(105);
    let n = 6;
    let model = random_model(&mut rng, 2, n, 2, 2, 2);
    let (pk, msk) = setup(n, 0, 255, &mut rng).unwrap();
    let key = msk.keygen(&model).unwrap();
    let px = [9u8, 8, 7, 6, 5, 4];
    let ct = pk.encrypt_pixels(&px, &mut rng).unwrap();
    let cb = ct.to_bytes();

    // Truncated / extended / wrong magic.
    for bad in [
        &cb[..cb.len() - 1],
        &cb[..10],
        &cb[..CIPHERTEXT_HEADER_BYTES + 20],
    ] {
        assert!(matches!(
            Ciphertext::from_bytes(bad),
            Err(Error::Format { .. })
        ));
    }
    let mut long = cb.clone();
    long.extend_from_slice(&[0; 288]);
    assert!(matches!(
        Ciphertext::from_bytes(&long),
        Err(Error::Format { .. })
    ));
    assert!(matches!(
        PublicKey::from_bytes(&cb),
        Err(Error::Format { .. })
    ));
    // A G1 point outside the subgroup, and a G2 element not on the curve.
    let c0_at = CIPHERTEXT_HEADER_BYTES;
    let mut bad = cb.clone();
    bad[c0_at..c0_at + 48].copy_from_slice(&g1_off_subgroup(&mut rng));
    let e = Ciphertext::from_bytes(&bad).unwrap_err();
    assert!(e.to_string().contains("prime-order subgroup"), "{e}");
    let mut bad = cb.clone();
    let b0_at = c0_at + 48 + 96;
    bad[b0_at..b0_at + 96].copy_from_slice(&g2_off_curve(&mut rng));
    assert!(matches!(
        Ciphertext::from_bytes(&bad),
        Err(Error::Format { .. })
    ));
    let kb = key.to_bytes();
    let mut bad = kb.clone();
    let at = kb.len() - 96;
    bad[at..].copy_from_slice(&g2_off_curve(&mut rng));
    assert!(matches!(
        FunctionalKey::from_bytes(&bad),
        Err(Error::Format { .. })
    ));
    assert!(matches!(
        FunctionalKey::from_bytes(&kb[..kb.len() - 5]),
        Err(Error::Format { .. })
    ));

    // Key for another model.
    let other = random_model(&mut rng, 2, n, 2, 2, 2);
    assert!(matches!(
        decrypt(&ct, &key, &other, table()),
        Err(Error::Mismatch { other: "model", .. })
    ));
    // Key from another master key.
    let (pk2, msk2) = setup(n, 0, 255, &mut rng).unwrap();
    let key_other = msk2.keygen(&model).unwrap();
    assert!(matches!(
        decrypt(&ct, &key_other, &model, table()),
        Err(Error::Mismatch { .. })
    ));
    // Model of another dimension.
    let wide = random_model(&mut rng, 2, n + 1, 2, 2, 2);
    assert!(matches!(msk.keygen(&wide), Err(Error::Dimension { .. })));
    let (pkw, mskw) = setup(n + 1, 0, 255, &mut rng).unwrap();
    let _ = pkw;
    let keyw = mskw.keygen(&wide).unwrap();
    let ctw = pk2.encrypt_pixels(&px, &mut rng).unwrap();
    assert!(decrypt(&ctw, &keyw, &wide, table()).is_err());
    // A pixel vector of the wrong length.
    assert!(matches!(
        pk.encrypt_pixels(&px[..5], &mut rng),
        Err(Error::Length { .. })
    ));

    // A value outside the discrete-log bound: same P, Q scaled so the true output exceeds the bound of a
    // model whose bound we shrink artificially by decrypting with a tiny table and bound.
    let g = decrypt_to_gt(&ct, &key, &model).unwrap();
    let want = model.eval_plain(&px).unwrap();
    let v = want[0].unsigned_abs();
    if v > 0 {
        let r = table().vartime_solve(&g[0], v - 1);
        assert!(matches!(
            r,
            Err(Error::Decryption(DecryptionFailure::OutOfBound { .. }))
        ));
        assert_eq!(table().vartime_solve(&g[0], v).unwrap(), want[0]);
    }
}

#[test]
fn sgp_equals_plain_bilinear_form() {
    let mut rng = ChaCha20Rng::seed_from_u64(106);
    for n in [1usize, 4, 12] {
        let msk = SgpMasterKey::setup(n, 100, &mut rng).unwrap();
        let dense =
            BilinearForm::new(n, (0..n * n).map(|_| rnd(&mut rng, -5, 5)).collect()).unwrap();
        let diag =
            BilinearForm::diagonal(&(0..n).map(|_| rnd(&mut rng, -5, 5)).collect::<Vec<_>>());
        for form in [dense, diag] {
            let key = msk.derive_key(&form).unwrap();
            let x: Vec<i64> = (0..n).map(|_| rnd(&mut rng, -100, 100)).collect();
            let y: Vec<i64> = (0..n).map(|_| rnd(&mut rng, -100, 100)).collect();
            let ct = msk.encrypt(&x, &y, &mut rng).unwrap();
            let bound = form.dlog_bound(100, 100).unwrap();
            let got = sgp_decrypt(&ct, &key, &form, table(), bound).unwrap();
            assert_eq!(got as i128, form.eval(&x, &y).unwrap(), "n={n}");
        }
    }
    let msk = SgpMasterKey::setup(3, 10, &mut rng).unwrap();
    assert!(matches!(
        msk.encrypt(&[1, 2, 11], &[0, 0, 0], &mut rng),
        Err(Error::InputOutOfRange { .. })
    ));
    assert!(matches!(
        msk.encrypt(&[1, 2], &[0, 0, 0], &mut rng),
        Err(Error::Length { .. })
    ));
    let form = BilinearForm::diagonal(&[1, 1, 1]);
    let other = BilinearForm::diagonal(&[1, 2, 1]);
    let key = msk.derive_key(&form).unwrap();
    let ct = msk.encrypt(&[1, 2, 3], &[4, 5, 6], &mut rng).unwrap();
    assert!(matches!(
        sgp_decrypt(&ct, &key, &other, table(), 1000),
        Err(Error::Mismatch { .. })
    ));
    assert!(matches!(
        sgp_decrypt(&ct, &key, &form, table(), 31),
        Err(Error::Decryption(_))
    ));
    assert_eq!(sgp_decrypt(&ct, &key, &form, table(), 32).unwrap(), 32);
    let msk2 = SgpMasterKey::setup(3, 10, &mut rng).unwrap();
    assert!(matches!(
        sgp_decrypt(&ct, &msk2.derive_key(&form).unwrap(), &form, table(), 1000),
        Err(Error::Mismatch { .. })
    ));
}

#[test]
fn full_size_round_trip_784() {
    let mut rng = ChaCha20Rng::seed_from_u64(107);
    let n = 784;
    let model = random_model(&mut rng, 2, n, 2, 1, 1);
    let (pk, msk) = setup(n, 0, 255, &mut rng).unwrap();
    let key = msk.keygen(&model).unwrap();
    let px: Vec<u8> = (0..n).map(|i| if i % 97 == 0 { 1 } else { 0 }).collect();
    let ct = pk.encrypt_pixels(&px, &mut rng).unwrap();
    assert_eq!(ct.to_bytes().len(), CIPHERTEXT_HEADER_BYTES + 226_128);
    assert_eq!(
        decrypt(&ct, &key, &model, table()).unwrap(),
        model.eval_plain(&px).unwrap()
    );
}

#[test]
fn pipeline_on_a_small_float_model_is_exact() {
    let mut rng = ChaCha20Rng::seed_from_u64(108);
    let float = privsplit_fe::bench::synthetic_float_model(4, 16, 3, 5);
    let images: Vec<u8> = (0..3)
        .flat_map(|_| privsplit_fe::bench::synthetic_image(16, &mut rng))
        .collect();
    let run = privsplit_fe::inference::run_encrypted(
        &float,
        &QuantConfig { p_max: 3, q_max: 3 },
        &images,
        table(),
        &mut rng,
    )
    .unwrap();
    assert!(run.all_equal);
    assert_eq!(run.outputs.len(), 3);
    for (o, p) in run.outputs.iter().zip(&run.plain) {
        assert_eq!(&o.integer, p);
        assert_eq!(o.dequantised, run.model.dequantise(p));
    }
    let batch = privsplit_fe::inference::encode_batch(&[]);
    assert!(privsplit_fe::inference::decode_batch(&batch)
        .unwrap()
        .is_empty());
    assert!(privsplit_fe::inference::decode_batch(&batch[..batch.len() - 1]).is_err());
    assert!(privsplit_fe::inference::run_encrypted(
        &float,
        &QuantConfig::default(),
        &images[..17],
        table(),
        &mut rng
    )
    .is_err());
}
