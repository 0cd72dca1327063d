//! Intel SGX / TDX DCAP quote verification with `dcap-qvl` (pure Rust, RustCrypto backend, offline).
//!
//! `dcap-qvl` checks the quote's ECDSA-P256 signature by the QE attestation key, the QE report, the PCK
//! certificate chain up to Intel's built-in SGX root CA, CRLs, and the TCB info / QE identity collateral
//! signatures and validity at `now` (Intel, *SGX ECDSA Quote Library API*, and *TDX DCAP Quoting Library
//! API*, quote formats v3/v4). This module adds the policy: report data binding, debug attribute
//! (SGX `ATTRIBUTES.DEBUG`, bit 1; TDX `TD_ATTRIBUTES.DEBUG`, bit 0), measurement (MRENCLAVE / MRTD)
//! and accepted TCB statuses.

use dcap_qvl::quote::Report;
use dcap_qvl::verify::QuoteVerifier;

use super::{check_report_data, Claims, Evidence, Policy, TeeKind, Verifier};
use crate::error::{attest, AttestReason, Result};

/// Verifier of [`Evidence::DcapQuote`].
#[derive(Debug, Clone)]
pub struct DcapVerifier {
    policy: Policy,
}

impl DcapVerifier {
    /// A verifier applying `policy`.
    pub fn new(policy: Policy) -> Self {
        Self { policy }
    }
}

impl Verifier for DcapVerifier {
    fn verify(&self, evidence: &Evidence, expected: &[u8; 64]) -> Result<Claims> {
        let Evidence::DcapQuote { quote, collateral } = evidence else {
            return Err(attest(AttestReason::Parse(
                "DCAP verifier given non-DCAP evidence".into(),
            )));
        };
        let collateral = collateral
            .as_deref()
            .or(self.policy.dcap_collateral.as_ref())
            .ok_or_else(|| {
                attest(AttestReason::Policy(
                    "no DCAP collateral in the evidence or the verifier configuration".into(),
                ))
            })?;
        let verified = QuoteVerifier::new_prod()
            .with_config::<dcap_qvl::configs::RustCryptoConfig>()
            .allow_debug(self.policy.allow_debug)
            .verify(quote, collateral, self.policy.now())
            .map_err(|e| attest(AttestReason::Signature(format!("{e:#}"))))?;
        let (tee, report_data, measurement, debug) = match &verified.report {
            Report::SgxEnclave(r) => (
                TeeKind::Sgx,
                r.report_data,
                r.mr_enclave.to_vec(),
                r.attributes[0] & 0x02 != 0,
            ),
            other => {
                let td = other.as_td10().ok_or_else(|| {
                    attest(AttestReason::Parse(
                        "quote body is neither SGX nor TDX".into(),
                    ))
                })?;
                (
                    TeeKind::Tdx,
                    td.report_data,
                    td.mr_td.to_vec(),
                    td.td_attributes[0] & 0x01 != 0,
                )
            }
        };
        check_report_data(&report_data, expected)?;
        if debug && !self.policy.allow_debug {
            return Err(attest(AttestReason::Debug));
        }
        self.policy.check_measurement(&measurement)?;
        if !self.policy.accepted_tcb_statuses.contains(&verified.status) {
            return Err(attest(AttestReason::Tcb(format!(
                "status {} (advisories {:?}) not in accepted {:?}",
                verified.status, verified.advisory_ids, self.policy.accepted_tcb_statuses
            ))));
        }
        Ok(Claims {
            tee,
            measurement,
            tcb_status: verified.status.clone(),
            advisory_ids: verified.advisory_ids.clone(),
            insecure_dev: false,
        })
    }
}

/// Report data, measurement and TEE kind of a quote, **without verifying anything** (for tooling and
/// tests that need to know what a recorded quote claims).
///
/// # Errors
/// [`crate::Error::Attestation`] if the quote does not parse.
pub fn unverified_fields(quote: &[u8]) -> Result<(TeeKind, [u8; 64], Vec<u8>)> {
    let q = dcap_qvl::quote::Quote::parse(quote)
        .map_err(|e| attest(AttestReason::Parse(format!("{e:#}"))))?;
    Ok(match &q.report {
        Report::SgxEnclave(r) => (TeeKind::Sgx, r.report_data, r.mr_enclave.to_vec()),
        other => {
            let td = other
                .as_td10()
                .ok_or_else(|| attest(AttestReason::Parse("unknown quote body".into())))?;
            (TeeKind::Tdx, td.report_data, td.mr_td.to_vec())
        }
    })
}
