//! Enclave cost model of a partition point: the peak resident memory of the trusted partition `[0, k)` and
//! an estimate of its latency inside a trusted execution environment, from the latency measured on this
//! machine's CPU and published overheads.
//!
//! **Memory** (bytes, f32 = 4 bytes), at batch `b`:
//! `peak = weights + activations + workspace`, with `weights = 4 x (parameters of stages [0, k))`,
//! `activations = 4 b x max_{i < k} (in_i + out_i)` (input plus output feature map of the largest stage,
//! the two buffers live at once when stages run in sequence; the intermediates *inside* a residual or MBConv
//! block are not counted, so blocks are under-estimated) and `workspace` a fixed allowance (assumed,
//! [`EnclaveConfig::workspace_bytes`]).
//!
//! **Latency** per image (ms):
//! `estimated = factor x cpu_ms + (transitions x transition_cycles + paging_cycles) / (GHz x 1e6) / b`, with
//! - `factor`: SGX [`EnclaveConfig::sgx_compute_factor`] = 1.72, Occlumency (Lee et al., MobiCom 2019:
//!   in-enclave inference 72 % slower than native with their EPC-aware design); SEV-SNP / TDX
//!   [`EnclaveConfig::vm_compute_factor`] = 1.05 (**assumed**: memory-encryption overhead of a confidential
//!   VM, no published figure used);
//! - `transitions`: SGX 2 per batch (an ECALL carrying the input in, an OCALL handing the feature map out),
//!   [`EnclaveConfig::transition_cycles`] = 17,000 cycles each, the upper end of the 8,200-17,000 cycles per
//!   SGX SDK ECALL/OCALL measured by Weisse, Bertacco & Austin, "Regaining lost cycles with HotCalls",
//!   ISCA 2017; 0 for SEV-SNP / TDX (the whole service runs in the confidential VM);
//! - `paging_cycles`: SGX only, when `peak` exceeds the usable EPC: every pass evicts and reloads each 4 KiB
//!   page of the excess (an **assumed** access pattern, the working set streamed once per pass), 2 page swaps
//!   per page at [`EnclaveConfig::page_swap_cycles`] = 40,000 cycles each (Taassori, Shafiee &
//!   Balasubramonian, "VAULT", ASPLOS 2018: "a page swap is expensive (about 40K cycles)"; Orenbach et al.,
//!   "Eleos", EuroSys 2017, show paging is the main slowdown of memory-demanding enclaves);
//! - `GHz`: [`EnclaveConfig::cpu_ghz`] = 2.5 (**assumed**, to turn cycles into time).
//!
//! Usable EPC: SGX1 93 MiB of the 128 MiB processor reserved memory (the rest holds SGX metadata; the figure
//! reported by Arnautov et al., "SCONE", OSDI 2016, and Orenbach et al. 2017); SGX2 as given
//! (`sgx2:<MiB>`); SEV-SNP and TDX have no EPC limit. Every figure is a config value.

use std::fmt;
use std::str::FromStr;

use privsplit_models::stage::StageInfo;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Bytes in a MiB.
const MIB: u64 = 1 << 20;
/// EPC page size (bytes).
pub const EPC_PAGE_BYTES: u64 = 4096;
/// Usable EPC of SGX1 parts (MiB of the 128 MiB reserved memory).
pub const SGX1_USABLE_MIB: u64 = 93;

/// The trusted execution environment that runs the trusted partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TeeTarget {
    /// Intel SGX1: 93 MiB usable EPC, paging above it.
    #[default]
    Sgx1,
    /// Intel SGX2 with the given usable EPC (MiB).
    Sgx2 {
        /// Usable EPC (MiB).
        usable_mib: u64,
    },
    /// AMD SEV-SNP confidential VM: no EPC limit, memory-encryption overhead.
    SevSnp,
    /// Intel TDX trust domain: no EPC limit, memory-encryption overhead.
    Tdx,
}

impl TeeTarget {
    /// Usable protected memory (bytes), `None` without an EPC limit.
    pub fn usable_bytes(self) -> Option<u64> {
        match self {
            Self::Sgx1 => Some(SGX1_USABLE_MIB * MIB),
            Self::Sgx2 { usable_mib } => Some(usable_mib * MIB),
            Self::SevSnp | Self::Tdx => None,
        }
    }

    /// Whether the target is an SGX enclave (ECALL/OCALL transitions, EPC paging).
    pub fn is_sgx(self) -> bool {
        matches!(self, Self::Sgx1 | Self::Sgx2 { .. })
    }
}

impl fmt::Display for TeeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sgx1 => f.write_str("sgx1"),
            Self::Sgx2 { usable_mib } => write!(f, "sgx2:{usable_mib}"),
            Self::SevSnp => f.write_str("sev-snp"),
            Self::Tdx => f.write_str("tdx"),
        }
    }
}

impl FromStr for TeeTarget {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::invalid("TEE", "sgx1, sgx2:<usable EPC MiB >= 1>, sev-snp or tdx", s);
        match s {
            "sgx1" => Ok(Self::Sgx1),
            "sev-snp" => Ok(Self::SevSnp),
            "tdx" => Ok(Self::Tdx),
            _ => {
                let mib = s.strip_prefix("sgx2:").ok_or_else(bad)?;
                match mib.parse::<u64>() {
                    Ok(m) if m >= 1 => Ok(Self::Sgx2 { usable_mib: m }),
                    _ => Err(bad()),
                }
            }
        }
    }
}

impl TryFrom<String> for TeeTarget {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<TeeTarget> for String {
    fn from(t: TeeTarget) -> Self {
        t.to_string()
    }
}

/// Settings of the cost model (sources in the module docs; **assumed** figures are marked there).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnclaveConfig {
    /// The TEE.
    pub tee: TeeTarget,
    /// Images per trusted-partition call.
    pub batch: usize,
    /// Fixed workspace allowance (bytes; assumed 4 MiB: enclave heap and stack slack).
    pub workspace_bytes: u64,
    /// Clock (GHz) converting cycles to time (assumed 2.5).
    pub cpu_ghz: f64,
    /// Cycles per ECALL or OCALL (17,000: HotCalls, ISCA 2017, upper end).
    pub transition_cycles: f64,
    /// Cycles per EPC page swap (40,000: VAULT, ASPLOS 2018).
    pub page_swap_cycles: f64,
    /// Compute slowdown inside SGX (1.72: Occlumency, MobiCom 2019).
    pub sgx_compute_factor: f64,
    /// Compute slowdown inside an SEV-SNP / TDX confidential VM (assumed 1.05).
    pub vm_compute_factor: f64,
}

impl Default for EnclaveConfig {
    fn default() -> Self {
        Self {
            tee: TeeTarget::Sgx1,
            batch: 1,
            workspace_bytes: 4 * MIB,
            cpu_ghz: 2.5,
            transition_cycles: 17_000.0,
            page_swap_cycles: 40_000.0,
            sgx_compute_factor: 1.72,
            vm_compute_factor: 1.05,
        }
    }
}

impl EnclaveConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the setting: a zero batch, a clock that is not finite and positive, a
    /// negative or non-finite cycle count, a compute factor below 1.
    pub fn validate(&self) -> Result<()> {
        if self.batch == 0 {
            return Err(Error::invalid("enclave.batch", ">= 1", "0"));
        }
        if !(self.cpu_ghz.is_finite() && self.cpu_ghz > 0.0) {
            return Err(Error::invalid(
                "enclave.cpu_ghz",
                "a finite value > 0",
                self.cpu_ghz.to_string(),
            ));
        }
        for (name, v) in [
            ("enclave.transition_cycles", self.transition_cycles),
            ("enclave.page_swap_cycles", self.page_swap_cycles),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(name, "a finite value >= 0", v.to_string()));
            }
        }
        for (name, v) in [
            ("enclave.sgx_compute_factor", self.sgx_compute_factor),
            ("enclave.vm_compute_factor", self.vm_compute_factor),
        ] {
            if !(v.is_finite() && v >= 1.0) {
                return Err(Error::invalid(name, "a finite value >= 1", v.to_string()));
            }
        }
        Ok(())
    }
}

/// The cost model's answer at one partition point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnclaveCost {
    /// The TEE.
    pub tee: TeeTarget,
    /// Images per call.
    pub batch: usize,
    /// Parameter bytes of the trusted partition (f32).
    pub weight_bytes: u64,
    /// Input + output feature map of the largest trusted stage at `batch` (bytes, f32).
    pub activation_bytes: u64,
    /// Workspace allowance (bytes).
    pub workspace_bytes: u64,
    /// `weight_bytes + activation_bytes + workspace_bytes` (0 when nothing is trusted).
    pub peak_bytes: u64,
    /// Usable protected memory (bytes), `None` without an EPC limit.
    pub usable_bytes: Option<u64>,
    /// Bytes above the usable EPC (paged every pass).
    pub paged_bytes: u64,
    /// Compute part of the estimate (ms per image).
    pub compute_ms: f64,
    /// Enclave-transition part (ms per image).
    pub transition_ms: f64,
    /// EPC-paging part (ms per image).
    pub paging_ms: f64,
    /// Estimated trusted-partition latency in the TEE (ms per image): the sum of the three parts.
    pub estimated_ms: f64,
}

impl EnclaveCost {
    /// Whether the trusted partition fits in the usable protected memory.
    pub fn fits(&self) -> bool {
        self.paged_bytes == 0
    }
}

/// The cost of the trusted partition `[0, k)` of a model with `stages` and input `[channels, height,
/// width]`, whose measured latency on this CPU is `cpu_ms` per image (formulas in the module docs).
///
/// # Errors
/// [`Error::Invalid`] when `k` exceeds the number of stages, `cpu_ms` is negative or not finite, or the
/// config is invalid (see [`EnclaveConfig::validate`]).
pub fn enclave_cost(
    cfg: &EnclaveConfig,
    stages: &[StageInfo],
    input_shape: [usize; 3],
    k: usize,
    cpu_ms: f64,
) -> Result<EnclaveCost> {
    cfg.validate()?;
    if k > stages.len() {
        return Err(Error::invalid(
            "partition point",
            format!("0..={}", stages.len()),
            k.to_string(),
        ));
    }
    if !(cpu_ms.is_finite() && cpu_ms >= 0.0) {
        return Err(Error::invalid(
            "trusted CPU latency (ms)",
            "a finite value >= 0",
            cpu_ms.to_string(),
        ));
    }
    let elems = |s: [usize; 3]| s.iter().product::<usize>() as u64;
    let weight_bytes = 4 * stages[..k].iter().map(|s| s.params as u64).sum::<u64>();
    let mut input = elems(input_shape);
    let mut largest = 0;
    for s in &stages[..k] {
        let out = elems(s.output_shape);
        largest = largest.max(input + out);
        input = out;
    }
    let activation_bytes = 4 * cfg.batch as u64 * largest;
    let workspace_bytes = if k == 0 { 0 } else { cfg.workspace_bytes };
    let peak_bytes = if k == 0 {
        0
    } else {
        weight_bytes + activation_bytes + workspace_bytes
    };
    let usable_bytes = cfg.tee.usable_bytes();
    let paged_bytes = usable_bytes.map_or(0, |u| peak_bytes.saturating_sub(u));
    let (factor, transitions) = if cfg.tee.is_sgx() {
        (cfg.sgx_compute_factor, 2.0)
    } else {
        (cfg.vm_compute_factor, 0.0)
    };
    let cycles_to_ms = |c: f64| c / (cfg.cpu_ghz * 1e6) / cfg.batch as f64;
    let (compute_ms, transition_ms, paging_ms) = if k == 0 {
        (0.0, 0.0, 0.0)
    } else {
        let pages = paged_bytes.div_ceil(EPC_PAGE_BYTES) as f64;
        (
            factor * cpu_ms,
            cycles_to_ms(transitions * cfg.transition_cycles),
            cycles_to_ms(2.0 * pages * cfg.page_swap_cycles),
        )
    };
    Ok(EnclaveCost {
        tee: cfg.tee,
        batch: cfg.batch,
        weight_bytes,
        activation_bytes,
        workspace_bytes,
        peak_bytes,
        usable_bytes,
        paged_bytes,
        compute_ms,
        transition_ms,
        paging_ms,
        estimated_ms: compute_ms + transition_ms + paging_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, out: [usize; 3], params: usize) -> StageInfo {
        StageInfo {
            name: name.into(),
            output_shape: out,
            params,
            flops: 0,
        }
    }

    /// A hand-computed model: input [1, 28, 28] -> conv [8, 28, 28] (80 params) -> pool [8, 14, 14] ->
    /// fc [10, 1, 1] (15,690 params).
    fn model() -> Vec<StageInfo> {
        vec![
            stage("conv", [8, 28, 28], 80),
            stage("pool", [8, 14, 14], 0),
            stage("fc", [10, 1, 1], 15_690),
        ]
    }

    #[test]
    fn memory_is_weights_plus_largest_stage_io_plus_workspace() {
        let cfg = EnclaveConfig {
            batch: 2,
            ..EnclaveConfig::default()
        };
        let c = enclave_cost(&cfg, &model(), [1, 28, 28], 2, 1.0).expect("cost");
        // Weights: 80 params x 4 bytes. Largest stage: pool, input 6272 + output 1568 values (conv: 784 +
        // 6272), x 4 bytes x batch 2.
        assert_eq!(c.weight_bytes, 320);
        assert_eq!(c.activation_bytes, (6272 + 1568) * 4 * 2);
        assert_eq!(c.peak_bytes, 320 + 62_720 + 4 * MIB);
        let one = enclave_cost(&cfg, &model(), [1, 28, 28], 1, 1.0).expect("cost");
        assert_eq!(one.activation_bytes, (784 + 6272) * 4 * 2);
        assert!(c.fits() && c.paging_ms == 0.0);
        // 1.72 x 1 ms + 2 x 17,000 cycles at 2.5 GHz / batch 2 = 1.72 + 0.0068 ms.
        assert!((c.estimated_ms - (1.72 + 0.0068)).abs() < 1e-9, "{c:?}");
        let all = enclave_cost(&cfg, &model(), [1, 28, 28], 3, 1.0).expect("cost");
        assert_eq!(all.weight_bytes, 4 * (80 + 15_690));
        let none = enclave_cost(&cfg, &model(), [1, 28, 28], 0, 0.0).expect("cost");
        assert_eq!((none.peak_bytes, none.estimated_ms), (0, 0.0));
    }

    #[test]
    fn paging_starts_above_the_usable_epc_and_confidential_vms_do_not_page() {
        // 100 stages of 256 Ki parameters = 100 MiB of weights: above SGX1's 93 MiB.
        let big: Vec<StageInfo> = (0..100)
            .map(|i| stage(&format!("s{i}"), [1, 1, 1], 1 << 18))
            .collect();
        let cfg = EnclaveConfig {
            workspace_bytes: 0,
            ..EnclaveConfig::default()
        };
        let c = enclave_cost(&cfg, &big, [1, 1, 1], 100, 10.0).expect("cost");
        assert_eq!(c.peak_bytes, 100 * MIB + 8);
        assert_eq!(c.paged_bytes, 7 * MIB + 8);
        let pages = (7 * MIB + 8).div_ceil(4096) as f64; // 1793 pages
        assert!(
            (c.paging_ms - 2.0 * pages * 40_000.0 / 2.5e6).abs() < 1e-9,
            "{c:?}"
        );
        assert!(!c.fits());
        // 90 stages = 90 MiB fit.
        assert!(enclave_cost(&cfg, &big, [1, 1, 1], 90, 10.0)
            .expect("cost")
            .fits());
        // SGX2 with 256 MiB usable: fits; SEV-SNP: no limit, no transitions, 1.05 x CPU.
        let sgx2 = EnclaveConfig {
            tee: "sgx2:256".parse().expect("tee"),
            ..cfg.clone()
        };
        assert!(enclave_cost(&sgx2, &big, [1, 1, 1], 100, 10.0)
            .expect("cost")
            .fits());
        let sev = EnclaveConfig {
            tee: TeeTarget::SevSnp,
            ..cfg
        };
        let v = enclave_cost(&sev, &big, [1, 1, 1], 100, 10.0).expect("cost");
        assert_eq!(
            (v.usable_bytes, v.paged_bytes, v.transition_ms),
            (None, 0, 0.0)
        );
        assert!((v.estimated_ms - 10.5).abs() < 1e-12);
    }

    #[test]
    fn tee_names_round_trip_and_bad_input_is_named() {
        for s in ["sgx1", "sgx2:256", "sev-snp", "tdx"] {
            assert_eq!(s.parse::<TeeTarget>().expect("parse").to_string(), s);
        }
        for bad in ["sgx3", "sgx2:", "sgx2:0", "sgx2:x"] {
            let e = bad.parse::<TeeTarget>().expect_err(bad).to_string();
            assert!(e.contains("TEE") && e.contains(bad), "{e}");
        }
        let json = serde_json::to_string(&TeeTarget::Sgx2 { usable_mib: 188 }).expect("json");
        assert_eq!(json, "\"sgx2:188\"");
        let cfg = EnclaveConfig::default();
        assert!(enclave_cost(&cfg, &model(), [1, 28, 28], 4, 1.0).is_err());
        assert!(enclave_cost(&cfg, &model(), [1, 28, 28], 1, f64::NAN).is_err());
        let bad = EnclaveConfig { batch: 0, ..cfg };
        assert!(enclave_cost(&bad, &model(), [1, 28, 28], 1, 1.0).is_err());
    }

    /// VGG-16 at 224 x 224, 1000 classes (138,357,544 parameters, Simonyan & Zisserman 2015): on SGX1 the
    /// trusted partition fits up to pool5 (k = 18: 14.7 M conv parameters + the 2 x 64 x 224 x 224 activations
    /// of conv1_2) and pages from fc6 on (k = 19: + 102.8 M parameters); SGX2 with 1 GiB holds all of it.
    #[test]
    fn vgg16_fits_sgx1_up_to_pool5_and_pages_from_fc6() {
        let arch = privsplit_models::zoo::ArchConfig::vgg16(224, 1000);
        let model =
            privsplit_models::zoo::build(&arch, &burn::tensor::Device::flex()).expect("build");
        let infos = model.stage_infos();
        assert_eq!(infos.len(), 21);
        let cfg = EnclaveConfig::default();
        let cost = |k: usize, cfg: &EnclaveConfig| {
            enclave_cost(cfg, &infos, [3, 224, 224], k, 1.0).expect("cost")
        };
        let all = cost(21, &cfg);
        assert_eq!(all.weight_bytes, 4 * 138_357_544);
        assert_eq!(all.activation_bytes, 4 * 2 * 64 * 224 * 224);
        let pool5 = cost(18, &cfg);
        assert!(pool5.fits(), "{pool5:?}");
        let fc6 = cost(19, &cfg);
        assert!(!fc6.fits() && fc6.paging_ms > 1000.0, "{fc6:?}");
        let sgx2 = EnclaveConfig {
            tee: TeeTarget::Sgx2 { usable_mib: 1024 },
            ..EnclaveConfig::default()
        };
        assert!(cost(21, &sgx2).fits());
    }
}
