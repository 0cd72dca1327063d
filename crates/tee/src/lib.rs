#![doc = include_str!("../README.md")]
// Tests assert with unwrap: a panic there is the failure report.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
pub use error::{AttestationFailure, ChannelFailure, Error, Result};

pub mod attestation;
pub mod bench;
pub mod channel;
pub mod exec;
pub mod fuzzing;
pub mod launch;
pub mod link;
pub mod model;
pub mod service;
pub mod verify;
pub mod wire;

pub use attestation::{Attester, Claims, Evidence, Policy, PolicyVerifier, Verifier};
pub use exec::PartitionExec;
pub use service::{serve_trusted, serve_untrusted, Client, ClientConfig, ServerHandle};
pub use wire::{Frame, TensorMsg};
