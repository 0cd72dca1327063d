#![doc = include_str!("../README.md")]

mod error;
pub use error::{AttestationFailure, ChannelFailure, Error, Result};

pub mod attestation;
pub mod bench;
pub mod channel;
pub mod exec;
pub mod fuzzing;
pub mod model;
pub mod service;
pub mod wire;

pub use attestation::{Attester, Claims, Evidence, Policy, PolicyVerifier, Verifier};
pub use exec::PartitionExec;
pub use service::{serve_trusted, serve_untrusted, Client, ClientConfig, ServerHandle};
pub use wire::{Frame, TensorMsg};
