//! The benchmarks whose results go into docs/BENCHMARKS.md: a training step against PyTorch
//! ([`train`]), the sweep's training steps and the full sweep ([`sweep`]), and the functional-encryption
//! table ([`fe`]). Serving benchmarks are `privsplit_tee::bench`.

pub mod fe;
pub mod sweep;
pub mod train;
