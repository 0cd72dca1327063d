//! Intel SGX / TDX DCAP quote verification with `dcap-qvl` (pure Rust, RustCrypto backend, offline).
//!
//! `dcap-qvl` checks the quote's ECDSA-P256 signature by the QE attestation key, the QE report, the PCK
//! certificate chain up to Intel's built-in SGX root CA, CRLs, and the TCB info / QE identity collateral
//! signatures and validity at `now` (Intel, *SGX ECDSA Quote Library API*, and *TDX DCAP Quoting Library
//! API*, quote formats v3/v4). The appraisal goes through dcap-qvl's policy API
//! ([`dcap_qvl::QuotePolicy`]): accepted TCB statuses, collateral not expired at the policy's time, a
//! minimum TCB evaluation data number ([`Policy::min_tcb_eval_data_number`]), PCK platform flags. The
//! verifier's own collateral ([`Policy::dcap_collateral`]) is preferred over what the server sends. This
//! module adds: report data binding, debug attribute (SGX `ATTRIBUTES.DEBUG`, bit 1; TDX
//! `TD_ATTRIBUTES.DEBUG`, bit 0), measurement (MRENCLAVE / MRTD), and for TDX the [`super::TdxPolicy`]:
//! RTMR0-3, MRCONFIGID, MROWNER, MROWNERCONFIG, TD attributes and XFAM, with evidence refused when no
//! RTMR is pinned unless explicitly allowed.

use dcap_qvl::policy::Policy as _;
use dcap_qvl::quote::{Report, TDReport10};
use dcap_qvl::tcb_info::TcbStatus;
use dcap_qvl::verify::QuoteVerifier;
use dcap_qvl::QuotePolicy;

use super::{check_report_data, encode_hex, Claims, Evidence, Policy, TeeKind, Verifier};
use crate::error::{attest, AttestReason, Result};

/// A TD report register: its name, the value in the report, the value the policy pins (if any).
type PinnedRegister<'a> = (&'static str, &'a [u8], &'a Option<Vec<u8>>);

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

impl DcapVerifier {
    /// dcap-qvl's appraisal policy for this [`Policy`]: the accepted TCB statuses, collateral not expired at
    /// the policy's time, the minimum TCB evaluation data number, the PCK platform flags
    /// ([`Policy::dcap_allow_platform_flags`]), and no grace period for out-of-date TCBs.
    fn quote_policy(&self, now: u64) -> Result<QuotePolicy> {
        let mut qp = QuotePolicy::strict(now);
        for s in &self.policy.accepted_tcb_statuses {
            let status: TcbStatus = serde_json::from_value(serde_json::Value::String(s.clone()))
                .map_err(|_| {
                    attest(AttestReason::Policy(format!(
                        "unknown DCAP TCB status {s:?} in the policy (expected UpToDate, SWHardeningNeeded, \
                         ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, OutOfDate, ...)"
                    )))
                })?;
            qp = qp.allow_status(status);
        }
        if let Some(n) = self.policy.min_tcb_eval_data_number {
            qp = qp.min_tcb_eval_data_number(n);
        }
        let flags = self.policy.dcap_allow_platform_flags;
        Ok(qp
            .allow_dynamic_platform(flags)
            .allow_cached_keys(flags)
            .allow_smt(flags))
    }

    /// The TDX policy beyond MRTD: every pinned register equal, and at least one RTMR pinned unless allowed.
    fn check_td(&self, td: &TDReport10) -> Result<()> {
        let t = &self.policy.tdx;
        let pinned: [PinnedRegister<'_>; 9] = [
            ("RTMR0", &td.rt_mr0, &t.rtmr[0]),
            ("RTMR1", &td.rt_mr1, &t.rtmr[1]),
            ("RTMR2", &td.rt_mr2, &t.rtmr[2]),
            ("RTMR3", &td.rt_mr3, &t.rtmr[3]),
            ("MRCONFIGID", &td.mr_config_id, &t.mr_config_id),
            ("MROWNERCONFIG", &td.mr_owner_config, &t.mr_owner_config),
            ("MROWNER", &td.mr_owner, &t.mr_owner),
            ("TD attributes", &td.td_attributes, &t.td_attributes),
            ("XFAM", &td.xfam, &t.xfam),
        ];
        for (name, got, want) in pinned {
            let Some(want) = want else { continue };
            if want.len() != got.len() {
                return Err(attest(AttestReason::Policy(format!(
                    "pinned {name} has {} bytes, a TD report's has {}",
                    want.len(),
                    got.len()
                ))));
            }
            if want.as_slice() != got {
                return Err(attest(AttestReason::Register {
                    name,
                    expected: encode_hex(want),
                    got: encode_hex(got),
                }));
            }
        }
        if t.rtmr.iter().all(Option::is_none)
            && !t.allow_unpinned_rtmrs
            && !self.policy.allow_any_measurement
        {
            return Err(attest(AttestReason::Policy(
                "no RTMR is pinned: MRTD covers only the TD firmware, not the kernel, initrd, command line \
                 or service measured into RTMR0-3; pin them (--rtmr I=HEX) or accept any OS explicitly \
                 (--allow-unpinned-rtmrs)"
                    .into(),
            )));
        }
        Ok(())
    }
}

impl Verifier for DcapVerifier {
    fn verify(&self, evidence: &Evidence, expected: &[u8; 64]) -> Result<Claims> {
        let Evidence::DcapQuote { quote, collateral } = evidence else {
            return Err(attest(AttestReason::Parse(
                "DCAP verifier given non-DCAP evidence".into(),
            )));
        };
        // The verifier's own collateral first: the server picks what it sends.
        let collateral = self
            .policy
            .dcap_collateral
            .as_ref()
            .or(collateral.as_deref())
            .ok_or_else(|| {
                attest(AttestReason::Policy(
                    "no DCAP collateral in the verifier configuration or the evidence".into(),
                ))
            })?;
        let now = self.policy.now();
        let qp = self.quote_policy(now)?;
        // Signatures, certificate chains, CRLs and collateral validity at `now` (dcap-qvl's verification),
        // then the appraisal policy on the resulting claims, kept apart so that the error says which failed.
        let claims = QuoteVerifier::new_prod()
            .with_config::<dcap_qvl::configs::RustCryptoConfig>()
            .allow_debug(self.policy.allow_debug)
            .verify_with_policy(quote, collateral, now, &QuotePolicy::claims_only(now))
            .map_err(|e| attest(AttestReason::Signature(format!("{e:#}"))))?;
        let status = claims.tcb.status.to_string();
        qp.validate(&claims).map_err(|e| {
            attest(AttestReason::Tcb(format!(
                "{e:#} (status {status}, advisories {:?}, accepted {:?})",
                claims.tcb.advisory_ids, self.policy.accepted_tcb_statuses
            )))
        })?;
        let (tee, report_data, measurement, debug) = match &claims.report {
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
        if let Some(td) = claims.report.as_td10() {
            self.check_td(td)?;
        }
        if !self.policy.accepted_tcb_statuses.contains(&status) {
            return Err(attest(AttestReason::Tcb(format!(
                "status {status} (advisories {:?}) not in accepted {:?}",
                claims.tcb.advisory_ids, self.policy.accepted_tcb_statuses
            ))));
        }
        Ok(Claims {
            tee,
            measurement,
            tcb_status: status,
            advisory_ids: claims.tcb.advisory_ids.clone(),
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
