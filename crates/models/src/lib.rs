#![doc = include_str!("../README.md")]

mod error;
pub use error::{Error, Result};

// Where training and the untrusted partition run (`--device`, the CPU thread count).
pub mod device;

// Splittable architectures: configs, stages and partition points, the zoo, weight files (privsplit's own
// safetensors names; PyTorch/torchvision state dicts through `import`).
pub mod arch;
pub mod import;
pub mod stage;
pub mod tabular;
pub mod weights;
pub mod zoo;

// The collateral-learning networks: quadratic private part, public head, adversaries of the sensitive
// attribute, and their feature tables.
pub mod adversary;
pub mod quadratic;
pub mod tensor;

// Training loops: the shared toolkit (optimisers, seeded batches, evaluation), image classifiers, and
// ImageNet class names with top-k predictions.
pub mod classifier;
pub mod imagenet;
pub mod train;
