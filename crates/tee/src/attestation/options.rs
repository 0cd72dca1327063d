//! A client's verification [`Policy`] from the values a person types: hex measurements and registers,
//! `INDEX=HEX` RTMRs, an SEV-SNP TCB string, a DCAP collateral file. With the `clap` feature these are the
//! flags of `privsplit infer`.

use std::path::PathBuf;

use super::{decode_hex, Policy, SnpTcb};
use crate::error::{Error, Result};

/// The settings of a verification policy as text (command-line flags); [`PolicyOptions::policy`] checks
/// them and builds the [`Policy`].
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct PolicyOptions {
    /// Accept insecure development evidence (a server without a TEE): NO SECURITY.
    #[cfg_attr(feature = "clap", arg(long))]
    pub allow_insecure_dev: bool,
    /// Allowed measurement (hex MRENCLAVE / MRTD / SNP MEASUREMENT); repeatable.
    #[cfg_attr(feature = "clap", arg(long = "measurement"))]
    pub measurements: Vec<String>,
    /// Accepted DCAP TCB status (default UpToDate); repeatable.
    #[cfg_attr(feature = "clap", arg(long = "accept-tcb"))]
    pub tcb: Vec<String>,
    /// DCAP collateral (JSON) from your own PCCS: used for every quote; collateral the server sends is
    /// then ignored.
    #[cfg_attr(feature = "clap", arg(long))]
    pub collateral: Option<PathBuf>,
    /// Minimum DCAP TCB evaluation data number (Intel TCB recovery counter); older collateral is refused.
    #[cfg_attr(feature = "clap", arg(long))]
    pub min_tcb_eval_number: Option<u32>,
    /// TDX: expected RTMR, `INDEX=HEX` (INDEX 0-3, 48-byte hex); repeatable. Without any, TDX evidence is
    /// refused unless --allow-unpinned-rtmrs.
    #[cfg_attr(feature = "clap", arg(long = "rtmr"))]
    pub rtmrs: Vec<String>,
    /// TDX: expected MRCONFIGID (48-byte hex).
    #[cfg_attr(feature = "clap", arg(long))]
    pub mr_config_id: Option<String>,
    /// TDX: expected MROWNER (48-byte hex).
    #[cfg_attr(feature = "clap", arg(long))]
    pub mr_owner: Option<String>,
    /// TDX: expected MROWNERCONFIG (48-byte hex).
    #[cfg_attr(feature = "clap", arg(long))]
    pub mr_owner_config: Option<String>,
    /// TDX: expected TD_ATTRIBUTES (8-byte hex, report byte order).
    #[cfg_attr(feature = "clap", arg(long))]
    pub td_attributes: Option<String>,
    /// TDX: expected XFAM (8-byte hex, report byte order).
    #[cfg_attr(feature = "clap", arg(long))]
    pub xfam: Option<String>,
    /// TDX: accept evidence with no RTMR pinned (MRTD then covers the firmware only, not the OS).
    #[cfg_attr(feature = "clap", arg(long))]
    pub allow_unpinned_rtmrs: bool,
    /// SEV-SNP: minimum reported TCB, `bl=N,tee=N,snp=N,ucode=N[,fmc=N]` (decimal SVNs of current AMD
    /// firmware). Without it SEV-SNP evidence is refused unless --allow-any-snp-tcb.
    #[cfg_attr(feature = "clap", arg(long))]
    pub min_snp_tcb: Option<String>,
    /// SEV-SNP: accept any reported TCB (no minimum).
    #[cfg_attr(feature = "clap", arg(long))]
    pub allow_any_snp_tcb: bool,
    /// DCAP: refuse platforms whose PCK certificate says dynamic platform, cached keys or SMT enabled.
    #[cfg_attr(feature = "clap", arg(long))]
    pub dcap_strict_platform: bool,
}

fn hex_flag(flag: &'static str, v: &str) -> Result<Vec<u8>> {
    decode_hex(v).map_err(|reason| Error::Config {
        what: flag,
        reason: format!("{v}: {reason}"),
    })
}

impl PolicyOptions {
    /// The policy these settings describe, starting from [`Policy::default`].
    ///
    /// # Errors
    /// [`Error::Config`] naming the flag of a value that is not hex, an RTMR that is not `INDEX=HEX` with
    /// INDEX 0 to 3, or an SEV-SNP TCB that does not parse; [`Error::Io`] / [`Error::Json`] when the
    /// collateral file cannot be read or parsed.
    pub fn policy(&self) -> Result<Policy> {
        let mut p = Policy {
            allow_insecure_dev: self.allow_insecure_dev,
            ..Policy::default()
        };
        for m in &self.measurements {
            p.allowed_measurements.push(hex_flag("--measurement", m)?);
        }
        if !self.tcb.is_empty() {
            p.accepted_tcb_statuses.clone_from(&self.tcb);
        }
        for r in &self.rtmrs {
            let bad = |reason: &str| Error::Config {
                what: "--rtmr",
                reason: format!("{r}: {reason}"),
            };
            let (i, v) = r.split_once('=').ok_or_else(|| bad("expected INDEX=HEX"))?;
            let i: usize = i
                .trim()
                .parse()
                .ok()
                .filter(|i| *i < 4)
                .ok_or_else(|| bad("INDEX must be 0, 1, 2 or 3"))?;
            p.tdx.rtmr[i] = Some(hex_flag("--rtmr", v)?);
        }
        let t = &mut p.tdx;
        for (flag, v, slot) in [
            ("--mr-config-id", &self.mr_config_id, &mut t.mr_config_id),
            ("--mr-owner", &self.mr_owner, &mut t.mr_owner),
            (
                "--mr-owner-config",
                &self.mr_owner_config,
                &mut t.mr_owner_config,
            ),
            ("--td-attributes", &self.td_attributes, &mut t.td_attributes),
            ("--xfam", &self.xfam, &mut t.xfam),
        ] {
            if let Some(v) = v {
                *slot = Some(hex_flag(flag, v)?);
            }
        }
        t.allow_unpinned_rtmrs = self.allow_unpinned_rtmrs;
        if let Some(m) = &self.min_snp_tcb {
            p.min_snp_tcb = SnpTcb::parse(m).map_err(|e| Error::Config {
                what: "--min-snp-tcb",
                reason: e.to_string(),
            })?;
        }
        p.allow_any_snp_tcb = self.allow_any_snp_tcb;
        p.min_tcb_eval_data_number = self.min_tcb_eval_number;
        p.dcap_allow_platform_flags = !self.dcap_strict_platform;
        if let Some(path) = &self.collateral {
            let b = std::fs::read(path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            p.dcap_collateral = Some(serde_json::from_slice(&b).map_err(|source| Error::Json {
                what: "the DCAP collateral",
                source,
            })?);
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_policy_and_names_the_bad_flag() {
        let o = PolicyOptions {
            measurements: vec!["00ff".into()],
            rtmrs: vec![format!("2={}", "ab".repeat(48))],
            xfam: Some("0102030405060708".into()),
            dcap_strict_platform: true,
            ..PolicyOptions::default()
        };
        let p = o.policy().expect("policy");
        assert_eq!(p.allowed_measurements, vec![vec![0u8, 255]]);
        assert_eq!(p.tdx.rtmr[2], Some(vec![0xab; 48]));
        assert_eq!(p.tdx.xfam, Some(vec![1, 2, 3, 4, 5, 6, 7, 8]));
        assert!(!p.dcap_allow_platform_flags && !p.allow_insecure_dev);
        for (o, flag) in [
            (
                PolicyOptions {
                    rtmrs: vec!["4=00".into()],
                    ..PolicyOptions::default()
                },
                "--rtmr",
            ),
            (
                PolicyOptions {
                    mr_owner: Some("xyz".into()),
                    ..PolicyOptions::default()
                },
                "--mr-owner",
            ),
            (
                PolicyOptions {
                    min_snp_tcb: Some("bl=x".into()),
                    ..PolicyOptions::default()
                },
                "--min-snp-tcb",
            ),
        ] {
            let e = o.policy().expect_err(flag).to_string();
            assert!(e.contains(flag), "{flag}: {e}");
        }
    }
}
