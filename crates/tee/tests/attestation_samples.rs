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
    let ok = PolicyVerifier::new(tdx_pinned_policy());
    let c = ok.verify(&ev, &rd).unwrap();
    assert_eq!((c.tee, c.tcb_status.as_str()), (TeeKind::Tdx, "UpToDate"));
    assert_eq!(c.measurement, mr);
    let wrong = PolicyVerifier::new(policy_for(vec![1u8; 48], &["UpToDate"]));
    assert!(err_of(&wrong, &ev, &rd).contains("measurement"));
    assert!(err_of(&ok, &ev, &[0u8; 64]).contains("report data"));
    let mut q = TDX_QUOTE.to_vec();
    q[48 + 136] ^= 0x80; // inside MRTD
    assert!(err_of(&ok, &dcap_evidence(&q, TDX_COLL), &rd).contains("attestation failure"));
    let mut late = tdx_pinned_policy();
    late.now_unix = Some(2_000_000_000);
    assert!(PolicyVerifier::new(late).verify(&ev, &rd).is_err());
    // Evidence survives the JSON it travels in.
    let json = serde_json::to_vec(&ev).unwrap();
    let back: Evidence = serde_json::from_slice(&json).unwrap();
    assert!(ok.verify(&back, &rd).is_ok());
}

/// Offsets in a TDX v4 quote: 48-byte header, then the TD report body (`TDREPORT` layout: TEE_TCB_SVN 16,
/// MRSEAM 48, MRSIGNERSEAM 48, SEAMATTRIBUTES 8, TDATTRIBUTES 8, XFAM 8, MRTD 48, MRCONFIGID 48, MROWNER 48,
/// MROWNERCONFIG 48, RTMR0-3 48 each, REPORTDATA 64). Read from the bytes here, independently of dcap-qvl.
const TD: usize = 48;
const TD_FIELDS: [(&str, usize, usize); 9] = [
    ("TD attributes", TD + 120, 8),
    ("XFAM", TD + 128, 8),
    ("MRCONFIGID", TD + 184, 48),
    ("MROWNER", TD + 232, 48),
    ("MROWNERCONFIG", TD + 280, 48),
    ("RTMR0", TD + 328, 48),
    ("RTMR1", TD + 376, 48),
    ("RTMR2", TD + 424, 48),
    ("RTMR3", TD + 472, 48),
];

fn td_field(i: usize) -> Vec<u8> {
    let (_, off, len) = TD_FIELDS[i];
    TDX_QUOTE[off..off + len].to_vec()
}

fn set_td_field(p: &mut Policy, i: usize, v: Vec<u8>) {
    match i {
        0 => p.tdx.td_attributes = Some(v),
        1 => p.tdx.xfam = Some(v),
        2 => p.tdx.mr_config_id = Some(v),
        3 => p.tdx.mr_owner = Some(v),
        4 => p.tdx.mr_owner_config = Some(v),
        r => p.tdx.rtmr[r - 5] = Some(v),
    }
}

/// The sample TD pinned completely: MRTD, RTMR0-3, MRCONFIGID, MROWNER, MROWNERCONFIG, attributes, XFAM.
fn tdx_pinned_policy() -> Policy {
    let mrtd = TDX_QUOTE[TD + 136..TD + 184].to_vec();
    let mut p = policy_for(mrtd, &["UpToDate"]);
    for i in 0..TD_FIELDS.len() {
        set_td_field(&mut p, i, td_field(i));
    }
    p
}

#[test]
fn tdx_mrtd_alone_is_refused_unless_unpinned_rtmrs_are_allowed() {
    let (_, rd, mr) = dcap::unverified_fields(TDX_QUOTE).unwrap();
    assert_eq!(mr, TDX_QUOTE[TD + 136..TD + 184].to_vec());
    let ev = dcap_evidence(TDX_QUOTE, TDX_COLL);
    // MRTD covers the firmware only: any kernel / initrd / service would pass this policy.
    let mrtd_only = policy_for(mr.clone(), &["UpToDate"]);
    let e = err_of(&PolicyVerifier::new(mrtd_only.clone()), &ev, &rd);
    assert!(e.contains("RTMR"), "{e}");
    let mut opted_in = mrtd_only;
    opted_in.tdx.allow_unpinned_rtmrs = true;
    PolicyVerifier::new(opted_in).verify(&ev, &rd).unwrap();
    // One pinned RTMR is enough to leave the "firmware only" case.
    let mut one = policy_for(mr, &["UpToDate"]);
    one.tdx.rtmr[1] = Some(td_field(6));
    PolicyVerifier::new(one).verify(&ev, &rd).unwrap();
}

#[test]
fn tdx_policy_checks_every_pinned_register() {
    let (_, rd, _) = dcap::unverified_fields(TDX_QUOTE).unwrap();
    let ev = dcap_evidence(TDX_QUOTE, TDX_COLL);
    PolicyVerifier::new(tdx_pinned_policy())
        .verify(&ev, &rd)
        .unwrap();
    for (i, (name, _, _)) in TD_FIELDS.iter().enumerate() {
        let mut p = tdx_pinned_policy();
        let mut v = td_field(i);
        let last = v.len() - 1;
        v[last] ^= 0x01;
        set_td_field(&mut p, i, v);
        let e = err_of(&PolicyVerifier::new(p), &ev, &rd);
        assert!(e.contains(name), "{name}: {e}");
        // A pinned value of the wrong length is a policy error, not a silent mismatch.
        let mut p = tdx_pinned_policy();
        set_td_field(&mut p, i, vec![0u8; 3]);
        assert!(PolicyVerifier::new(p).verify(&ev, &rd).is_err(), "{name}");
    }
}

fn tampered_collateral(coll: &[u8]) -> Vec<u8> {
    let coll = String::from_utf8(coll.to_vec()).unwrap();
    let pos = coll.find("isvsvn").unwrap();
    let mut bad = coll.into_bytes();
    let d = (pos..bad.len()).find(|&i| bad[i].is_ascii_digit()).unwrap();
    bad[d] = if bad[d] == b'9' { b'8' } else { bad[d] + 1 };
    bad
}

#[test]
fn dcap_client_collateral_is_preferred_over_the_servers() {
    let (_, rd, mr) = dcap::unverified_fields(SGX_QUOTE).unwrap();
    let statuses = ["ConfigurationAndSWHardeningNeeded"];
    // The server sends collateral that does not verify (it could as well be old, validly signed
    // collateral from before a TCB recovery) ...
    let ev = dcap_evidence(SGX_QUOTE, &tampered_collateral(SGX_COLL));
    let mut p = policy_for(mr, &statuses);
    assert!(err_of(&PolicyVerifier::new(p.clone()), &ev, &rd).contains("signature rejected"));
    // ... but the client has its own, and that is the collateral used.
    p.dcap_collateral = Some(serde_json::from_slice(SGX_COLL).unwrap());
    let c = PolicyVerifier::new(p).verify(&ev, &rd).unwrap();
    assert_eq!(c.tcb_status, statuses[0]);
}

/// The lower of the TCB info's and the QE identity's `tcbEvaluationDataNumber`, read from the JSON.
fn eval_number(coll: &[u8]) -> u32 {
    let c: serde_json::Value = serde_json::from_slice(coll).unwrap();
    let n = |k: &str| {
        let inner: serde_json::Value = serde_json::from_str(c[k].as_str().unwrap()).unwrap();
        inner["tcbEvaluationDataNumber"].as_u64().unwrap() as u32
    };
    n("tcb_info").min(n("qe_identity"))
}

#[test]
fn dcap_minimum_tcb_evaluation_data_number_is_enforced() {
    let (_, rd, _) = dcap::unverified_fields(TDX_QUOTE).unwrap();
    let ev = dcap_evidence(TDX_QUOTE, TDX_COLL);
    let n = eval_number(TDX_COLL);
    assert_eq!(n, 17);
    let mut p = tdx_pinned_policy();
    p.min_tcb_eval_data_number = Some(n);
    PolicyVerifier::new(p.clone()).verify(&ev, &rd).unwrap();
    p.min_tcb_eval_data_number = Some(n + 1);
    let e = err_of(&PolicyVerifier::new(p), &ev, &rd);
    assert!(e.contains("eval data number"), "{e}");
    // The sample's PCK certificate marks a dynamic platform: refused under the strict platform policy.
    let mut strict = tdx_pinned_policy();
    strict.dcap_allow_platform_flags = false;
    let e = err_of(&PolicyVerifier::new(strict), &ev, &rd);
    assert!(e.contains("Dynamic platform"), "{e}");
    // The same holds for SGX.
    let (_, rd, mr) = dcap::unverified_fields(SGX_QUOTE).unwrap();
    let mut p = policy_for(mr, &["ConfigurationAndSWHardeningNeeded"]);
    p.min_tcb_eval_data_number = Some(eval_number(SGX_COLL) + 1);
    let e = err_of(
        &PolicyVerifier::new(p),
        &dcap_evidence(SGX_QUOTE, SGX_COLL),
        &rd,
    );
    assert!(e.contains("eval data number"), "{e}");
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
    p.min_snp_tcb = snp::vcek_tcb(SNP_VCEK).unwrap();
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
    let wrong = PolicyVerifier::new(Policy {
        allowed_measurements: vec![vec![0u8; 48]],
        ..p.clone()
    });
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

#[test]
fn snp_zero_minimum_tcb_is_refused_unless_allowed() {
    let report = snp_bytes();
    let (rd, mr, _) = snp::unverified_fields(&report).unwrap();
    let ev = Evidence::SevSnp {
        report,
        vcek_der: SNP_VCEK.to_vec(),
    };
    let zero = policy_for(mr, &[]);
    assert_eq!(zero.min_snp_tcb, SnpTcb::default());
    let e = err_of(&PolicyVerifier::new(zero.clone()), &ev, &rd);
    assert!(e.contains("min-snp-tcb"), "{e}");
    let mut any = zero.clone();
    any.allow_any_snp_tcb = true;
    PolicyVerifier::new(any).verify(&ev, &rd).unwrap();
    let mut set = zero;
    set.min_snp_tcb = SnpTcb::parse("bl=3,tee=0,snp=8,ucode=115").unwrap();
    PolicyVerifier::new(set).verify(&ev, &rd).unwrap();
}

#[test]
fn vcek_tcb_is_read_from_the_certificate_structure() {
    let real = snp::vcek_tcb(SNP_VCEK).unwrap();
    // The sample VCEK's TCB, read with openssl x509 -text: blSPL 3, teeSPL 0, snpSPL 8, ucodeSPL 115.
    assert_eq!(
        (
            real.bootloader,
            real.tee,
            real.snp,
            real.microcode,
            real.fmc
        ),
        (3, 0, 8, 115, None)
    );
    // Plant the DER of a fake blSPL extension (OID 1.3.6.1.4.1.3704.1.3.1, OCTET STRING { INTEGER 99 })
    // inside the issuer's organisation name, which comes before the extensions. A byte search finds it;
    // a certificate parser reads only the extensions.
    let fake = [
        0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x9c, 0x78, 0x01, 0x03, 0x01, 0x04, 0x03, 0x02,
        0x01, 0x63,
    ];
    let org = b"Advanced Micro Devices";
    let pos = SNP_VCEK.windows(org.len()).position(|w| w == org).unwrap();
    let mut v = SNP_VCEK.to_vec();
    v[pos..pos + fake.len()].copy_from_slice(&fake);
    let got = snp::vcek_tcb(&v);
    assert!(got.is_none() || got == Some(real), "{got:?}");
    // Not a certificate at all.
    assert_eq!(snp::vcek_tcb(&fake), None);
}

#[test]
fn snp_tcb_parse_and_order() {
    let t = SnpTcb::parse("ucode=115, bl=3,tee=0,snp=8").unwrap();
    assert_eq!(
        t,
        SnpTcb {
            bootloader: 3,
            tee: 0,
            snp: 8,
            microcode: 115,
            fmc: None
        }
    );
    assert!(SnpTcb::parse("bl=3,tee=0,snp=8").is_err());
    assert!(SnpTcb::parse("bl=3,tee=0,snp=8,ucode=300").is_err());
    assert!(SnpTcb::parse("bl=3,tee=0,snp=8,ucode=1,xyz=1").is_err());
    let turin = SnpTcb { fmc: Some(2), ..t };
    assert!(turin.at_least(&t));
    assert!(
        !t.at_least(&turin),
        "a minimum FMC SVN needs an FMC component"
    );
    assert!(!turin.at_least(&SnpTcb { fmc: Some(3), ..t }));
    assert!(SnpTcb::default().is_zero() && !t.is_zero());
}
