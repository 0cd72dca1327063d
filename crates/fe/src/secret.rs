//! Secret scalars erased from memory when they are dropped.
//!
//! `blstrs::Scalar` does not implement `zeroize::Zeroize`, and a foreign trait cannot be implemented for
//! a foreign type, so secrets are held in [`SecretScalar`], a `Copy` newtype that `zeroize` erases with
//! volatile writes of the default value (zero) that the compiler may not remove (`zeroize::DefaultIsZeroes`).
//! Copies the compiler makes in registers or on the stack during arithmetic are not reached: this is
//! erasure of the long-lived copies (keys, per-ciphertext randomness), not a guarantee about every byte.

use blstrs::Scalar;

/// A scalar that is (part of) a secret: the master secret keys' `s`, `t`, the encryption randomness
/// `gamma`, `W`, and the projections computed from them in key generation.
#[derive(Clone, Copy, Default, PartialEq)]
pub(crate) struct SecretScalar(pub(crate) Scalar);

impl zeroize::DefaultIsZeroes for SecretScalar {}
