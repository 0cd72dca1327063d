//! AMD SEV-SNP attestation report verification with `sev` (pure-Rust crypto).
//!
//! Chain: AMD Root Key (ARK, built into `sev` for Milan, Genoa and Turin) -> AMD SEV Key (ASK) ->
//! VCEK (shipped with the evidence) -> ECDSA-P384 signature over the report (AMD, *SEV Secure Nested
//! Paging Firmware ABI Specification* 56860, §7.3 "ATTESTATION_REPORT structure", Table 22). `sev` checks
//! signatures only; this module also checks what it leaves to the caller: that the report's
//! `REPORTED_TCB` equals the TCB the VCEK was issued for (VCEK X.509 extensions blSPL / teeSPL / snpSPL /
//! ucodeSPL / fmcSPL, OIDs 1.3.6.1.4.1.3704.1.3.{1,2,3,8,9}, the last on Turin only; AMD 57230 *VCEK
//! Certificate and KDS Interface Specification* §3), read from the certificate parsed with `x509-cert`, and
//! that the report's CHIP_ID equals the VCEK's hwID (1.3.6.1.4.1.3704.1.4); then the policy: `VMPL` = 0,
//! report data, `POLICY.DEBUG` (bit 19), MEASUREMENT, minimum TCB (a zero minimum is refused unless
//! [`Policy::allow_any_snp_tcb`]).
//! Certificate validity dates and revocation (AMD KDS CRL) are not checked.

use sev::certs::snp::{builtin, ca, Certificate, Chain, Verifiable};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;
use x509_cert::der::asn1::{ObjectIdentifier, OctetString};
use x509_cert::der::Decode;
use x509_cert::Certificate as X509Certificate;

use super::{check_report_data, encode_hex, Claims, Evidence, Policy, SnpTcb, TeeKind, Verifier};
use crate::error::{attest, AttestReason, Result};

/// Verifier of [`Evidence::SevSnp`].
#[derive(Debug, Clone)]
pub struct SnpVerifier {
    policy: Policy,
}

impl SnpVerifier {
    /// A verifier applying `policy`.
    pub fn new(policy: Policy) -> Self {
        Self { policy }
    }
}

/// Parses a raw SNP report (1184 bytes).
///
/// # Errors
/// [`crate::Error::Attestation`] when the bytes are not a report.
pub fn parse_report(bytes: &[u8]) -> Result<AttestationReport> {
    AttestationReport::from_bytes(bytes)
        .map_err(|e| attest(AttestReason::Parse(format!("SNP report: {e}"))))
}

fn chains() -> Vec<(&'static str, Result<ca::Chain, std::io::Error>)> {
    let mk = |ark: std::io::Result<Certificate>, ask: std::io::Result<Certificate>| {
        Ok(ca::Chain {
            ark: ark?,
            ask: ask?,
        })
    };
    vec![
        ("milan", mk(builtin::milan::ark(), builtin::milan::ask())),
        ("genoa", mk(builtin::genoa::ark(), builtin::genoa::ask())),
        ("turin", mk(builtin::turin::ark(), builtin::turin::ask())),
    ]
}

/// VCEK extension OIDs (AMD 57230, *VCEK Certificate and KDS Interface Specification*, §3.1 Table 8).
const OID_BL_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
const OID_TEE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
const OID_SNP_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
const OID_UCODE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
/// fmcSPL: Turin and later only.
const OID_FMC_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
const OID_HW_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");

/// The parsed VCEK's extension values (the contents of each `extnValue` OCTET STRING), by OID.
struct VcekExtensions(Vec<(ObjectIdentifier, Vec<u8>)>);

impl VcekExtensions {
    /// Parses the DER certificate with `x509-cert` (RFC 5280 `Certificate`, the whole input, no trailing
    /// bytes) and keeps its extensions; `None` when it is not a certificate or a critical extension
    /// repeats.
    fn parse(der: &[u8]) -> Option<Self> {
        let cert = X509Certificate::from_der(der).ok()?;
        let exts = cert.tbs_certificate.extensions.unwrap_or_default();
        let mut out: Vec<(ObjectIdentifier, Vec<u8>)> = Vec::with_capacity(exts.len());
        for e in exts {
            // RFC 5280 §4.2: a certificate must not include more than one instance of an extension.
            if out.iter().any(|(o, _)| *o == e.extn_id) {
                return None;
            }
            out.push((e.extn_id, e.extn_value.as_bytes().to_vec()));
        }
        Some(VcekExtensions(out))
    }

    fn get(&self, oid: &ObjectIdentifier) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(o, _)| o == oid)
            .map(|(_, v)| v.as_slice())
    }

    /// A security patch level: the extension holds a DER INTEGER in `0..=255`.
    fn spl(&self, oid: &ObjectIdentifier) -> Option<u8> {
        u8::from_der(self.get(oid)?).ok()
    }

    fn tcb(&self) -> Option<SnpTcb> {
        let fmc = match self.get(&OID_FMC_SPL) {
            None => None,
            Some(_) => Some(self.spl(&OID_FMC_SPL)?),
        };
        Some(SnpTcb {
            bootloader: self.spl(&OID_BL_SPL)?,
            tee: self.spl(&OID_TEE_SPL)?,
            snp: self.spl(&OID_SNP_SPL)?,
            microcode: self.spl(&OID_UCODE_SPL)?,
            fmc,
        })
    }

    fn hwid(&self) -> Option<Vec<u8>> {
        let v = self.get(&OID_HW_ID)?;
        // The value is the raw chip id (64 bytes; 8 on Turin); some KDS versions wrap it in a nested
        // OCTET STRING.
        Some(match OctetString::from_der(v) {
            Ok(inner) => inner.as_bytes().to_vec(),
            Err(_) => v.to_vec(),
        })
    }
}

/// The TCB a VCEK certificate (DER) was issued for, from its AMD extensions (blSPL, teeSPL, snpSPL,
/// ucodeSPL, and fmcSPL where present), read from the parsed certificate.
pub fn vcek_tcb(der: &[u8]) -> Option<SnpTcb> {
    VcekExtensions::parse(der)?.tcb()
}

/// The hwID (chip id) a VCEK certificate (DER) was issued for.
pub fn vcek_hwid(der: &[u8]) -> Option<Vec<u8>> {
    VcekExtensions::parse(der)?.hwid()
}

/// Parses the report and checks its signature chain ARK -> ASK -> VCEK -> report (built-in ARK/ASK of
/// Milan, Genoa, Turin).
fn verify_signature(report: &[u8], vcek_der: &[u8]) -> Result<AttestationReport> {
    let rep = parse_report(report)?;
    let vcek = Certificate::from_der(vcek_der)
        .map_err(|e| attest(AttestReason::Parse(format!("VCEK certificate: {e}"))))?;
    let mut errors = Vec::new();
    let mut ok = false;
    for (name, ca) in chains() {
        let ca = match ca {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("{name}: built-in chain: {e}"));
                continue;
            }
        };
        let chain = Chain {
            ca,
            vek: vcek.clone(),
        };
        match (&chain, &rep).verify() {
            Ok(()) => {
                ok = true;
                break;
            }
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    if !ok {
        return Err(attest(AttestReason::Signature(errors.join("; "))));
    }
    Ok(rep)
}

impl Verifier for SnpVerifier {
    fn verify(&self, evidence: &Evidence, expected: &[u8; 64]) -> Result<Claims> {
        let Evidence::SevSnp { report, vcek_der } = evidence else {
            return Err(attest(AttestReason::Parse(
                "SNP verifier given non-SNP evidence".into(),
            )));
        };
        let rep = verify_signature(report, vcek_der)?;
        self.check_claims(&rep, vcek_der, expected)
    }
}

impl SnpVerifier {
    /// The checks after the signature: VCEK TCB and chip id against the report, then the policy.
    fn check_claims(
        &self,
        rep: &AttestationReport,
        vcek_der: &[u8],
        expected: &[u8; 64],
    ) -> Result<Claims> {
        // VMPL 0 is the most privileged guest level; a report requested from VMPL 1-3 comes from code
        // running under another guest component (an SVSM or paravisor at VMPL 0) that MEASUREMENT does not
        // describe and that can read the lower levels' memory.
        if rep.vmpl != 0 {
            return Err(attest(AttestReason::Policy(format!(
                "report requested at VMPL {}; only VMPL 0 (the most privileged guest level) is accepted",
                rep.vmpl
            ))));
        }
        let reported = SnpTcb {
            bootloader: rep.reported_tcb.bootloader,
            tee: rep.reported_tcb.tee,
            snp: rep.reported_tcb.snp,
            microcode: rep.reported_tcb.microcode,
            fmc: rep.reported_tcb.fmc,
        };
        let ext = VcekExtensions::parse(vcek_der).ok_or_else(|| {
            attest(AttestReason::Parse(
                "VCEK is not an X.509 certificate with unique extensions".into(),
            ))
        })?;
        match ext.tcb() {
            Some(t) if t == reported => {}
            Some(t) => {
                return Err(attest(AttestReason::Tcb(format!(
                    "report claims {reported:?} but the VCEK was issued for {t:?}"
                ))))
            }
            None => {
                return Err(attest(AttestReason::Parse(
                    "VCEK lacks the AMD TCB extensions".into(),
                )))
            }
        }
        if rep.chip_id.iter().any(|&b| b != 0) {
            match ext.hwid() {
                Some(h) if !h.is_empty() && rep.chip_id.starts_with(&h) => {}
                _ => {
                    return Err(attest(AttestReason::Signature(
                        "report CHIP_ID does not match the VCEK hwID".into(),
                    )))
                }
            }
        }
        check_report_data(&rep.report_data, expected)?;
        if rep.policy.debug_allowed() && !self.policy.allow_debug {
            return Err(attest(AttestReason::Debug));
        }
        self.policy.check_measurement(&rep.measurement)?;
        if self.policy.min_snp_tcb.is_zero() && !self.policy.allow_any_snp_tcb {
            return Err(attest(AttestReason::Policy(
                "no minimum SEV-SNP TCB is set: give the TCB of current AMD firmware \
                 (--min-snp-tcb bl=N,tee=N,snp=N,ucode=N[,fmc=N]) or accept any TCB explicitly \
                 (--allow-any-snp-tcb)"
                    .into(),
            )));
        }
        if !reported.at_least(&self.policy.min_snp_tcb) {
            return Err(attest(AttestReason::Tcb(format!(
                "reported {reported:?} below minimum {:?}",
                self.policy.min_snp_tcb
            ))));
        }
        Ok(Claims {
            tee: TeeKind::SevSnp,
            measurement: rep.measurement.to_vec(),
            tcb_status: format!(
                "snp-reported-tcb bl={} tee={} snp={} ucode={}{}",
                reported.bootloader,
                reported.tee,
                reported.snp,
                reported.microcode,
                reported
                    .fmc
                    .map(|f| format!(" fmc={f}"))
                    .unwrap_or_default()
            ),
            advisory_ids: Vec::new(),
            insecure_dev: false,
        })
    }
}

/// Report data and measurement of a report, **without verifying anything** (tests, tooling).
///
/// # Errors
/// [`crate::Error::Attestation`] if the bytes do not parse.
pub fn unverified_fields(report: &[u8]) -> Result<([u8; 64], Vec<u8>, String)> {
    let r = parse_report(report)?;
    Ok((
        r.report_data,
        r.measurement.to_vec(),
        encode_hex(&r.chip_id),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT_HEX: &str = include_str!("../../tests/fixtures/report_milan.hex");
    const VCEK: &[u8] = include_bytes!("../../tests/fixtures/vcek_milan.der");

    /// The sample report (signature verified) and a verifier whose policy it meets.
    fn sample() -> (AttestationReport, SnpVerifier) {
        let bytes = super::super::decode_hex(REPORT_HEX).unwrap();
        let rep = verify_signature(&bytes, VCEK).unwrap();
        let policy = Policy {
            allowed_measurements: vec![rep.measurement.to_vec()],
            min_snp_tcb: vcek_tcb(VCEK).unwrap(),
            ..Policy::default()
        };
        (rep, SnpVerifier::new(policy))
    }

    #[test]
    fn sample_meets_its_policy() {
        let (rep, v) = sample();
        assert_eq!(rep.vmpl, 0);
        v.check_claims(&rep, VCEK, &rep.report_data).unwrap();
    }

    #[test]
    fn report_requested_above_vmpl0_is_refused() {
        // A report requested from VMPL 1..3 comes from less privileged guest code (e.g. under an SVSM /
        // paravisor at VMPL 0 that the measurement does not describe).
        for vmpl in [1u32, 2, 3] {
            let (mut rep, v) = sample();
            rep.vmpl = vmpl;
            let e = v
                .check_claims(&rep, VCEK, &rep.report_data)
                .unwrap_err()
                .to_string();
            assert!(e.contains("VMPL"), "{e}");
        }
    }

    #[test]
    fn turin_fmc_svn_must_match_the_vcek() {
        // The Milan VCEK has no fmcSPL extension: a report that claims an FMC SVN (Turin layout) was not
        // signed by a key derived for that TCB.
        let (mut rep, v) = sample();
        rep.reported_tcb.fmc = Some(1);
        let e = v
            .check_claims(&rep, VCEK, &rep.report_data)
            .unwrap_err()
            .to_string();
        assert!(e.contains("fmc"), "{e}");
    }
}
