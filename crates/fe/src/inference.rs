//! Encrypted inference of the private part over a batch of ciphertexts.

use rayon::prelude::*;

use crate::dlog::DlogTable;
use crate::quadratic::{decrypt, Ciphertext, EncryptionKey, FunctionalKey};
use crate::quant::QuantisedQuadratic;
use crate::Result;

/// Decrypted outputs of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct DecryptedOutput {
    /// Integer outputs `[outputs]`, equal to [`QuantisedQuadratic::eval_plain`] of the plaintext.
    pub integer: Vec<i64>,
    /// The same, back on the float model's output scale ([`QuantisedQuadratic::dequantise`]), ready for the
    /// clear public head.
    pub dequantised: Vec<f32>,
}

/// Decrypts one ciphertext's outputs, integer and dequantised.
fn decrypt_one(
    ct: &Ciphertext,
    key: &FunctionalKey,
    model: &QuantisedQuadratic,
    table: &DlogTable,
) -> Result<DecryptedOutput> {
    let integer = decrypt(ct, key, model, table)?;
    let dequantised = model.dequantise(&integer);
    Ok(DecryptedOutput {
        integer,
        dequantised,
    })
}

/// Decrypts the private part's outputs for each ciphertext (`[images]` results, in order). Images are
/// processed one after the other, each decryption parallel inside (rayon).
///
/// # Errors
/// The first error of [`decrypt`] (key/model/ciphertext mismatch, value outside the discrete-log bound).
pub fn decrypt_batch(
    cts: &[Ciphertext],
    key: &FunctionalKey,
    model: &QuantisedQuadratic,
    table: &DlogTable,
) -> Result<Vec<DecryptedOutput>> {
    cts.iter()
        .map(|ct| decrypt_one(ct, key, model, table))
        .collect()
}

/// Like [`decrypt_batch`], parallel over images instead (better throughput for large batches).
///
/// # Errors
/// As [`decrypt_batch`].
pub fn decrypt_batch_parallel(
    cts: &[Ciphertext],
    key: &FunctionalKey,
    model: &QuantisedQuadratic,
    table: &DlogTable,
) -> Result<Vec<DecryptedOutput>> {
    cts.par_iter()
        .map(|ct| decrypt_one(ct, key, model, table))
        .collect()
}

const BATCH_MAGIC: &[u8; 8] = b"PSFECTS_";
const BATCH_VERSION: u32 = 1;

/// Encodes a batch of ciphertexts (magic `PSFECTS_`, version 1, count, then each ciphertext's length and
/// bytes).
pub fn encode_batch(cts: &[Ciphertext]) -> Vec<u8> {
    let mut w = crate::format::Writer::new(BATCH_MAGIC, BATCH_VERSION);
    w.u64(cts.len() as u64);
    for c in cts {
        let b = c.to_bytes();
        w.u64(b.len() as u64);
        w.bytes(&b);
    }
    w.buf
}

/// Decodes [`encode_batch`], checking each ciphertext fully.
///
/// # Errors
/// [`crate::Error::Format`].
pub fn decode_batch(b: &[u8]) -> Result<Vec<Ciphertext>> {
    let mut r = crate::format::Reader::new(b, "ciphertext batch", BATCH_MAGIC, BATCH_VERSION)?;
    let n = r.u64()?;
    let n = r.expect_items(n, 8)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.u64()?;
        let len = r.expect_items(len, 1)?;
        out.push(Ciphertext::from_bytes(r.take(len)?)?);
    }
    r.finish()?;
    Ok(out)
}

/// Result of [`run_encrypted`].
#[derive(Debug, Clone)]
pub struct EncryptedRun {
    /// The quantised model used.
    pub model: QuantisedQuadratic,
    /// Decrypted outputs per image (`[images]`).
    pub outputs: Vec<DecryptedOutput>,
    /// `eval_plain` per image (`[images][outputs]`), the exact reference.
    pub plain: Vec<Vec<i64>>,
    /// Whether every decrypted output equals the plaintext reference (it must; `false` is a bug).
    pub all_equal: bool,
    /// Total encryption time, ms (comb tables of the public key excluded).
    pub encrypt_ms: f64,
    /// Total decryption time including discrete logs, ms.
    pub decrypt_ms: f64,
}

/// The whole encrypted-inference pipeline on a sample, for experiments: quantise `float` with `cfg`,
/// `setup` (pixels in `[0, 255]`), `keygen`, encrypt each image (`images` is `[count][inputs]` row-major
/// bytes) with per-key comb tables, decrypt with `table`, and compare with [`QuantisedQuadratic::eval_plain`].
///
/// # Errors
/// [`crate::Error::Length`] when `images.len()` is not a multiple of `float.inputs`; any error of the steps.
pub fn run_encrypted<R: rand_core::RngCore + rand_core::CryptoRng>(
    float: &crate::FloatQuadratic,
    cfg: &crate::QuantConfig,
    images: &[u8],
    table: &DlogTable,
    rng: &mut R,
) -> Result<EncryptedRun> {
    let n = float.inputs;
    if n == 0 || !images.len().is_multiple_of(n) {
        return Err(crate::Error::Length {
            what: "images [count][inputs]",
            expected: n * (images.len() / n.max(1)),
            got: images.len(),
        });
    }
    let model = QuantisedQuadratic::from_float(float, cfg)?;
    let (pk, msk) = crate::quadratic::setup(n, 0, 255, rng)?;
    let key = msk.keygen(&model)?;
    let prepared = pk.prepare(6)?;
    let t = std::time::Instant::now();
    let cts = images
        .chunks(n)
        .map(|img| prepared.encrypt_pixels(img, rng))
        .collect::<Result<Vec<_>>>()?;
    let encrypt_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = std::time::Instant::now();
    let outputs = decrypt_batch(&cts, &key, &model, table)?;
    let decrypt_ms = t.elapsed().as_secs_f64() * 1e3;
    let plain = images
        .chunks(n)
        .map(|img| model.eval_plain(img))
        .collect::<Result<Vec<_>>>()?;
    let all_equal = outputs.iter().zip(&plain).all(|(o, p)| &o.integer == p);
    Ok(EncryptedRun {
        model,
        outputs,
        plain,
        all_equal,
        encrypt_ms,
        decrypt_ms,
    })
}
