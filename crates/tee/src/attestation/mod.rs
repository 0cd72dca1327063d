//! Attestation: evidence, the [`Attester`] / [`Verifier`] traits, the [`Policy`], and backends.
//!
//! - Verification: Intel SGX and TDX DCAP quotes with `dcap-qvl` ([`dcap::DcapVerifier`]; offline, with
//!   collateral and a given time), AMD SEV-SNP reports with `sev` ([`snp::SnpVerifier`]; built-in
//!   ARK/ASK, the VCEK shipped with the evidence). [`PolicyVerifier`] dispatches on the evidence kind.
//! - Evidence sources ([`sources`]): Linux configfs-tsm (TDX / SNP, kernel >= 6.7), `/dev/sev-guest`
//!   through `sev`, Gramine's `/dev/attestation/*`; each file protocol has an injectable root.
//! - [`InsecureDevAttester`]: **NO SECURITY.** Unsigned evidence that says it is insecure, for machines
//!   without a TEE; accepted only when the verifier's policy sets `allow_insecure_dev` (the client's
//!   `--allow-insecure-dev` flag).
//!
//! Every verifier checks, in this order: signatures / certificate chain at the policy's time (DCAP: with
//! the verifier's own collateral when it has some, then dcap-qvl's appraisal policy: TCB status, collateral
//! expiry, minimum TCB evaluation data number, platform flags); for SNP, VMPL 0 and the VCEK's TCB and chip
//! id equal to the report's; that the evidence's 64-byte report data equals the expected value
//! (`SHA-512(domain || handshake hash)`, see [`crate::channel::report_data_for`]); debug mode (rejected
//! unless allowed); the measurement (in the allow-list unless `allow_any_measurement`); for TDX the
//! [`TdxPolicy`] (pinned RTMR0-3, MRCONFIGID, MROWNER, MROWNERCONFIG, TD attributes, XFAM; at least one RTMR
//! pinned unless `allow_unpinned_rtmrs`); the TCB (DCAP status in the accepted list, SNP reported TCB >= a
//! non-zero minimum unless `allow_any_snp_tcb`).

pub mod dcap;
mod hex;
pub mod options;
pub mod snp;
pub mod sources;

use serde::{Deserialize, Serialize};

use crate::error::{attest, AttestReason, Result};

pub use hex::{decode_hex, encode_hex};
pub use options::PolicyOptions;

/// Attestation evidence as sent by the trusted service (JSON in an `Evidence` frame, `docs/WIRE.md`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Evidence {
    /// **NO SECURITY.** Development evidence from a machine without a TEE: unsigned, says so.
    InsecureDev {
        /// The report data the server was asked to bind (hex, 64 bytes).
        #[serde(with = "hex::serde_hex")]
        report_data: Vec<u8>,
        /// Always [`INSECURE_DEV_WARNING`].
        warning: String,
    },
    /// An Intel SGX or TDX DCAP quote (v3/v4/v5), with the collateral when the server has it.
    DcapQuote {
        /// The raw quote bytes.
        #[serde(with = "hex::serde_hex")]
        quote: Vec<u8>,
        /// Intel PCS / PCCS collateral (signed by Intel, so its carrier need not be trusted).
        collateral: Option<Box<dcap_qvl::QuoteCollateralV3>>,
    },
    /// An AMD SEV-SNP attestation report (1184 bytes) and the VCEK certificate (DER) that signed it.
    SevSnp {
        /// Raw report bytes as returned by the firmware.
        #[serde(with = "hex::serde_hex")]
        report: Vec<u8>,
        /// VCEK certificate, DER.
        #[serde(with = "hex::serde_hex")]
        vcek_der: Vec<u8>,
    },
}

/// The text every insecure development evidence, reply marker and log line carries.
pub const INSECURE_DEV: &str = "insecure-dev";
/// The warning carried in [`Evidence::InsecureDev`].
pub const INSECURE_DEV_WARNING: &str =
    "insecure-dev: NO TEE, NO SECURITY - this evidence is unsigned and proves nothing";

/// Which kind of TEE produced verified evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TeeKind {
    /// No TEE: development mode.
    InsecureDev,
    /// Intel SGX enclave.
    Sgx,
    /// Intel TDX trust domain.
    Tdx,
    /// AMD SEV-SNP confidential VM.
    SevSnp,
}

/// What a verifier established about the peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The TEE type.
    pub tee: TeeKind,
    /// The measurement: MRENCLAVE (32 bytes, SGX), MRTD (48 bytes, TDX), MEASUREMENT (48 bytes, SNP);
    /// empty in development mode.
    pub measurement: Vec<u8>,
    /// DCAP TCB status (`UpToDate`, ...), or `snp-reported-tcb bl.tee.snp.ucode`, or `insecure-dev`.
    pub tcb_status: String,
    /// Intel security advisories that apply (DCAP), empty otherwise.
    pub advisory_ids: Vec<String>,
    /// True for development evidence: the channel is encrypted but nothing is attested.
    pub insecure_dev: bool,
}

/// An SEV-SNP TCB version (security version numbers of the firmware components; AMD 56860, Table 3
/// `TCB_VERSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SnpTcb {
    /// PSP bootloader SVN.
    pub bootloader: u8,
    /// PSP OS (TEE) SVN.
    pub tee: u8,
    /// SNP firmware SVN.
    pub snp: u8,
    /// Microcode patch level.
    pub microcode: u8,
    /// FMC (first mutable code) SVN: present on Turin and later parts only (`None` on Milan / Genoa).
    #[serde(default)]
    pub fmc: Option<u8>,
}

impl SnpTcb {
    /// True when every component is at least `min`'s; a minimum FMC SVN is met only by a TCB that has an
    /// FMC component at least that high.
    pub fn at_least(&self, min: &SnpTcb) -> bool {
        self.bootloader >= min.bootloader
            && self.tee >= min.tee
            && self.snp >= min.snp
            && self.microcode >= min.microcode
            && match (self.fmc, min.fmc) {
                (_, None) => true,
                (Some(f), Some(m)) => f >= m,
                (None, Some(_)) => false,
            }
    }

    /// True when no component is set (the "no minimum" value a policy refuses unless
    /// [`Policy::allow_any_snp_tcb`] is set).
    pub fn is_zero(&self) -> bool {
        self.bootloader == 0
            && self.tee == 0
            && self.snp == 0
            && self.microcode == 0
            && self.fmc.unwrap_or(0) == 0
    }

    /// Parses `bl=N,tee=N,snp=N,ucode=N[,fmc=N]` (decimal, any order; every component but `fmc` required),
    /// the form of the CLI's `--min-snp-tcb` and of the `snp-reported-tcb` claim.
    ///
    /// # Errors
    /// [`crate::Error::Config`] naming the bad or missing component.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: String| crate::Error::Config {
            what: "SEV-SNP TCB (bl=N,tee=N,snp=N,ucode=N[,fmc=N])",
            reason,
        };
        let (mut bl, mut tee, mut snp, mut uc, mut fmc) = (None, None, None, None, None);
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("{part:?} is not KEY=VALUE")))?;
            let v: u8 = v
                .trim()
                .parse()
                .map_err(|e| bad(format!("{k}={v:?}: expected an integer 0..=255 ({e})")))?;
            let slot = match k.trim() {
                "bl" | "bootloader" => &mut bl,
                "tee" => &mut tee,
                "snp" => &mut snp,
                "ucode" | "microcode" => &mut uc,
                "fmc" => &mut fmc,
                other => return Err(bad(format!("unknown component {other:?}"))),
            };
            *slot = Some(v);
        }
        let need =
            |v: Option<u8>, name: &str| v.ok_or_else(|| bad(format!("{name}= missing in {s:?}")));
        Ok(SnpTcb {
            bootloader: need(bl, "bl")?,
            tee: need(tee, "tee")?,
            snp: need(snp, "snp")?,
            microcode: need(uc, "ucode")?,
            fmc,
        })
    }
}

/// The TDX-specific part of a [`Policy`]: what beyond MRTD a TD report must carry.
///
/// MRTD measures only the TD's initial memory (the virtual firmware, TDVF); the kernel, initrd, command line
/// and everything the guest loads afterwards are extended into the run-time measurement registers RTMR0-3
/// (Intel, *TDX Module ABI Specification*, `TDREPORT_STRUCT`; the TDVF design guide §4 for which boot stage
/// extends which RTMR). A policy that pins MRTD alone accepts the allowed firmware booting *any* OS and
/// service. So evidence is refused when no RTMR is pinned, unless [`TdxPolicy::allow_unpinned_rtmrs`] is set
/// (CLI `--allow-unpinned-rtmrs`).
///
/// Every pinned value must match exactly (48-byte registers; TD attributes and XFAM 8 bytes, in the report's
/// little-endian byte order, as hex in the CLI).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TdxPolicy {
    /// Expected RTMR0..RTMR3 (48 bytes each); `None` leaves that register unpinned.
    pub rtmr: [Option<Vec<u8>>; 4],
    /// Expected MRCONFIGID (48 bytes; software-defined configuration of the TD, set by the host at launch).
    pub mr_config_id: Option<Vec<u8>>,
    /// Expected MROWNER (48 bytes; the TD owner's identity, set at launch).
    pub mr_owner: Option<Vec<u8>>,
    /// Expected MROWNERCONFIG (48 bytes; owner-defined configuration, set at launch).
    pub mr_owner_config: Option<Vec<u8>>,
    /// Expected TD_ATTRIBUTES (8 bytes, e.g. `SEPT_VE_DISABLE` bit 28, `PKS` bit 30, `DEBUG` bit 0).
    pub td_attributes: Option<Vec<u8>>,
    /// Expected XFAM (8 bytes: the extended CPU features the TD may use).
    pub xfam: Option<Vec<u8>>,
    /// Accept evidence although no RTMR is pinned (MRTD then covers the firmware only). Default false.
    pub allow_unpinned_rtmrs: bool,
}

/// What a verifier accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Allowed measurements (MRENCLAVE / MRTD / SNP MEASUREMENT). Hardware evidence whose measurement
    /// is not listed is rejected unless [`Policy::allow_any_measurement`] is set.
    pub allowed_measurements: Vec<Vec<u8>>,
    /// Skip the measurement check (only for inspecting unknown evidence; never in production).
    pub allow_any_measurement: bool,
    /// DCAP TCB statuses accepted (default: only `UpToDate`).
    pub accepted_tcb_statuses: Vec<String>,
    /// Minimum SEV-SNP reported TCB (CLI `--min-snp-tcb`). The default is all zero, which SEV-SNP
    /// evidence is refused under unless [`Policy::allow_any_snp_tcb`] is set: AMD raises the TCB after
    /// every firmware security fix, and no fixed number in this crate would stay current.
    pub min_snp_tcb: SnpTcb,
    /// Accept SEV-SNP evidence under a zero [`Policy::min_snp_tcb`] (CLI `--allow-any-snp-tcb`). Default false.
    pub allow_any_snp_tcb: bool,
    /// Minimum DCAP TCB evaluation data number (Intel's TCB-recovery counter, `tcbEvaluationDataNumber` of
    /// the TCB info and QE identity collateral; the lower of the two is compared). Collateral older than
    /// the TCB recovery event that introduced this number is refused. `None`: no minimum.
    pub min_tcb_eval_data_number: Option<u32>,
    /// DCAP: accept PCK certificates whose platform flags say dynamic platform (packages can be added),
    /// cached keys, or SMT enabled (dcap-qvl's `QuotePolicy` refuses each when set to false). Default
    /// true: these are properties of common multi-socket and cloud platforms (the TDX sample collateral's
    /// platform is dynamic), not failures; set false (CLI `--dcap-strict-platform`) to refuse them.
    pub dcap_allow_platform_flags: bool,
    /// TDX registers pinned beyond MRTD.
    pub tdx: TdxPolicy,
    /// Accept debug-enabled TEEs (default false: a debug enclave's memory is readable by the host).
    pub allow_debug: bool,
    /// Accept [`Evidence::InsecureDev`] (default false; the client's explicit `--allow-insecure-dev`).
    pub allow_insecure_dev: bool,
    /// Verification time, Unix seconds; `None` = the system clock.
    pub now_unix: Option<u64>,
    /// The verifier's own DCAP collateral (from its PCCS). When set it is used for every quote, and
    /// collateral sent by the server is ignored: the server chooses what it sends, and could replay old
    /// (still validly signed) collateral from before a TCB recovery.
    #[serde(skip)]
    pub dcap_collateral: Option<dcap_qvl::QuoteCollateralV3>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allowed_measurements: Vec::new(),
            allow_any_measurement: false,
            accepted_tcb_statuses: vec!["UpToDate".to_string()],
            min_snp_tcb: SnpTcb::default(),
            allow_any_snp_tcb: false,
            min_tcb_eval_data_number: None,
            dcap_allow_platform_flags: true,
            tdx: TdxPolicy::default(),
            allow_debug: false,
            allow_insecure_dev: false,
            now_unix: None,
            dcap_collateral: None,
        }
    }
}

impl Policy {
    /// **NO SECURITY.** A policy that accepts only insecure development evidence.
    pub fn insecure_dev() -> Self {
        Self {
            allow_insecure_dev: true,
            ..Self::default()
        }
    }

    /// The verification time in Unix seconds.
    pub fn now(&self) -> u64 {
        self.now_unix.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        })
    }

    pub(crate) fn check_measurement(&self, m: &[u8]) -> Result<()> {
        if self.allow_any_measurement || self.allowed_measurements.iter().any(|a| a == m) {
            Ok(())
        } else {
            Err(attest(AttestReason::Measurement(encode_hex(m))))
        }
    }
}

pub(crate) fn check_report_data(got: &[u8], expected: &[u8; 64]) -> Result<()> {
    // Not secret: a plain comparison is fine.
    if got == expected.as_slice() {
        Ok(())
    } else {
        Err(attest(AttestReason::ReportData))
    }
}

/// Produces attestation evidence binding 64 bytes of report data.
pub trait Attester: Send + Sync {
    /// Short name for logs (`insecure-dev`, `configfs-tsm`, `sev-guest`, `gramine`).
    fn name(&self) -> &'static str;
    /// True for the insecure development attester.
    fn is_insecure_dev(&self) -> bool {
        false
    }
    /// Evidence whose report data field is exactly `report_data`.
    ///
    /// # Errors
    /// [`crate::Error::Attestation`] when the source fails. Never falls back to another source.
    fn evidence(&self, report_data: &[u8; 64]) -> Result<Evidence>;
}

/// Checks evidence against a policy and the expected report data.
pub trait Verifier: Send + Sync {
    /// Verifies `evidence`, requiring its report data to equal `expected_report_data`.
    ///
    /// # Errors
    /// [`crate::Error::Attestation`] naming the failed check.
    fn verify(&self, evidence: &Evidence, expected_report_data: &[u8; 64]) -> Result<Claims>;
}

/// **NO SECURITY.** Attester for machines without a TEE: unsigned evidence that says so.
#[derive(Debug, Default, Clone, Copy)]
pub struct InsecureDevAttester;

impl Attester for InsecureDevAttester {
    fn name(&self) -> &'static str {
        INSECURE_DEV
    }
    fn is_insecure_dev(&self) -> bool {
        true
    }
    fn evidence(&self, report_data: &[u8; 64]) -> Result<Evidence> {
        Ok(Evidence::InsecureDev {
            report_data: report_data.to_vec(),
            warning: INSECURE_DEV_WARNING.to_string(),
        })
    }
}

/// The verifier a client uses: dispatches on the evidence kind under one [`Policy`].
#[derive(Debug, Clone, Default)]
pub struct PolicyVerifier {
    /// The policy applied to every kind.
    pub policy: Policy,
}

impl PolicyVerifier {
    /// A verifier with `policy`.
    pub fn new(policy: Policy) -> Self {
        Self { policy }
    }
}

impl Verifier for PolicyVerifier {
    fn verify(&self, evidence: &Evidence, expected: &[u8; 64]) -> Result<Claims> {
        match evidence {
            Evidence::InsecureDev {
                report_data,
                warning,
            } => {
                if !self.policy.allow_insecure_dev {
                    return Err(attest(AttestReason::InsecureDevRejected));
                }
                if warning != INSECURE_DEV_WARNING {
                    return Err(attest(AttestReason::Parse(
                        "insecure-dev evidence without its warning text".into(),
                    )));
                }
                check_report_data(report_data, expected)?;
                Ok(Claims {
                    tee: TeeKind::InsecureDev,
                    measurement: Vec::new(),
                    tcb_status: INSECURE_DEV.to_string(),
                    advisory_ids: Vec::new(),
                    insecure_dev: true,
                })
            }
            Evidence::DcapQuote { .. } => {
                dcap::DcapVerifier::new(self.policy.clone()).verify(evidence, expected)
            }
            Evidence::SevSnp { .. } => {
                snp::SnpVerifier::new(self.policy.clone()).verify(evidence, expected)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_dev_needs_opt_in_and_binding() {
        let rd = [3u8; 64];
        let ev = InsecureDevAttester.evidence(&rd).unwrap();
        let strict = PolicyVerifier::default();
        let e = strict.verify(&ev, &rd).unwrap_err().to_string();
        assert!(e.contains("allow-insecure-dev"), "{e}");
        let dev = PolicyVerifier::new(Policy::insecure_dev());
        let c = dev.verify(&ev, &rd).unwrap();
        assert!(c.insecure_dev);
        assert_eq!(c.tee, TeeKind::InsecureDev);
        assert!(dev.verify(&ev, &[4u8; 64]).is_err());
        // JSON round trip keeps it verifiable and says what it is.
        let json = serde_json::to_string(&ev).unwrap();
        assert!(json.contains("insecure-dev"));
        let back: Evidence = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
    }
}
