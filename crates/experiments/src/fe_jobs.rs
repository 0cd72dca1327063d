//! The functional-encryption jobs on files (`privsplit fe setup|keygen|encrypt|infer|synth-model|bench`):
//! read keys, models and images, call `privsplit_fe`, write the results atomically, and return what was
//! done as a report whose `Display` is the line the command prints.
//!
//! The scheme is the public-key quadratic functional encryption of Ryffel et al., "Partially Encrypted
//! Machine Learning using Functional Encryption", NeurIPS 2019, §3 ([`privsplit_fe::quadratic`]). Keys
//! come from the operating system's CSPRNG; images are pixels in `[0, 255]`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use privsplit_fe::bench::{self, BenchConfig};
use privsplit_fe::format::read_file;
use privsplit_fe::inference::{decode_batch, decrypt_batch, encode_batch};
use privsplit_fe::{
    DlogTable, EncryptionKey, FunctionalKey, MasterSecretKey, PublicKey, QuantConfig,
    QuantisedQuadratic,
};
use privsplit_io::write_atomic;
use serde::{Deserialize, Serialize};

use crate::bench::fe::markdown;
use crate::{Error, Result, StepContext};

/// Comb teeth of the prepared public key used to encrypt (`2^6` points per key element).
const ENCRYPT_TEETH: usize = 6;

/// Largest `log2` of a discrete-log table (`12 * 2^28` bytes, about 3.2 GB).
pub const MAX_TABLE_BITS: u32 = 28;

/// The files a job wrote, with what they hold; `Display`: `wrote PATH and PATH (WHAT)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// The files.
    pub paths: Vec<PathBuf>,
    /// What they hold.
    pub what: String,
}

impl fmt::Display for Written {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let paths: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        write!(f, "wrote {} ({})", paths.join(" and "), self.what)
    }
}

/// Generates a master key pair for `inputs` pixels in `[0, 255]`: writes `<out_dir>/fe.pk` (public) and
/// `<out_dir>/fe.msk` (secret, mode 0600 from the moment it appears).
///
/// # Errors
/// [`Error::Io`] when `out_dir` cannot be created; [`Error::Fe`] for a bad `inputs`; write errors.
pub fn setup_keys(inputs: usize, out_dir: &Path) -> Result<Written> {
    create_dir(out_dir)?;
    let (pk, msk) = privsplit_fe::setup(inputs, 0, 255, &mut rand::rngs::OsRng)?;
    write_atomic(&out_dir.join("fe.pk"), &pk.to_bytes())?;
    msk.save(&out_dir.join("fe.msk"))?;
    Ok(Written {
        paths: vec![out_dir.join("fe.pk"), out_dir.join("fe.msk")],
        what: format!("n = {inputs}, pixels in [0, 255]; fe.msk is secret, mode 0600"),
    })
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Reads a quantised model file (`PSFEQMDL`).
///
/// # Errors
/// [`Error::Step`] naming the file around the read or decoding error.
pub fn load_model(path: &Path) -> Result<QuantisedQuadratic> {
    read_file(path)
        .and_then(|b| QuantisedQuadratic::from_bytes(&b))
        .step(format!("reading the quantised model {}", path.display()))
}

fn read_with<T>(
    path: &Path,
    what: &str,
    decode: impl FnOnce(&[u8]) -> privsplit_fe::Result<T>,
) -> Result<T> {
    read_file(path)
        .and_then(|b| decode(&b))
        .step(format!("reading the {what} {}", path.display()))
}

/// Issues the functional key of the quantised model in `model` with the master secret key in `msk`
/// ([`MasterSecretKey::keygen`]) and writes it to `out`.
///
/// # Errors
/// Read and decoding errors naming the file; [`Error::Fe`] when the model does not fit the key.
pub fn issue_key(msk: &Path, model: &Path, out: &Path) -> Result<Written> {
    let msk = read_with(msk, "master secret key", MasterSecretKey::from_bytes)?;
    let key = msk.keygen(&load_model(model)?)?;
    write_atomic(out, &key.to_bytes())?;
    Ok(Written {
        paths: vec![out.to_path_buf()],
        what: format!("{} outputs", key.outputs()),
    })
}

/// The images an encryption job reads.
#[derive(Clone, Debug, PartialEq)]
pub enum ImageFile {
    /// An IDX image file (`[n, rows, cols]` u8, optionally gzipped).
    Idx(PathBuf),
    /// Raw bytes, this many per image.
    Raw(PathBuf, usize),
}

/// What [`encrypt_images`] did; `Display`: `encrypted N images in S s -> PATH`.
#[derive(Clone, Debug, PartialEq)]
pub struct EncryptReport {
    /// Images encrypted.
    pub count: usize,
    /// Wall time of the encryption, s.
    pub seconds: f64,
    /// The ciphertext batch file.
    pub out: PathBuf,
}

impl fmt::Display for EncryptReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "encrypted {} images in {:.2} s -> {}",
            self.count,
            self.seconds,
            self.out.display()
        )
    }
}

/// Encrypts at most `limit` images of `images` under the public key in `pk` (comb tables, rayon) and writes
/// the ciphertext batch to `out`.
///
/// # Errors
/// Read errors naming the file; [`Error::Invalid`] when an image's size differs from the key's input
/// count or the file is not a whole number of images; [`Error::Fe`] for pixels outside the key's range.
pub fn encrypt_images(
    pk: &Path,
    images: &ImageFile,
    limit: Option<usize>,
    out: &Path,
) -> Result<EncryptReport> {
    let pk = read_with(pk, "master public key", PublicKey::from_bytes)?;
    let (path, per, data) = match images {
        ImageFile::Raw(p, n) => (
            p,
            *n,
            read_file(p).step(format!("reading {}", p.display()))?,
        ),
        ImageFile::Idx(p) => {
            let a = privsplit_data::idx::read_images(p)?;
            (p, a.dims[1] * a.dims[2], a.data)
        }
    };
    if per != pk.inputs() {
        return Err(Error::invalid(
            format!("images in {}", path.display()),
            format!("{} pixels per image (the public key's inputs)", pk.inputs()),
            format!("{per} pixels"),
        ));
    }
    if per == 0 || data.len() % per != 0 {
        return Err(Error::invalid(
            format!("images in {}", path.display()),
            format!("a whole number of {per}-byte images"),
            format!("{} bytes", data.len()),
        ));
    }
    let count = (data.len() / per).min(limit.unwrap_or(usize::MAX));
    let prepared = pk.prepare(ENCRYPT_TEETH)?;
    let t = Instant::now();
    let mut rng = rand::rngs::OsRng;
    let cts = data
        .chunks(per)
        .take(count)
        .map(|img| prepared.encrypt_pixels(img, &mut rng))
        .collect::<privsplit_fe::Result<Vec<_>>>()?;
    write_atomic(out, &encode_batch(&cts))?;
    Ok(EncryptReport {
        count,
        seconds: t.elapsed().as_secs_f64(),
        out: out.to_path_buf(),
    })
}

/// A discrete-log table that is ready; `Display` says whether it was mapped or built, and how long it took.
#[derive(Debug)]
pub struct OpenedTable {
    /// The table.
    pub table: DlogTable,
    /// Its file.
    pub path: PathBuf,
    /// `log2` of its entries.
    pub bits: u32,
    /// The file existed (memory-mapped) rather than being built and saved.
    pub existed: bool,
    /// Time to make it ready, s.
    pub seconds: f64,
}

impl fmt::Display for OpenedTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "discrete-log table {} (2^{} entries): {} in {:.2} s",
            self.path.display(),
            self.bits,
            if self.existed {
                "memory-mapped"
            } else {
                "built and saved"
            },
            self.seconds
        )
    }
}

/// The discrete-log table of `privsplit fe infer` and `fe bench`: its file and size ([`TableFile::open`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct TableFile {
    /// Discrete-log table file (built and saved there if missing).
    #[cfg_attr(feature = "clap", arg(long, default_value = "fe-keys/dlog-2p22.tbl"))]
    pub table: PathBuf,
    /// log2 of the table size (memory/time trade-off: 12 * 2^bits bytes).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 22))]
    pub table_bits: u32,
}

impl TableFile {
    /// [`open_table`] on this file and size.
    ///
    /// # Errors
    /// As [`open_table`].
    pub fn open(&self) -> Result<OpenedTable> {
        open_table(&self.table, self.table_bits)
    }
}

/// Memory-maps the discrete-log table in `path`, or builds it with `2^bits` entries (`12 * 2^bits` bytes)
/// and saves it there (creating the folder).
///
/// # Errors
/// [`Error::Invalid`] for `bits` over [`MAX_TABLE_BITS`]; [`Error::Io`]; [`Error::Fe`] for a bad table file.
pub fn open_table(path: &Path, bits: u32) -> Result<OpenedTable> {
    if bits > MAX_TABLE_BITS {
        return Err(Error::invalid(
            "--table-bits",
            format!("at most {MAX_TABLE_BITS}"),
            bits.to_string(),
        ));
    }
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir(dir)?;
    }
    let t = Instant::now();
    let existed = path.exists();
    let table = DlogTable::open_or_build(path, 1u64 << bits)?;
    Ok(OpenedTable {
        table,
        path: path.to_path_buf(),
        bits,
        existed,
        seconds: t.elapsed().as_secs_f64(),
    })
}

/// The decrypted private outputs of one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecryptedImage {
    /// Position in the ciphertext batch.
    pub index: usize,
    /// The integer outputs `f_c(x)` (`[outputs]`).
    pub integer: Vec<i64>,
    /// The outputs dequantised (`[outputs]`).
    pub dequantised: Vec<f32>,
    /// Index of the largest dequantised output.
    pub argmax_private_output: usize,
}

/// The report of [`decrypt_images`] (the JSON file); `Display`: one line per image, then the total.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecryptReport {
    /// One entry per ciphertext.
    pub images: Vec<DecryptedImage>,
    /// Wall time of the decryption, s.
    pub seconds: f64,
    /// Decryption time per image, ms.
    pub ms_per_image: f64,
    /// The discrete-log bound the model implies.
    pub dlog_bound: u64,
    /// What the outputs are.
    pub note: String,
    /// Where the report was written (not serialised).
    #[serde(skip)]
    pub out: PathBuf,
}

impl fmt::Display for DecryptReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for im in &self.images {
            writeln!(
                f,
                "image {}: outputs {:?} (argmax {})",
                im.index, im.integer, im.argmax_private_output
            )?;
        }
        write!(
            f,
            "decrypted {} images in {:.2} s -> {}",
            self.images.len(),
            self.seconds,
            self.out.display()
        )
    }
}

/// Decrypts the private outputs of every ciphertext in `cts` with the functional key in `key` for the
/// model in `model` ([`privsplit_fe::inference::decrypt_batch`], a bounded discrete log in `table`) and
/// writes the [`DecryptReport`] as JSON to `out`.
///
/// # Errors
/// Read and decoding errors naming the file; [`Error::Fe`] when the key, model and ciphertexts do not
/// belong together or a value lies outside the bound; write errors.
pub fn decrypt_images(
    cts: &Path,
    key: &Path,
    model: &Path,
    table: &DlogTable,
    out: &Path,
) -> Result<DecryptReport> {
    let cts = read_with(cts, "ciphertext batch", decode_batch)?;
    let key = read_with(key, "functional key", FunctionalKey::from_bytes)?;
    let model = load_model(model)?;
    let t = Instant::now();
    let outs = decrypt_batch(&cts, &key, &model, table)?;
    let seconds = t.elapsed().as_secs_f64();
    let images = outs
        .into_iter()
        .enumerate()
        .map(|(index, o)| DecryptedImage {
            index,
            argmax_private_output: argmax(&o.dequantised),
            integer: o.integer,
            dequantised: o.dequantised,
        })
        .collect::<Vec<_>>();
    let report = DecryptReport {
        ms_per_image: if images.is_empty() {
            0.0
        } else {
            seconds * 1e3 / images.len() as f64
        },
        images,
        seconds,
        dlog_bound: model.dlog_bound()?,
        note: "outputs of the private quadratic layer; the clear public head classifies the dequantised \
               values"
            .into(),
        out: out.to_path_buf(),
    };
    privsplit_report::write_json(out, &report)?;
    Ok(report)
}

/// Index of the largest value (the first one on ties; 0 for an empty slice).
fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0usize, f32::MIN),
            |b, (k, x)| if *x > b.1 { (k, *x) } else { b },
        )
        .0
}

/// Writes a synthetic quantised model (random weights from `seed`; for trying the commands, not a trained
/// model) with `hidden` units, `inputs` inputs and `outputs` outputs to `out`.
///
/// # Errors
/// [`Error::Fe`] for sizes the quantiser refuses; write errors.
pub fn synthetic_model(
    hidden: usize,
    inputs: usize,
    outputs: usize,
    seed: u64,
    out: &Path,
) -> Result<Written> {
    let f = bench::synthetic_float_model(hidden, inputs, outputs, seed);
    let m = QuantisedQuadratic::from_float(&f, &QuantConfig::default())?;
    write_atomic(out, &m.to_bytes())?;
    Ok(Written {
        paths: vec![out.to_path_buf()],
        what: format!(
            "synthetic {hidden}x{inputs}->{outputs} model, discrete-log bound {}",
            m.dlog_bound()?
        ),
    })
}

/// Runs every figure of the FE performance table (`privsplit_fe::bench::run`, `reps` repetitions, median)
/// with the table `t`, logging each step to `log`, and returns the Markdown table; writes it also to
/// `write` when given.
///
/// # Errors
/// [`Error::Fe`] when a benchmark step fails; write errors.
pub fn bench_table(
    t: &OpenedTable,
    reps: usize,
    write: Option<&Path>,
    log: &dyn Fn(&str),
) -> Result<String> {
    let cfg = BenchConfig {
        reps,
        ..BenchConfig::default()
    };
    let rows = bench::run(&cfg, &t.table, log)?;
    let md = markdown(&rows, t.bits, t.seconds, reps);
    if let Some(p) = write {
        write_atomic(p, md.as_bytes())?;
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir() -> Result<tempfile::TempDir> {
        tempfile::tempdir().map_err(|source| Error::Io {
            path: std::env::temp_dir(),
            source,
        })
    }

    fn write(path: &Path, bytes: &[u8]) -> Result<()> {
        std::fs::write(path, bytes).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The whole chain on files: keys, a functional key, two raw images encrypted, decrypted; the outputs
    /// equal the quantised model evaluated in plaintext, and the JSON report reads back equal.
    #[test]
    fn setup_keygen_encrypt_decrypt_round_trip_on_files() -> Result<()> {
        let tmp = tempdir()?;
        let d = tmp.path();
        let (inputs, outputs) = (6, 2);
        setup_keys(inputs, &d.join("keys"))?;
        let written = synthetic_model(3, inputs, outputs, 7, &d.join("model.fe"))?;
        assert!(
            written.to_string().contains("synthetic 3x6->2"),
            "{written}"
        );
        issue_key(
            &d.join("keys/fe.msk"),
            &d.join("model.fe"),
            &d.join("f.key"),
        )?;
        let pixels: Vec<u8> = vec![0, 255, 17, 3, 99, 200, 5, 0, 0, 128, 64, 1];
        write(&d.join("images.raw"), &pixels)?;
        let images = ImageFile::Raw(d.join("images.raw"), inputs);
        let enc = encrypt_images(&d.join("keys/fe.pk"), &images, None, &d.join("ct.bin"))?;
        assert_eq!(enc.count, 2);
        // A table just large enough that every search stays within the default giant-step cap (2^20).
        let bound = load_model(&d.join("model.fe"))?.dlog_bound()?;
        let bits = (65 - (bound >> 20).leading_zeros()).clamp(10, 22);
        let t = open_table(&d.join("tables/dlog.tbl"), bits)?;
        assert!(!t.existed && d.join("tables/dlog.tbl").is_file());
        let r = decrypt_images(
            &d.join("ct.bin"),
            &d.join("f.key"),
            &d.join("model.fe"),
            &t.table,
            &d.join("out.json"),
        )?;
        let model = load_model(&d.join("model.fe"))?;
        for (im, px) in r.images.iter().zip(pixels.chunks(inputs)) {
            assert_eq!(im.integer, model.eval_plain(px)?);
            assert_eq!(im.dequantised, model.dequantise(&im.integer));
        }
        let back: DecryptReport = privsplit_report::read_json(&d.join("out.json"))?;
        assert_eq!(back.images, r.images);
        Ok(())
    }

    #[test]
    fn refuses_images_of_the_wrong_size_and_oversized_tables() -> Result<()> {
        let tmp = tempdir()?;
        let d = tmp.path();
        setup_keys(6, d)?;
        let raw = d.join("images.raw");
        write(&raw, &[1u8; 10])?;
        for (per, want) in [
            (5, "6 pixels per image"),
            (6, "whole number of 6-byte images"),
        ] {
            let e = encrypt_images(
                &d.join("fe.pk"),
                &ImageFile::Raw(raw.clone(), per),
                None,
                &d.join("c"),
            )
            .expect_err("bad images")
            .to_string();
            assert!(e.contains(want) && e.contains("images.raw"), "{e}");
        }
        let e = open_table(&d.join("t"), 29)
            .expect_err("too big")
            .to_string();
        assert!(e.contains("--table-bits") && e.contains("29"), "{e}");
        let e = issue_key(&d.join("missing.msk"), &d.join("m"), &d.join("k"))
            .expect_err("missing key")
            .to_string();
        assert!(e.contains("missing.msk"), "{e}");
        Ok(())
    }
}
