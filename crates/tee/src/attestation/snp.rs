//! AMD SEV-SNP attestation report verification with `sev` (pure-Rust crypto).
//!
//! Chain: AMD Root Key (ARK, built into `sev` for Milan, Genoa and Turin) -> AMD SEV Key (ASK) ->
//! VCEK (shipped with the evidence) -> ECDSA-P384 signature over the report (AMD, *SEV Secure Nested
//! Paging Firmware ABI Specification* 56860, §7.3 "ATTESTATION_REPORT structure", Table 22). `sev` checks
//! signatures only; this module also checks what it leaves to the caller: that the report's
//! `REPORTED_TCB` equals the TCB the VCEK was issued for (VCEK X.509 extensions blSPL / teeSPL / snpSPL /
//! ucodeSPL, OIDs 1.3.6.1.4.1.3704.1.3.{1,2,3,8}; AMD 57230 *VCEK Certificate and KDS Interface
//! Specification* §3) and that the report's CHIP_ID equals the VCEK's hwID (1.3.6.1.4.1.3704.1.4);
//! then the policy: report data, `POLICY.DEBUG` (bit 19), MEASUREMENT, minimum TCB.
//! Certificate validity dates and revocation (AMD KDS CRL) are not checked.

use sev::certs::snp::{builtin, ca, Certificate, Chain, Verifiable};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;

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

const AMD_OID_PREFIX: [u8; 7] = [0x2B, 0x06, 0x01, 0x04, 0x01, 0x9C, 0x78];

/// Finds the DER OID `1.3.6.1.4.1.3704.1.<tail>` in a certificate and returns the extension value
/// (the contents of the OCTET STRING that follows, skipping an optional `critical` BOOLEAN).
fn amd_extension<'a>(der: &'a [u8], tail: &[u8]) -> Option<&'a [u8]> {
    let mut oid = vec![0x06, (AMD_OID_PREFIX.len() + 1 + tail.len()) as u8];
    oid.extend_from_slice(&AMD_OID_PREFIX);
    oid.push(0x01);
    oid.extend_from_slice(tail);
    let pos = der.windows(oid.len()).position(|w| w == oid.as_slice())?;
    let mut rest = der.get(pos + oid.len()..)?;
    if rest.first() == Some(&0x01) {
        rest = rest.get(3..)?;
    }
    if rest.first() != Some(&0x04) {
        return None;
    }
    let len = *rest.get(1)? as usize;
    if len >= 0x80 {
        return None;
    }
    rest.get(2..2 + len)
}

/// Value of a small INTEGER extension (`02 len bytes`), at most 255.
fn spl(der: &[u8], tail: &[u8]) -> Option<u8> {
    let v = amd_extension(der, tail)?;
    if v.first() != Some(&0x02) {
        return None;
    }
    let len = *v.get(1)? as usize;
    let bytes = v.get(2..2 + len)?;
    let mut x: u64 = 0;
    for &b in bytes {
        x = (x << 8) | u64::from(b);
    }
    u8::try_from(x).ok()
}

/// The TCB a VCEK certificate (DER) was issued for, from its AMD extensions.
pub fn vcek_tcb(der: &[u8]) -> Option<SnpTcb> {
    Some(SnpTcb {
        bootloader: spl(der, &[3, 1])?,
        tee: spl(der, &[3, 2])?,
        snp: spl(der, &[3, 3])?,
        microcode: spl(der, &[3, 8])?,
        fmc: None,
    })
}

/// The hwID (chip id) a VCEK certificate (DER) was issued for.
pub fn vcek_hwid(der: &[u8]) -> Option<&[u8]> {
    let v = amd_extension(der, &[4])?;
    // Some KDS versions wrap the value in a nested OCTET STRING.
    if v.len() >= 2 && v[0] == 0x04 && v[1] as usize == v.len() - 2 {
        Some(&v[2..])
    } else {
        Some(v)
    }
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
        let reported = SnpTcb {
            bootloader: rep.reported_tcb.bootloader,
            tee: rep.reported_tcb.tee,
            snp: rep.reported_tcb.snp,
            microcode: rep.reported_tcb.microcode,
            fmc: None,
        };
        match vcek_tcb(vcek_der) {
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
            match vcek_hwid(vcek_der) {
                Some(h) if !h.is_empty() && rep.chip_id.starts_with(h) => {}
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
                "snp-reported-tcb bl={} tee={} snp={} ucode={}",
                reported.bootloader, reported.tee, reported.snp, reported.microcode
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
