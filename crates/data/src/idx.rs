//! The IDX file format of the MNIST family (LeCun et al., "The MNIST database", file format section),
//! plain or gzipped, and a train/test [`Split`] stored as a set of IDX files.
//!
//! Layout: 2 zero bytes, 1 byte data type (only `0x08` = unsigned byte is supported), 1 byte number of
//! dimensions `d`, `d` big-endian `u32` sizes, then the body of `prod(sizes)` elements in row-major order.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use crate::{Error, ImageSet, Result, Split};

/// Data-type byte of unsigned 8-bit elements, the only type this module reads and writes.
pub const TYPE_U8: u8 = 0x08;

/// An n-dimensional `u8` array as stored in an IDX file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// Sizes of the dimensions, outermost first (`[n, rows, cols]` for images, `[n]` for labels).
    pub dims: Vec<usize>,
    /// Elements, row-major, `prod(dims)` bytes.
    pub data: Vec<u8>,
}

fn invalid(what: impl Into<String>, expected: impl Into<String>, got: impl Into<String>) -> Error {
    Error::Invalid {
        what: what.into(),
        expected: expected.into(),
        got: got.into(),
    }
}

fn type_name(t: u8) -> &'static str {
    match t {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "short (2 bytes)",
        0x0C => "int (4 bytes)",
        0x0D => "float (4 bytes)",
        0x0E => "double (8 bytes)",
        _ => "unknown",
    }
}

/// Whether `bytes` start with the gzip magic `1f 8b` (RFC 1952, §2.3.1).
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// Decodes an uncompressed IDX byte string; `what` names the input in errors (usually the file path).
///
/// # Errors
/// [`Error::Invalid`] for a wrong magic (first two bytes not zero), a data type other than `0x08`, a header
/// shorter than announced, or a body whose length differs from the product of the dimensions (truncated or
/// with trailing bytes).
pub fn decode(bytes: &[u8], what: &str) -> Result<IdxArray> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        let got: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(invalid(
            what,
            "IDX magic 00 00 <type> <ndims>",
            format!(
                "bytes {}",
                if got.is_empty() {
                    "(empty)".into()
                } else {
                    got.join(" ")
                }
            ),
        ));
    }
    if bytes[2] != TYPE_U8 {
        return Err(invalid(
            what,
            "IDX data type 0x08 (unsigned byte)",
            format!("0x{:02x} ({})", bytes[2], type_name(bytes[2])),
        ));
    }
    let nd = usize::from(bytes[3]);
    let header = 4 + 4 * nd;
    if bytes.len() < header {
        return Err(invalid(
            what,
            format!("a header of {header} bytes ({nd} dimensions)"),
            format!("{} bytes in all (truncated)", bytes.len()),
        ));
    }
    let mut dims = Vec::with_capacity(nd);
    for k in 0..nd {
        let b = &bytes[4 + 4 * k..8 + 4 * k];
        dims.push(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
    }
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| {
            invalid(
                what,
                "dimensions whose product fits in memory",
                format!("{dims:?}"),
            )
        })?;
    let body = &bytes[header..];
    if body.len() != count {
        let kind = if body.len() < count {
            "truncated body"
        } else {
            "trailing bytes after the body"
        };
        return Err(invalid(
            what,
            format!("{count} data bytes for dimensions {dims:?}"),
            format!("{} bytes ({kind})", body.len()),
        ));
    }
    Ok(IdxArray {
        dims,
        data: body.to_vec(),
    })
}

/// Encodes an array as uncompressed IDX bytes (type `0x08`).
///
/// # Errors
/// [`Error::Invalid`] when `data.len() != prod(dims)`, there are more than 255 dimensions, or a dimension
/// exceeds `u32::MAX`.
pub fn encode(arr: &IdxArray) -> Result<Vec<u8>> {
    let count: usize = arr.dims.iter().product();
    if count != arr.data.len() {
        return Err(invalid(
            "IDX array to encode",
            format!("{count} bytes for dimensions {:?}", arr.dims),
            format!("{} bytes", arr.data.len()),
        ));
    }
    let nd = u8::try_from(arr.dims.len()).map_err(|_| {
        invalid(
            "IDX array to encode",
            "at most 255 dimensions",
            arr.dims.len().to_string(),
        )
    })?;
    let mut out = Vec::with_capacity(4 + 4 * arr.dims.len() + arr.data.len());
    out.extend_from_slice(&[0, 0, TYPE_U8, nd]);
    for &d in &arr.dims {
        let d = u32::try_from(d).map_err(|_| {
            invalid(
                "IDX array to encode",
                "dimensions <= 4294967295",
                d.to_string(),
            )
        })?;
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(&arr.data);
    Ok(out)
}

/// Reads an IDX file, gunzipping it when it starts with the gzip magic (whatever its extension).
///
/// A gzip stream is inflated in two steps: the header first (4 bytes, then 4 per dimension), then at most
/// the body size the header declares plus one byte (to detect trailing data). A stream that inflates to
/// more (a "gzip bomb") is refused after reading that much, and the output buffer never grows beyond what
/// the stream really produced, so memory stays below `declared size + 1` bytes (plus the decoder's 32 KiB
/// window) whatever the file claims.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read or the gzip stream is corrupt; [`Error::Invalid`] as in
/// [`decode`], naming the path (a header cut short, a body shorter or longer than declared).
pub fn read(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if is_gzip(&raw) {
        read_gzip(&raw, path)
    } else {
        decode(&raw, &path.display().to_string())
    }
}

/// Largest ratio of inflated to compressed size DEFLATE can reach (RFC 1951: a 258-byte match per
/// 2-bit code gives about 1032:1); bounds the up-front allocation for a header that overstates the body.
const MAX_DEFLATE_RATIO: usize = 1032;

fn read_gzip(raw: &[u8], path: &Path) -> Result<IdxArray> {
    let what = path.display().to_string();
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut dec = MultiGzDecoder::new(raw);
    // The header: at most 4 + 4 * 255 bytes.
    let mut head = Vec::with_capacity(4 + 4 * 255);
    (&mut dec).take(4).read_to_end(&mut head).map_err(io)?;
    if head.len() == 4 && head[0] == 0 && head[1] == 0 && head[2] == TYPE_U8 {
        let dims_len = 4 * u64::from(head[3]);
        (&mut dec)
            .take(dims_len)
            .read_to_end(&mut head)
            .map_err(io)?;
    }
    let Some(count) = declared_count(&head) else {
        // Not a complete, well-formed header (or dimensions whose product overflows): `decode` names
        // what is wrong.
        return Err(match decode(&head, &what) {
            Err(e) => e,
            Ok(_) => invalid(what, "a complete IDX header", "an unreadable header"),
        });
    };
    let limit = count.saturating_add(1);
    let mut out = head;
    out.reserve(limit.min(raw.len().saturating_mul(MAX_DEFLATE_RATIO)));
    (&mut dec)
        .take(limit as u64)
        .read_to_end(&mut out)
        .map_err(io)?;
    decode(&out, &what)
}

/// The element count `prod(dims)` of a complete header with magic `00 00 08 nd`; `None` otherwise.
fn declared_count(head: &[u8]) -> Option<usize> {
    if head.len() < 4 || head[0] != 0 || head[1] != 0 || head[2] != TYPE_U8 {
        return None;
    }
    let nd = usize::from(head[3]);
    if head.len() != 4 + 4 * nd {
        return None;
    }
    head[4..].chunks_exact(4).try_fold(1usize, |a, b| {
        a.checked_mul(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    })
}

/// Writes an IDX file atomically (temporary file + rename); gzipped when the file name ends in `.gz`.
///
/// # Errors
/// As [`encode`]; [`Error::Io`] naming the path when it cannot be written.
pub fn write(path: &Path, arr: &IdxArray) -> Result<()> {
    let plain = encode(arr)?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut enc = GzEncoder::new(
            Vec::with_capacity(plain.len() / 4),
            flate2::Compression::default(),
        );
        enc.write_all(&plain).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        enc.finish().map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
    } else {
        plain
    };
    Ok(privsplit_io::write_atomic(path, &bytes)?)
}

/// Reads an IDX image file: `[n, rows, cols]` bytes.
///
/// # Errors
/// As [`read`]; [`Error::Invalid`] when the file has other than 3 dimensions.
pub fn read_images(path: &Path) -> Result<IdxArray> {
    let a = read(path)?;
    if a.dims.len() != 3 {
        return Err(invalid(
            path.display().to_string(),
            "an image file with 3 dimensions [n, rows, cols]",
            format!("{} dimensions {:?}", a.dims.len(), a.dims),
        ));
    }
    Ok(a)
}

/// Reads an IDX label file: `[n]` bytes.
///
/// # Errors
/// As [`read`]; [`Error::Invalid`] when the file has other than 1 dimension.
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    let a = read(path)?;
    if a.dims.len() != 1 {
        return Err(invalid(
            path.display().to_string(),
            "a label file with 1 dimension [n]",
            format!("{} dimensions {:?}", a.dims.len(), a.dims),
        ));
    }
    Ok(a.data)
}

/// Builds an [`ImageSet`] from image and label files, checking that the counts match.
///
/// # Errors
/// As [`read_images`] / [`read_labels`]; [`Error::Invalid`] when the number of labels (or sensitive values)
/// differs from the number of images, or a label is out of range of the names.
pub fn image_set_from_files(
    images: &Path,
    labels: &Path,
    sensitive: Option<&Path>,
    class_names: Vec<String>,
    sensitive_names: Vec<String>,
) -> Result<ImageSet> {
    let img = read_images(images)?;
    let lab = read_labels(labels)?;
    let n = img.dims[0];
    if lab.len() != n {
        return Err(invalid(
            labels.display().to_string(),
            format!("{n} labels, one per image of {}", images.display()),
            format!("{} labels", lab.len()),
        ));
    }
    let sens = match sensitive {
        Some(p) => {
            let s = read_labels(p)?;
            if s.len() != n {
                return Err(invalid(
                    p.display().to_string(),
                    format!(
                        "{n} sensitive values, one per image of {}",
                        images.display()
                    ),
                    format!("{} values", s.len()),
                ));
            }
            Some(s)
        }
        None => None,
    };
    let set = ImageSet {
        pixels: img.data,
        n,
        rows: img.dims[1],
        cols: img.dims[2],
        labels: lab,
        class_names,
        sensitive: sens,
        sensitive_names,
    };
    set.validate()?;
    Ok(set)
}

/// Metadata written next to a split by [`write_split`] (`{prefix}-meta.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitMeta {
    /// Names of the main-task classes.
    pub class_names: Vec<String>,
    /// Names of the sensitive-attribute values; empty when there is none.
    pub sensitive_names: Vec<String>,
    /// Number of training images.
    pub train: usize,
    /// Number of test images.
    pub test: usize,
    /// Image height in pixels.
    pub rows: usize,
    /// Image width in pixels.
    pub cols: usize,
}

/// The file of one part of a split: `{dir}/{prefix}-{part}-{kind}-idx{d}-ubyte.gz`, where `part` is
/// `train` or `test` and `kind` is `images` (d = 3), `labels` or `sensitive` (d = 1).
pub fn split_file(dir: &Path, prefix: &str, part: &str, kind: &str) -> PathBuf {
    let d = if kind == "images" { 3 } else { 1 };
    dir.join(format!("{prefix}-{part}-{kind}-idx{d}-ubyte.gz"))
}

/// The metadata file of a split: `{dir}/{prefix}-meta.json`.
pub fn meta_file(dir: &Path, prefix: &str) -> PathBuf {
    dir.join(format!("{prefix}-meta.json"))
}

/// Writes a split as gzipped IDX files, each atomically, then `{prefix}-meta.json` last (its presence marks
/// a complete split). Files: `{prefix}-{train,test}-images-idx3-ubyte.gz`, `-labels-idx1-ubyte.gz`, and
/// `-sensitive-idx1-ubyte.gz` when the sets have a sensitive attribute. Creates `dir` if needed.
///
/// # Errors
/// [`Error::Invalid`] when a set fails [`ImageSet::validate`], train and test disagree on image size or
/// names, or only one of them has a sensitive attribute; [`Error::Io`] when a file cannot be written.
pub fn write_split(dir: &Path, prefix: &str, split: &Split) -> Result<()> {
    split.train.validate()?;
    split.test.validate()?;
    let (tr, te) = (&split.train, &split.test);
    if (tr.rows, tr.cols) != (te.rows, te.cols)
        || tr.class_names != te.class_names
        || tr.sensitive_names != te.sensitive_names
        || tr.sensitive.is_some() != te.sensitive.is_some()
    {
        return Err(invalid(
            "split to write",
            "train and test with the same image size, class names and sensitive attribute",
            format!(
                "train {}x{} {:?}/{:?}, test {}x{} {:?}/{:?}",
                tr.rows,
                tr.cols,
                tr.class_names,
                tr.sensitive_names,
                te.rows,
                te.cols,
                te.class_names,
                te.sensitive_names
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for (part, set) in [("train", tr), ("test", te)] {
        write(
            &split_file(dir, prefix, part, "images"),
            &IdxArray {
                dims: vec![set.n, set.rows, set.cols],
                data: set.pixels.clone(),
            },
        )?;
        write(
            &split_file(dir, prefix, part, "labels"),
            &IdxArray {
                dims: vec![set.n],
                data: set.labels.clone(),
            },
        )?;
        if let Some(s) = &set.sensitive {
            write(
                &split_file(dir, prefix, part, "sensitive"),
                &IdxArray {
                    dims: vec![set.n],
                    data: s.clone(),
                },
            )?;
        }
    }
    let meta = SplitMeta {
        class_names: tr.class_names.clone(),
        sensitive_names: tr.sensitive_names.clone(),
        train: tr.n,
        test: te.n,
        rows: tr.rows,
        cols: tr.cols,
    };
    let path = meta_file(dir, prefix);
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| {
        invalid(
            path.display().to_string(),
            "serialisable metadata",
            e.to_string(),
        )
    })?;
    Ok(privsplit_io::write_atomic(&path, &json)?)
}

/// Reads a split written by [`write_split`].
///
/// # Errors
/// [`Error::Io`] when a file is missing; [`Error::Invalid`] when the metadata does not parse or the files
/// disagree with it (counts, image size) or with each other.
pub fn read_split(dir: &Path, prefix: &str) -> Result<Split> {
    let path = meta_file(dir, prefix);
    let raw = std::fs::read(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let meta: SplitMeta = serde_json::from_slice(&raw).map_err(|e| {
        invalid(
            path.display().to_string(),
            "split metadata JSON",
            e.to_string(),
        )
    })?;
    let has_sensitive = !meta.sensitive_names.is_empty();
    let mut sets = Vec::with_capacity(2);
    for (part, want) in [("train", meta.train), ("test", meta.test)] {
        let sens = split_file(dir, prefix, part, "sensitive");
        let set = image_set_from_files(
            &split_file(dir, prefix, part, "images"),
            &split_file(dir, prefix, part, "labels"),
            has_sensitive.then_some(sens.as_path()),
            meta.class_names.clone(),
            meta.sensitive_names.clone(),
        )?;
        if (set.n, set.rows, set.cols) != (want, meta.rows, meta.cols) {
            return Err(invalid(
                format!("{part} images in {}", dir.display()),
                format!(
                    "{want} images of {}x{} (from {})",
                    meta.rows,
                    meta.cols,
                    path.display()
                ),
                format!("{} images of {}x{}", set.n, set.rows, set.cols),
            ));
        }
        sets.push(set);
    }
    let test = sets.pop();
    let train = sets.pop();
    match (train, test) {
        (Some(train), Some(test)) => Ok(Split { train, test }),
        _ => Err(invalid("split", "train and test", "fewer parts")),
    }
}
