//! Encrypted inference of the private part over a batch of ciphertexts.

use rayon::prelude::*;

use crate::dlog::DlogTable;
use crate::quadratic::{decrypt, Ciphertext, FunctionalKey};
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

/// Decrypts the private part's outputs for each ciphertext (`[images]` results, in order). Images are
/// processed one after the other, each decryption parallel inside (rayon).
///
/// # Errors
/// The first error of [`decrypt`] (key/model/ciphertext mismatch, value outside the discrete-log bound).
pub fn decrypt_batch(cts: &[Ciphertext], key: &FunctionalKey, model: &QuantisedQuadratic, table: &DlogTable) -> Result<Vec<DecryptedOutput>> {
    cts.iter()
        .map(|ct| {
            let integer = decrypt(ct, key, model, table)?;
            let dequantised = model.dequantise(&integer);
            Ok(DecryptedOutput { integer, dequantised })
        })
        .collect()
}

/// Like [`decrypt_batch`], parallel over images instead (better throughput for large batches).
///
/// # Errors
/// As [`decrypt_batch`].
pub fn decrypt_batch_parallel(cts: &[Ciphertext], key: &FunctionalKey, model: &QuantisedQuadratic, table: &DlogTable) -> Result<Vec<DecryptedOutput>> {
    cts.par_iter()
        .map(|ct| {
            let integer = decrypt(ct, key, model, table)?;
            let dequantised = model.dequantise(&integer);
            Ok(DecryptedOutput { integer, dequantised })
        })
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
