//! Verification of the recorded sample evidence shipped by `dcap-qvl` and `sev` (see fixtures/README.md):
//! accepted as recorded, rejected when modified, expired, of the wrong measurement or report data.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use privsplit_tee::attestation::{
    dcap, snp, Evidence, Policy, PolicyVerifier, SnpTcb, TeeKind, Verifier,
};

const NOW: u64 = 1_752_000_000;
const SGX_QUOTE: &[u8] = include_bytes!("fixtures/sgx_quote");
const SGX_COLL: &[u8] = include_bytes!("fixtures/sgx_quote_collateral.json");
const TDX_QUOTE: &[u8] = include_bytes!("fixtures/tdx_quote");
const TDX_COLL: &[u8] = include_bytes!("fixtures/tdx_quote_collateral.json");
const SNP_REPORT_HEX: &str = include_str!("fixtures/report_milan.hex");
const SNP_VCEK: &[u8] = include_bytes!("fixtures/vcek_milan.der");

fn dcap_evidence(quote: &[u8], coll: &[u8]) -> Evidence {
    Evidence::DcapQuote {
        quote: quote.to_vec(),
        collateral: Some(serde_json::from_slice(coll).unwrap()),
    }
}

fn policy_for(measurement: Vec<u8>, statuses: &[&str]) -> Policy {
    Policy {
        allowed_measurements: vec![measurement],
        accepted_tcb_statuses: statuses.iter().map(|s| s.to_string()).collect(),
        now_unix: Some(NOW),
        ..Policy::default()
    }
}

fn err_of(v: &PolicyVerifier, e: &Evidence, rd: &[u8; 64]) -> String {
    v.verify(e, rd).unwrap_err().to_string()
}

#[test]
fn sgx_sample_accepted_and_each_violation_rejected() {
    let (tee, rd, mr) = dcap::unverified_fields(SGX_QUOTE).unwrap();
    assert_eq!(tee, TeeKind::Sgx);
    assert_eq!(mr.len(), 32);
    let ev = dcap_evidence(SGX_QUOTE, SGX_COLL);
    let ok = PolicyVerifier::new(policy_for(
        mr.clone(),
        &["ConfigurationAndSWHardeningNeeded"],
    ));
    let c = ok.verify(&ev, &rd).unwrap();
    assert_eq!(c.tee, TeeKind::Sgx);
    assert_eq!(c.measurement, mr);
    assert_eq!(c.tcb_status, "ConfigurationAndSWHardeningNeeded");
    assert_eq!(c.advisory_ids, ["INTEL-SA-00289", "INTEL-SA-00615"]);
    assert!(!c.insecure_dev);

    // Default policy accepts only UpToDate.
    let strict = PolicyVerifier::new(policy_for(mr.clone(), &["UpToDate"]));
    assert!(err_of(&strict, &ev, &rd).contains("TCB below policy minimum"));
    // Wrong measurement.
    let wrong_mr = PolicyVerifier::new(policy_for(
        vec![0u8; 32],
        &["ConfigurationAndSWHardeningNeeded"],
    ));
    assert!(err_of(&wrong_mr, &ev, &rd).contains("measurement"));
    // Wrong report data.
    let mut rd2 = rd;
    rd2[0] ^= 1;
    assert!(err_of(&ok, &ev, &rd2).contains("report data"));
    // Expired: far in the future.
    let mut late = policy_for(mr.clone(), &["ConfigurationAndSWHardeningNeeded"]);
    late.now_unix = Some(2_000_000_000);
    assert!(err_of(&PolicyVerifier::new(late), &ev, &rd).contains("signature rejected"));
    // Modified quote (v3 layout): bytes of the signed enclave report (report data at 48 + 320), the
    // ECDSA signature (436..500), the attestation key (500..564), the QE report (564..948) and its
    // signature (948..1012). (The root certificate inside the quote is not used: dcap-qvl has Intel's.)
    for idx in [48 + 64, 48 + 320, 436 + 10, 500 + 3, 564 + 100, 948 + 5] {
        let mut q = SGX_QUOTE.to_vec();
        q[idx] ^= 0x01;
        let e = err_of(&ok, &dcap_evidence(&q, SGX_COLL), &rd);
        assert!(e.contains("attestation failure"), "byte {idx}: {e}");
    }
    // Modified collateral (a digit of the TCB info JSON body).
    let coll = String::from_utf8(SGX_COLL.to_vec()).unwrap();
    let pos = coll
        .find("\"tcbEvaluationDataNumber\\\":")
        .or_else(|| coll.find("isvsvn"))
        .unwrap();
    let mut bad = coll.into_bytes();
    let d = (pos..bad.len()).find(|&i| bad[i].is_ascii_digit()).unwrap();
    bad[d] = if bad[d] == b'9' { b'8' } else { bad[d] + 1 };
    assert!(err_of(&ok, &dcap_evidence(SGX_QUOTE, &bad), &rd).contains("signature rejected"));
    // Without any collateral.
    let no_coll = Evidence::DcapQuote {
        quote: SGX_QUOTE.to_vec(),
        collateral: None,
    };
    assert!(err_of(&ok, &no_coll, &rd).contains("collateral"));
}

#[test]
fn tdx_sample_accepted_up_to_date_and_rejections() {
    let (tee, rd, mr) = dcap::unverified_fields(TDX_QUOTE).unwrap();
    assert_eq!(tee, TeeKind::Tdx);
    assert_eq!(mr.len(), 48);
    let ev = dcap_evidence(TDX_QUOTE, TDX_COLL);
    let ok = PolicyVerifier::new(policy_for(mr.clone(), &["UpToDate"]));
    let c = ok.verify(&ev, &rd).unwrap();
    assert_eq!((c.tee, c.tcb_status.as_str()), (TeeKind::Tdx, "UpToDate"));
    assert_eq!(c.measurement, mr);
    let wrong = PolicyVerifier::new(policy_for(vec![1u8; 48], &["UpToDate"]));
    assert!(err_of(&wrong, &ev, &rd).contains("measurement"));
    assert!(err_of(&ok, &ev, &[0u8; 64]).contains("report data"));
    let mut q = TDX_QUOTE.to_vec();
    q[48 + 136] ^= 0x80; // inside MRTD
    assert!(err_of(&ok, &dcap_evidence(&q, TDX_COLL), &rd).contains("attestation failure"));
    let mut late = policy_for(mr, &["UpToDate"]);
    late.now_unix = Some(2_000_000_000);
    assert!(PolicyVerifier::new(late).verify(&ev, &rd).is_err());
    // Evidence survives the JSON it travels in.
    let json = serde_json::to_vec(&ev).unwrap();
    let back: Evidence = serde_json::from_slice(&json).unwrap();
    assert!(ok.verify(&back, &rd).is_ok());
}

fn snp_bytes() -> Vec<u8> {
    privsplit_tee::attestation::decode_hex(SNP_REPORT_HEX).unwrap()
}

#[test]
fn snp_sample_accepted_and_each_violation_rejected() {
    let report = snp_bytes();
    let (rd, mr, _chip) = snp::unverified_fields(&report).unwrap();
    let ev = Evidence::SevSnp {
        report: report.clone(),
        vcek_der: SNP_VCEK.to_vec(),
    };
    let mut p = policy_for(mr.clone(), &[]);
    p.allow_debug = false;
    let ok = PolicyVerifier::new(p.clone());
    let c = ok.verify(&ev, &rd).unwrap();
    assert_eq!(c.tee, TeeKind::SevSnp);
    assert_eq!(c.measurement, mr);
    // The VCEK's TCB extensions equal the report's REPORTED_TCB (checked independently here).
    let vt = snp::vcek_tcb(SNP_VCEK).unwrap();
    assert!(c.tcb_status.contains(&format!(
        "bl={} tee={} snp={} ucode={}",
        vt.bootloader, vt.tee, vt.snp, vt.microcode
    )));

    assert!(err_of(&ok, &ev, &[7u8; 64]).contains("report data"));
    let wrong = PolicyVerifier::new(policy_for(vec![0u8; 48], &[]));
    assert!(err_of(&wrong, &ev, &rd).contains("measurement"));
    let mut high = p.clone();
    high.min_snp_tcb = SnpTcb {
        snp: vt.snp.saturating_add(1),
        ..vt
    };
    assert!(err_of(&PolicyVerifier::new(high), &ev, &rd).contains("TCB"));
    // Modified report bytes (signed area) and a modified VCEK.
    for idx in [0x08usize, 0x50, 0x90, 0x1A0] {
        let mut r = report.clone();
        r[idx] ^= 0x01;
        let e = Evidence::SevSnp {
            report: r,
            vcek_der: SNP_VCEK.to_vec(),
        };
        assert!(ok.verify(&e, &rd).is_err(), "byte {idx:#x} accepted");
    }
    let mut v = SNP_VCEK.to_vec();
    v[40] ^= 0xff;
    let e = Evidence::SevSnp {
        report,
        vcek_der: v,
    };
    assert!(ok.verify(&e, &rd).is_err());
}
