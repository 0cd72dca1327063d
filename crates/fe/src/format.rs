//! Versioned binary encodings shared by every serialised object of the crate.
//!
//! Every file starts with an 8-byte magic naming the object and a `u32` version; integers are little
//! endian; group elements are the standard compressed encodings of BLS12-381 (ZCash format: G1 48 bytes,
//! G2 96 bytes), decoded with the library's checked decoders (on the curve and in the prime-order subgroup);
//! the identity element (point at infinity) is refused as well: no honest key or ciphertext contains it
//! (it appears only with probability about 2^-255), and an identity element in a public key makes the
//! matching ciphertext component independent of the key. Readers check every length before allocating
//! and reject trailing bytes.

use std::path::Path;

use blstrs::{G1Affine, G2Affine, Scalar};
use ff::PrimeField;
use group::prime::PrimeCurveAffine;

use crate::{Error, Result};

/// Size of a compressed G1 element, bytes.
pub const G1_BYTES: usize = 48;
/// Size of a compressed G2 element, bytes.
pub const G2_BYTES: usize = 96;

/// Byte writer.
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(magic: &[u8; 8], version: u32) -> Self {
        Self::with_capacity(magic, version, 0)
    }
    /// A writer whose buffer is allocated for `capacity` bytes up front (for secrets: no reallocation
    /// leaves a copy behind).
    pub(crate) fn with_capacity(magic: &[u8; 8], version: u32, capacity: usize) -> Self {
        let mut w = Writer {
            buf: Vec::with_capacity(capacity),
        };
        w.buf.extend_from_slice(magic);
        w.u32(version);
        w
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    pub(crate) fn g1(&mut self, p: &G1Affine) {
        self.buf.extend_from_slice(&p.to_compressed());
    }
    pub(crate) fn g2(&mut self, p: &G2Affine) {
        self.buf.extend_from_slice(&p.to_compressed());
    }
    pub(crate) fn scalar(&mut self, s: &Scalar) {
        self.buf.extend_from_slice(&s.to_repr());
    }
}

/// Byte reader with the name of the object for errors.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Checks magic and version and positions after them.
    pub(crate) fn new(
        buf: &'a [u8],
        what: &'static str,
        magic: &[u8; 8],
        version: u32,
    ) -> Result<Self> {
        let mut r = Reader { buf, pos: 0, what };
        let m = r.take(8)?;
        if m != magic {
            return Err(Error::format(
                what,
                format!(
                    "bad magic {:?}, expected {:?}",
                    String::from_utf8_lossy(m),
                    String::from_utf8_lossy(magic)
                ),
            ));
        }
        let v = r.u32()?;
        if v != version {
            return Err(Error::format(
                what,
                format!("version {v}, expected {version}"),
            ));
        }
        Ok(r)
    }
    /// A reader over raw bytes without a header.
    pub(crate) fn raw(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| {
                Error::format(
                    self.what,
                    format!(
                        "truncated: need {n} bytes at offset {}, {} bytes in total",
                        self.pos,
                        self.buf.len()
                    ),
                )
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    /// Checks that `count` items of `size` bytes remain before a vector is allocated.
    pub(crate) fn expect_items(&self, count: u64, size: usize) -> Result<usize> {
        let need = count.checked_mul(size as u64);
        let left = (self.buf.len() - self.pos) as u64;
        match need {
            Some(n) if n <= left => Ok(count as usize),
            _ => Err(Error::format(
                self.what,
                format!("truncated: {count} items of {size} bytes declared, {left} bytes left"),
            )),
        }
    }
    pub(crate) fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    pub(crate) fn i64(&mut self) -> Result<i64> {
        Ok(self.u64()? as i64)
    }
    pub(crate) fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }
    pub(crate) fn array32(&mut self) -> Result<[u8; 32]> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }
    pub(crate) fn g1(&mut self) -> Result<G1Affine> {
        let at = self.pos;
        let mut a = [0u8; G1_BYTES];
        a.copy_from_slice(self.take(G1_BYTES)?);
        let p: G1Affine = Option::from(G1Affine::from_compressed(&a)).ok_or_else(|| {
            Error::format(
                self.what,
                format!(
                    "bytes {at}..{} are not a compressed G1 point of the prime-order subgroup",
                    at + G1_BYTES
                ),
            )
        })?;
        if bool::from(p.is_identity()) {
            return Err(self.identity(at, G1_BYTES, "G1"));
        }
        Ok(p)
    }
    fn identity(&self, at: usize, len: usize, group: &str) -> Error {
        Error::format(
            self.what,
            format!(
                "bytes {at}..{} are the identity element of {group} (point at infinity), which no valid key or ciphertext contains",
                at + len
            ),
        )
    }
    pub(crate) fn g2(&mut self) -> Result<G2Affine> {
        let at = self.pos;
        let mut a = [0u8; G2_BYTES];
        a.copy_from_slice(self.take(G2_BYTES)?);
        let p: G2Affine = Option::from(G2Affine::from_compressed(&a)).ok_or_else(|| {
            Error::format(
                self.what,
                format!(
                    "bytes {at}..{} are not a compressed G2 point of the prime-order subgroup",
                    at + G2_BYTES
                ),
            )
        })?;
        if bool::from(p.is_identity()) {
            return Err(self.identity(at, G2_BYTES, "G2"));
        }
        Ok(p)
    }
    pub(crate) fn scalar(&mut self) -> Result<Scalar> {
        let a = self.array32()?;
        Option::from(Scalar::from_repr(a))
            .ok_or_else(|| Error::format(self.what, "scalar not reduced modulo the group order"))
    }
    /// Fails if bytes remain.
    pub(crate) fn finish(self) -> Result<()> {
        if self.pos != self.buf.len() {
            return Err(Error::format(
                self.what,
                format!("{} trailing bytes", self.buf.len() - self.pos),
            ));
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed, then renamed.
///
/// # Errors
/// [`Error::Io`] naming `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(path, bytes, None)
}

/// [`write_atomic`] for secrets: the file is readable and writable by its owner only (mode 0600 on Unix;
/// the mode is set when the temporary file is created, before any byte is written, so the secret is never
/// in a file others can read, whatever the umask or the mode of a file it replaces).
///
/// # Errors
/// [`Error::Io`] naming `path`.
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(path, bytes, Some(0o600))
}

fn write_atomic_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<()> {
    privsplit_io::write_atomic_with_mode(path, bytes, mode)
        .map_err(|e| Error::io(path, std::io::Error::other(e)))
}

/// Reads a whole file.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// SHA-256 digest of `bytes`.
pub(crate) fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// `v` as an element of `Z_r`.
pub(crate) fn scalar_i64(v: i64) -> Scalar {
    if v < 0 {
        -Scalar::from(v.unsigned_abs())
    } else {
        Scalar::from(v as u64)
    }
}
