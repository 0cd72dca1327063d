//! Decryption: the functional key applied to a ciphertext gives `g_T^{f_c(x)}` per output, and a bounded
//! discrete logarithm gives `f_c(x)`.

use blstrs::Gt;
use rayon::prelude::*;

use super::{Ciphertext, FunctionalKey};
use crate::dlog::DlogTable;
use crate::gt::vartime_multi_pow_small;
use crate::internals::{key_pairing, project_pair};
use crate::quant::QuantisedQuadratic;
use crate::{Error, Result};

/// Decrypts the outputs of `model` on the encrypted input: returns `[outputs]` integers equal to
/// [`QuantisedQuadratic::eval_plain`] of the plaintext. Parallel over hidden units and outputs (rayon).
///
/// The discrete-log bound is the one the model and the key's declared input range imply
/// ([`QuantisedQuadratic::dlog_bound_for_range`] of [`FunctionalKey::input_range`]), and each search is
/// further limited by the table's giant-step cap ([`DlogTable::with_max_giant_steps`]): a tampered
/// ciphertext costs at most `2 * min(bound / m + 1, cap)` multiplications in `G_T` per output.
///
/// # Errors
/// [`Error::Mismatch`] when the key is for another model or master key, or the ciphertext for another
/// master key; [`Error::Dimension`] when dimensions differ; [`Error::Decryption`] when a value lies
/// outside the bound or beyond the capped search.
pub fn decrypt(
    ct: &Ciphertext,
    key: &FunctionalKey,
    model: &QuantisedQuadratic,
    table: &DlogTable,
) -> Result<Vec<i64>> {
    let g = decrypt_to_gt(ct, key, model)?;
    let bound = model.dlog_bound_for_range(key.x_min, key.x_max)?;
    g.par_iter()
        .map(|e| table.vartime_solve(e, bound))
        .collect()
}

/// Decryption up to the discrete logarithm: `g_T^{f_c(x)}` for each output (`[outputs]`).
///
/// # Errors
/// As [`decrypt`], without the discrete-log failure.
pub fn decrypt_to_gt(
    ct: &Ciphertext,
    key: &FunctionalKey,
    model: &QuantisedQuadratic,
) -> Result<Vec<Gt>> {
    if key.model_id != model.digest() {
        return Err(Error::Mismatch {
            what: "functional key",
            other: "model",
        });
    }
    if key.pk_id != ct.pk_id {
        return Err(Error::Mismatch {
            what: "functional key and ciphertext",
            other: "master public key",
        });
    }
    if ct.body.a[0].len() != model.inputs + 1 {
        return Err(Error::Dimension {
            what: "ciphertext dimension vs model inputs + 1",
            expected: model.inputs + 1,
            got: ct.body.a[0].len(),
        });
    }
    if key.keys.len() != model.outputs {
        return Err(Error::Dimension {
            what: "functional key outputs",
            expected: model.outputs,
            got: key.keys.len(),
        });
    }
    let e: Vec<Gt> = (0..model.hidden)
        .into_par_iter()
        .map(|j| project_pair(&ct.body, model.p_row(j)))
        .collect();
    let out: Vec<Gt> = (0..model.outputs)
        .into_par_iter()
        .map(|c| {
            let q: Vec<i64> = (0..model.hidden)
                .map(|j| model.q[j * model.outputs + c])
                .collect();
            vartime_multi_pow_small(&e, &q) + key_pairing(&ct.body.c0, &key.keys[c])
        })
        .collect();
    Ok(out)
}
