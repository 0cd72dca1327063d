//! Public-key quadratic functional encryption for a projected quadratic model.
//!
//! Source: T. Ryffel, E. Dufour-Sans, R. Gay, F. Bach, D. Pointcheval, "Partially Encrypted Machine
//! Learning using Functional Encryption", NeurIPS 2019, §3 (public-key variant of the scheme of
//! E. Dufour-Sans, R. Gay, D. Pointcheval, "Reading in the Dark", ePrint 2018/206), on BLS12-381.
//!
//! * **Setup** (`n` inputs, dimension `n + 1` with the bias slot): `msk = (s, t) in Z_r^{n+1} x Z_r^{n+1}`,
//!   `pk = (g1^{s_i}, g2^{t_i})_i`.
//! * **Encrypt** `x = [1, pixels]`: random `gamma`, `W in GL_2`; `c0 = g1^gamma`,
//!   `a_i = g1^{W^{-T} (x_i, gamma s_i)}`, `b_i = g2^{W (x_i, -t_i)}` (computable from `pk`, since
//!   `g1^{gamma s_i} = (g1^{s_i})^gamma`). Size: 1 G1 + (n+1)(2 G1 + 2 G2).
//! * **KeyGen** for `f_c(x) = sum_j Q[j][c] (P_j . x)^2`: `sk_c = g2^{f_c(s, t)}` with
//!   `f_c(s, t) = sum_j Q[j][c] (P_j . s)(P_j . t)`: one G2 element per output.
//! * **Decrypt**: for each hidden unit `j`, project the ciphertext by `P_j` with small-scalar MSMs and take
//!   one two-pair pairing, `E_j = e(P_j a, P_j b) = g_T^{(P_j.x)^2 - gamma (P_j.s)(P_j.t)}`; then
//!   `g_T^{f_c(x)} = prod_j E_j^{Q[j][c]} * e(c0, sk_c)`, and a bounded discrete logarithm gives `f_c(x)`.
//!   Cost: `4 hidden` MSMs, `hidden` two-pair pairings, small `G_T` powers, `outputs` pairings.
//!
//! By concern: [`keys`] (setup, the master and functional keys and their encodings), [`encrypt`]
//! (encryption by either form of the public key, [`EncryptionKey`], and the ciphertext encoding),
//! [`decrypt`](mod@decrypt) (decryption).

use blstrs::{G1Affine, G1Projective, G2Affine, G2Projective};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::comb::Comb;
use crate::internals::Body;
use crate::secret::SecretScalar;

pub mod decrypt;
pub mod encrypt;
pub mod keys;

pub use decrypt::{decrypt, decrypt_to_gt};
pub use encrypt::EncryptionKey;
pub use keys::setup;

/// Largest input magnitude a public key may declare (the encryptor tabulates `0..=max` multiples).
pub const MAX_INPUT: i64 = 1 << 16;

/// Master public key: `n` inputs (plus the bias slot), the declared input range, `g1^{s_i}`, `g2^{t_i}`.
#[derive(Clone, Debug, PartialEq)]
pub struct PublicKey {
    inputs: usize,
    x_min: i64,
    x_max: i64,
    h: Vec<G1Affine>,
    u: Vec<G2Affine>,
}

/// Master secret key `(s, t)` with the public key's declared input range; `Debug` does not print it; erased
/// from memory when dropped ([`Zeroize`], [`ZeroizeOnDrop`]).
#[derive(Clone, PartialEq)]
pub struct MasterSecretKey {
    s: Vec<SecretScalar>,
    t: Vec<SecretScalar>,
    pk_id: [u8; 32],
    x_min: i64,
    x_max: i64,
}

impl Zeroize for MasterSecretKey {
    /// Erases `s` and `t` (volatile writes) and empties them: the key's dimension becomes 0.
    fn zeroize(&mut self) {
        self.s.zeroize();
        self.t.zeroize();
    }
}

impl Drop for MasterSecretKey {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for MasterSecretKey {}

impl std::fmt::Debug for MasterSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterSecretKey")
            .field("dimension", &self.s.len())
            .finish_non_exhaustive()
    }
}

/// Functional key for one quantised model: one G2 element per output, bound to the model digest and to
/// the master public key, and carrying the input range `[x_min, x_max]` the public key declares (from which
/// [`decrypt`] derives its discrete-log bound).
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionalKey {
    model_id: [u8; 32],
    pk_id: [u8; 32],
    x_min: i64,
    x_max: i64,
    keys: Vec<G2Affine>,
}

/// Ciphertext of one input vector under a master public key.
#[derive(Clone, Debug, PartialEq)]
pub struct Ciphertext {
    pk_id: [u8; 32],
    body: Body,
}

/// A public key with per-element comb tables for fast encryption (`2^teeth` points per element of `pk`:
/// with 6 teeth and n = 784, about 14.5 MB).
#[derive(Debug)]
pub struct PreparedPublicKey {
    pk: PublicKey,
    pk_id: [u8; 32],
    h: Vec<Comb<G1Projective>>,
    u: Vec<Comb<G2Projective>>,
}

const PK_MAGIC: &[u8; 8] = b"PSFEQPK_";
const MSK_MAGIC: &[u8; 8] = b"PSFEQMSK";
const KEY_MAGIC: &[u8; 8] = b"PSFEQFK_";
const CT_MAGIC: &[u8; 8] = b"PSFEQCT_";
/// Version of the public key and ciphertext encodings.
const VERSION: u32 = 1;
/// Version of the master secret key and functional key encodings (2: they carry the input range).
const KEY_VERSION: u32 = 2;

/// Size of the group elements of a ciphertext of `n` inputs, bytes: `48 + (n + 1)(2*48 + 2*96)`.
pub fn ciphertext_group_bytes(inputs: usize) -> usize {
    48 + (inputs + 1) * (2 * 48 + 2 * 96)
}

/// Size of the header of a serialised ciphertext, bytes (magic, version, key id, dimension).
pub const CIPHERTEXT_HEADER_BYTES: usize = 8 + 4 + 32 + 8;

/// Checks a declared input range `[x_min, x_max]`: `-MAX_INPUT <= x_min <= x_max <= MAX_INPUT`; the
/// error is the sentence to report.
fn check_range(x_min: i64, x_max: i64) -> std::result::Result<(), String> {
    if x_min > x_max || x_min < -MAX_INPUT || x_max > MAX_INPUT {
        return Err(format!(
            "need -{MAX_INPUT} <= x_min <= x_max <= {MAX_INPUT}, got [{x_min}, {x_max}]"
        ));
    }
    Ok(())
}
