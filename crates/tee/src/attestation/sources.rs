//! Evidence from real TEEs. Each backend's root path is injectable, so the file protocols are tested
//! against a temporary directory; none of them ever falls back to [`super::InsecureDevAttester`].
//!
//! - [`ConfigfsTsmAttester`]: Linux configfs-tsm (`Documentation/ABI/testing/configfs-tsm`, kernel
//!   6.7 or later), used for TDX (`provider` = `tdx_guest`, `outblob` = a DCAP quote) and SEV-SNP (`sev_guest`,
//!   `outblob` = the report, `auxblob` = the GHCB certificate table with the VCEK.)
//! - [`SevGuestAttester`]: `/dev/sev-guest` through `sev::firmware::guest::Firmware` (extended report).
//! - [`GramineAttester`]: Gramine-SGX's pseudo-files `/dev/attestation/{attestation_type,
//!   user_report_data, quote}` (Gramine docs, "Attestation and Secret Provisioning").

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{Attester, Evidence, InsecureDevAttester};
use crate::error::{attest, io, AttestReason, Error, Result};

/// Default configfs-tsm report directory.
pub const CONFIGFS_TSM_ROOT: &str = "/sys/kernel/config/tsm/report";
/// Default Gramine attestation directory.
pub const GRAMINE_ROOT: &str = "/dev/attestation";
/// The SEV guest device (fixed by the `sev` crate).
pub const SEV_GUEST_DEVICE: &str = "/dev/sev-guest";
/// GUID of the VCEK entry in the SNP certificate table (GHCB spec §4.1.8.1), in its binary
/// (mixed-endian) layout: 63da758d-e664-4564-adc5-f4b93be8accd.
pub const VCEK_GUID: [u8; 16] = [
    0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd,
];

fn src_err(what: impl Into<String>) -> Error {
    attest(AttestReason::Source(what.into()))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| src_err(format!("reading {}: {e}", path.display())))
}

/// Extracts the VCEK (DER) from an SNP certificate table: entries `guid[16] | offset u32 LE |
/// length u32 LE`, terminated by an all-zero entry; offsets are from the start of the table.
pub fn vcek_from_cert_table(table: &[u8]) -> Option<Vec<u8>> {
    for e in table.chunks_exact(24) {
        let guid = &e[..16];
        if guid.iter().all(|&b| b == 0) {
            break;
        }
        let off = u32::from_le_bytes([e[16], e[17], e[18], e[19]]) as usize;
        let len = u32::from_le_bytes([e[20], e[21], e[22], e[23]]) as usize;
        if guid == VCEK_GUID {
            return table.get(off..off.checked_add(len)?).map(<[u8]>::to_vec);
        }
    }
    None
}

/// What one configfs-tsm request returned.
#[derive(Debug, Clone, PartialEq)]
pub struct TsmOutput {
    /// `provider`: `tdx_guest` or `sev_guest`.
    pub provider: String,
    /// `outblob`: the quote (TDX) or report (SNP).
    pub outblob: Vec<u8>,
    /// `auxblob` when present and non-empty (SNP certificate table).
    pub auxblob: Option<Vec<u8>>,
}

/// Runs the configfs-tsm file protocol inside an existing report entry directory: write `inblob`,
/// read `generation`, `outblob`, `generation` again (equal: no concurrent writer raced us), `provider`
/// and the optional `auxblob`.
///
/// # Errors
/// [`crate::Error::Attestation`] naming the file that failed or the generation race.
pub fn tsm_request_in_entry(entry: &Path, report_data: &[u8; 64]) -> Result<TsmOutput> {
    fs::write(entry.join("inblob"), report_data)
        .map_err(|e| src_err(format!("writing {}/inblob: {e}", entry.display())))?;
    let gen = |p: &Path| -> Result<String> {
        Ok(String::from_utf8_lossy(&read(&p.join("generation"))?)
            .trim()
            .to_string())
    };
    let g1 = gen(entry)?;
    let outblob = read(&entry.join("outblob"))?;
    let g2 = gen(entry)?;
    if g1 != g2 {
        return Err(src_err(format!(
            "configfs-tsm generation changed from {g1} to {g2}: another writer raced this request"
        )));
    }
    if outblob.is_empty() {
        return Err(src_err("configfs-tsm outblob is empty"));
    }
    let provider = String::from_utf8_lossy(&read(&entry.join("provider"))?)
        .trim()
        .to_string();
    let auxblob = fs::read(entry.join("auxblob"))
        .ok()
        .filter(|a| !a.is_empty());
    Ok(TsmOutput {
        provider,
        outblob,
        auxblob,
    })
}

/// Evidence from Linux configfs-tsm (TDX or SEV-SNP guests, kernel >= 6.7).
#[derive(Debug, Clone)]
pub struct ConfigfsTsmAttester {
    root: PathBuf,
    vcek_der: Option<Vec<u8>>,
    collateral: Option<dcap_qvl::QuoteCollateralV3>,
}

static TSM_COUNTER: AtomicU64 = AtomicU64::new(0);

impl ConfigfsTsmAttester {
    /// Uses report entries under `root` (normally [`CONFIGFS_TSM_ROOT`]); `vcek_der` is used for SNP
    /// when the `auxblob` carries no VCEK; `collateral` is attached to TDX quotes.
    pub fn new(
        root: impl Into<PathBuf>,
        vcek_der: Option<Vec<u8>>,
        collateral: Option<dcap_qvl::QuoteCollateralV3>,
    ) -> Self {
        Self {
            root: root.into(),
            vcek_der,
            collateral,
        }
    }

    /// Builds evidence from one request's output.
    ///
    /// # Errors
    /// [`crate::Error::Attestation`] for an unknown provider or an SNP report without any VCEK.
    pub fn evidence_from_output(&self, out: TsmOutput) -> Result<Evidence> {
        match out.provider.as_str() {
            "tdx_guest" => Ok(Evidence::DcapQuote {
                quote: out.outblob,
                collateral: self.collateral.clone().map(Box::new),
            }),
            "sev_guest" => {
                let vcek_der = out
                    .auxblob
                    .as_deref()
                    .and_then(vcek_from_cert_table)
                    .or_else(|| self.vcek_der.clone())
                    .ok_or_else(|| {
                        src_err("SNP report without a VCEK: no auxblob certificate table and no --vcek file")
                    })?;
                Ok(Evidence::SevSnp {
                    report: out.outblob,
                    vcek_der,
                })
            }
            p => Err(src_err(format!(
                "configfs-tsm provider {p:?} is not supported (expected tdx_guest or sev_guest)"
            ))),
        }
    }
}

impl Attester for ConfigfsTsmAttester {
    fn name(&self) -> &'static str {
        "configfs-tsm"
    }
    fn evidence(&self, report_data: &[u8; 64]) -> Result<Evidence> {
        let n = TSM_COUNTER.fetch_add(1, Ordering::Relaxed);
        let entry = self
            .root
            .join(format!("privsplit-{}-{n}", std::process::id()));
        fs::create_dir(&entry)
            .map_err(|e| src_err(format!("creating report entry {}: {e}", entry.display())))?;
        let out = tsm_request_in_entry(&entry, report_data);
        // configfs removes the entry with rmdir; in a plain directory this fails when files remain.
        let _ = fs::remove_dir(&entry);
        self.evidence_from_output(out?)
    }
}

/// Serialises Gramine attestations in this process: `/dev/attestation` is one pair of pseudo-files
/// (write `user_report_data`, then read `quote`), so two concurrent handshakes could otherwise each read a
/// quote bound to the other's report data.
static GRAMINE_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Evidence from Gramine-SGX's `/dev/attestation` pseudo-files (DCAP only), one attestation at a time.
#[derive(Debug, Clone)]
pub struct GramineAttester {
    root: PathBuf,
    collateral: Option<dcap_qvl::QuoteCollateralV3>,
}

impl GramineAttester {
    /// Uses `root` (normally [`GRAMINE_ROOT`]); `collateral` is attached to the quotes.
    pub fn new(root: impl Into<PathBuf>, collateral: Option<dcap_qvl::QuoteCollateralV3>) -> Self {
        Self {
            root: root.into(),
            collateral,
        }
    }
}

impl Attester for GramineAttester {
    fn name(&self) -> &'static str {
        "gramine"
    }
    fn evidence(&self, report_data: &[u8; 64]) -> Result<Evidence> {
        let ty = String::from_utf8_lossy(&read(&self.root.join("attestation_type"))?)
            .trim()
            .to_string();
        if ty != "dcap" {
            return Err(src_err(format!(
                "Gramine attestation_type is {ty:?}; set sgx.remote_attestation = \"dcap\" in the manifest"
            )));
        }
        // A poisoned lock only means another attestation panicked; the files carry no state across calls.
        let _guard = GRAMINE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let p = self.root.join("user_report_data");
        fs::write(&p, report_data).map_err(|e| src_err(format!("writing {}: {e}", p.display())))?;
        let quote = read(&self.root.join("quote"))?;
        if quote.is_empty() {
            return Err(src_err("Gramine returned an empty quote"));
        }
        Ok(Evidence::DcapQuote {
            quote,
            collateral: self.collateral.clone().map(Box::new),
        })
    }
}

/// Evidence from `/dev/sev-guest` through the `sev` crate (extended report with the certificate table).
#[derive(Debug, Clone)]
pub struct SevGuestAttester {
    device: PathBuf,
    vcek_der: Option<Vec<u8>>,
}

impl SevGuestAttester {
    /// `device` must be [`SEV_GUEST_DEVICE`] (the `sev` crate opens that path itself; the field lets a
    /// test check the presence logic); `vcek_der` is used when the host provides no certificate table.
    pub fn new(device: impl Into<PathBuf>, vcek_der: Option<Vec<u8>>) -> Self {
        Self {
            device: device.into(),
            vcek_der,
        }
    }
}

impl Attester for SevGuestAttester {
    fn name(&self) -> &'static str {
        "sev-guest"
    }
    fn evidence(&self, report_data: &[u8; 64]) -> Result<Evidence> {
        if !self.device.exists() {
            return Err(src_err(format!(
                "{} does not exist (not an SEV-SNP guest, or the sev-guest driver is not loaded)",
                self.device.display()
            )));
        }
        if self.device != Path::new(SEV_GUEST_DEVICE) {
            return Err(src_err(format!(
                "the sev crate opens {SEV_GUEST_DEVICE} only, not {}",
                self.device.display()
            )));
        }
        let mut fw = sev::firmware::guest::Firmware::open()
            .map_err(|e| src_err(format!("opening {SEV_GUEST_DEVICE}: {e}")))?;
        let (report, certs) = fw
            .get_ext_report(None, Some(*report_data), None)
            .map_err(|e| src_err(format!("SNP_GET_EXT_REPORT: {e}")))?;
        let vcek_der = certs
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.cert_type == sev::firmware::host::CertType::VCEK)
            .map(|c| c.data)
            .or_else(|| self.vcek_der.clone())
            .ok_or_else(|| src_err("no VCEK from the host and no --vcek file"))?;
        Ok(Evidence::SevSnp { report, vcek_der })
    }
}

/// Builds an attester from a command-line spec: `insecure-dev`, `configfs-tsm[:ROOT]`, `sev-guest`,
/// `gramine[:ROOT]`.
///
/// # Errors
/// [`Error::Config`] for an unknown spec; [`Error::Io`] / [`Error::Json`] when the VCEK or collateral
/// file cannot be read.
pub fn attester_from_spec(
    spec: &str,
    vcek: Option<&Path>,
    collateral: Option<&Path>,
) -> Result<Arc<dyn Attester>> {
    let vcek_der = vcek
        .map(|p| fs::read(p).map_err(|e| io(p, e)))
        .transpose()?;
    let collateral = collateral
        .map(|p| -> Result<dcap_qvl::QuoteCollateralV3> {
            let b = fs::read(p).map_err(|e| io(p, e))?;
            serde_json::from_slice(&b).map_err(|source| Error::Json {
                what: "DCAP collateral",
                source,
            })
        })
        .transpose()?;
    let (kind, root) = match spec.split_once(':') {
        Some((k, r)) => (k, Some(PathBuf::from(r))),
        None => (spec, None),
    };
    Ok(match kind {
        "insecure-dev" => Arc::new(InsecureDevAttester),
        "configfs-tsm" => Arc::new(ConfigfsTsmAttester::new(
            root.unwrap_or_else(|| PathBuf::from(CONFIGFS_TSM_ROOT)),
            vcek_der,
            collateral,
        )),
        "sev-guest" => Arc::new(SevGuestAttester::new(
            root.unwrap_or_else(|| PathBuf::from(SEV_GUEST_DEVICE)),
            vcek_der,
        )),
        "gramine" => Arc::new(GramineAttester::new(
            root.unwrap_or_else(|| PathBuf::from(GRAMINE_ROOT)),
            collateral,
        )),
        _ => {
            return Err(Error::Config {
                what: "attester",
                reason: format!(
                "{spec:?}: expected insecure-dev, configfs-tsm[:ROOT], sev-guest or gramine[:ROOT]"
            ),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_entry(dir: &Path, provider: &str, out: &[u8], aux: Option<&[u8]>) {
        fs::write(dir.join("provider"), format!("{provider}\n")).unwrap();
        fs::write(dir.join("outblob"), out).unwrap();
        fs::write(dir.join("generation"), "1\n").unwrap();
        if let Some(a) = aux {
            fs::write(dir.join("auxblob"), a).unwrap();
        }
    }

    #[test]
    fn configfs_tsm_tdx_protocol() {
        let tmp = tempfile::tempdir().unwrap();
        let entry = tmp.path().join("e");
        fs::create_dir(&entry).unwrap();
        fake_entry(&entry, "tdx_guest", b"QUOTE", None);
        let rd = [9u8; 64];
        let out = tsm_request_in_entry(&entry, &rd).unwrap();
        assert_eq!(fs::read(entry.join("inblob")).unwrap(), rd.to_vec());
        assert_eq!(out.provider, "tdx_guest");
        let a = ConfigfsTsmAttester::new(tmp.path(), None, None);
        match a.evidence_from_output(out).unwrap() {
            Evidence::DcapQuote { quote, collateral } => {
                assert_eq!(quote, b"QUOTE");
                assert!(collateral.is_none());
            }
            e => panic!("wrong evidence {e:?}"),
        }
    }

    #[test]
    fn configfs_tsm_snp_takes_vcek_from_auxblob() {
        let mut table = Vec::new();
        table.extend_from_slice(&VCEK_GUID);
        table.extend_from_slice(&48u32.to_le_bytes());
        table.extend_from_slice(&4u32.to_le_bytes());
        table.extend_from_slice(&[0u8; 24]);
        table.extend_from_slice(b"VCEK");
        assert_eq!(vcek_from_cert_table(&table).unwrap(), b"VCEK");
        let tmp = tempfile::tempdir().unwrap();
        fake_entry(tmp.path(), "sev_guest", b"REPORT", Some(&table));
        let out = tsm_request_in_entry(tmp.path(), &[1u8; 64]).unwrap();
        let a = ConfigfsTsmAttester::new(tmp.path(), None, None);
        assert_eq!(
            a.evidence_from_output(out).unwrap(),
            Evidence::SevSnp {
                report: b"REPORT".to_vec(),
                vcek_der: b"VCEK".to_vec()
            }
        );
        // No auxblob and no configured VCEK: a clear error, no fallback.
        let out = TsmOutput {
            provider: "sev_guest".into(),
            outblob: b"R".to_vec(),
            auxblob: None,
        };
        assert!(a
            .evidence_from_output(out)
            .unwrap_err()
            .to_string()
            .contains("VCEK"));
    }

    #[test]
    fn configfs_tsm_without_kernel_fails_and_cleans_up() {
        // A plain directory: mkdir works but no kernel fills outblob.
        let tmp = tempfile::tempdir().unwrap();
        let a = ConfigfsTsmAttester::new(tmp.path(), None, None);
        let e = a.evidence(&[0u8; 64]).unwrap_err().to_string();
        assert!(e.contains("attestation failure"), "{e}");
        assert!(!a.is_insecure_dev());
        // Missing root entirely.
        let a = ConfigfsTsmAttester::new(tmp.path().join("nope"), None, None);
        assert!(a.evidence(&[0u8; 64]).is_err());
    }

    #[test]
    fn gramine_protocol() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("attestation_type"), "dcap").unwrap();
        fs::write(tmp.path().join("quote"), b"GQ").unwrap();
        let g = GramineAttester::new(tmp.path(), None);
        let rd = [5u8; 64];
        let ev = g.evidence(&rd).unwrap();
        assert_eq!(
            fs::read(tmp.path().join("user_report_data")).unwrap(),
            rd.to_vec()
        );
        assert_eq!(
            ev,
            Evidence::DcapQuote {
                quote: b"GQ".to_vec(),
                collateral: None
            }
        );
        fs::write(tmp.path().join("attestation_type"), "none").unwrap();
        assert!(g.evidence(&rd).unwrap_err().to_string().contains("dcap"));
    }

    #[test]
    fn gramine_attestations_are_serialised() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("attestation_type"), "dcap").unwrap();
        fs::write(tmp.path().join("quote"), b"GQ").unwrap();
        let g = GramineAttester::new(tmp.path(), None);
        let held = GRAMINE_LOCK.lock().unwrap();
        let t = std::thread::spawn(move || g.evidence(&[9u8; 64]).is_ok());
        std::thread::sleep(std::time::Duration::from_millis(200));
        // While another attestation holds /dev/attestation, nothing is written.
        assert!(!tmp.path().join("user_report_data").exists());
        drop(held);
        assert!(t.join().unwrap());
        assert_eq!(
            fs::read(tmp.path().join("user_report_data")).unwrap(),
            vec![9u8; 64]
        );
    }

    #[test]
    fn sev_guest_absent_device_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let a = SevGuestAttester::new(tmp.path().join("sev-guest"), None);
        assert!(a
            .evidence(&[0u8; 64])
            .unwrap_err()
            .to_string()
            .contains("does not exist"));
    }

    #[test]
    fn spec_parsing() {
        assert!(attester_from_spec("insecure-dev", None, None)
            .unwrap()
            .is_insecure_dev());
        let a = attester_from_spec("gramine:/tmp/x", None, None).unwrap();
        assert_eq!(a.name(), "gramine");
        assert!(!a.is_insecure_dev());
        assert!(attester_from_spec("sgx-magic", None, None).is_err());
    }
}
