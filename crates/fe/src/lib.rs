#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
// Tests unwrap: a failing unwrap is a failing test, with the error printed.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;

pub mod bench;
pub mod comb;
pub mod dlog;
pub mod format;
pub mod gt;
pub mod inference;
mod internals;
pub mod msm;
pub mod quadratic;
pub mod quant;
mod secret;
pub mod sgp;
mod small_multiples;

pub use dlog::DlogTable;
pub use error::{DecryptionFailure, Error, Result};
pub use quadratic::{
    decrypt, setup, Ciphertext, EncryptionKey, FunctionalKey, MasterSecretKey, PreparedPublicKey,
    PublicKey,
};
pub use quant::{FloatQuadratic, QuantConfig, QuantisedQuadratic};
pub use sgp::{sgp_decrypt, BilinearForm, SgpCiphertext, SgpKey, SgpMasterKey};

/// Re-export of the pairing library, so that callers name the same group types.
pub use blstrs;
