//! Where training and the untrusted partition run: one [`DeviceChoice`] for every command and config
//! (`--device`, `device = "..."`), resolved to a burn [`Device`] with a clear error when the backend is not
//! compiled in or its driver is missing — never a silent fallback to another backend.
//!
//! The CPU thread count is the rayon global pool's ([`set_threads`], or the `RAYON_NUM_THREADS`
//! environment variable): burn's `flex` backend and its gemm kernels run on that pool.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A compute device for training loops and the untrusted partition.
///
/// The name is the one `--device` and the `device` config field take (`flex`, `cpu`, `cuda`, `wgpu`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// burn's `flex` CPU backend (always compiled in): multi-threaded gemm, SIMD kernels, AVX-512 gemm
    /// kernels chosen at run time where the CPU has avx512f. The default.
    #[default]
    Flex,
    /// burn's CubeCL CPU backend (cargo feature `cpu`; needs the LLVM of `scripts/install-llvm.sh` to
    /// build).
    Cpu,
    /// CUDA device 0 (cargo feature `cuda`; `CUDA_VISIBLE_DEVICES` picks the GPU).
    Cuda,
    /// The default wgpu adapter (cargo feature `wgpu`; Vulkan, Metal or DX12).
    Wgpu,
}

impl DeviceChoice {
    /// Every choice, in the order `--help` lists them.
    pub const ALL: [DeviceChoice; 4] = [Self::Flex, Self::Cpu, Self::Cuda, Self::Wgpu];

    /// The name `--device` takes: `flex`, `cpu`, `cuda` or `wgpu`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::Wgpu => "wgpu",
        }
    }

    /// The cargo feature of `privsplit-models` (and `privsplit-cli`) that compiles this backend in;
    /// `None` for `flex`, which is always there.
    pub fn cargo_feature(self) -> Option<&'static str> {
        match self {
            Self::Flex => None,
            Self::Cpu => Some("cpu"),
            Self::Cuda => Some("cuda"),
            Self::Wgpu => Some("wgpu"),
        }
    }

    /// Whether this binary was built with the backend.
    pub fn compiled_in(self) -> bool {
        match self {
            Self::Flex => true,
            Self::Cpu => cfg!(feature = "cpu"),
            Self::Cuda => cfg!(feature = "cuda"),
            Self::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// The burn device (without autodiff; call `.autodiff()` for training), checked to be usable: one
    /// small tensor is created and read back on it, so a missing driver (no `libcuda.so`, no GPU, no
    /// wgpu adapter) is reported here rather than as a panic deep inside a training loop.
    ///
    /// # Errors
    /// [`Error::Device`] naming the cargo feature when the backend is not compiled into this binary
    /// (`cargo build --release --features cuda`), or the driver/adapter when the device cannot run.
    pub fn resolve(self) -> Result<Device> {
        let device = self.construct()?;
        if self != Self::Flex {
            probe(self, &device)?;
        }
        Ok(device)
    }

    /// Checks only that this binary was built with the backend, without starting it: for commands that
    /// hand the device on to other processes (the job commands of `privsplit plan`), whose nodes may have
    /// a GPU this machine lacks.
    ///
    /// # Errors
    /// [`Error::Device`] naming the cargo feature to rebuild with when it is not compiled in.
    pub fn check_compiled_in(self) -> Result<()> {
        if self.compiled_in() {
            Ok(())
        } else {
            Err(self.not_built())
        }
    }

    fn not_built(self) -> Error {
        let llvm = if matches!(self, Self::Cpu | Self::Cuda) {
            " after `bash scripts/install-llvm.sh` (the LLVM CubeCL links)"
        } else {
            ""
        };
        Error::Device {
            device: self.name().into(),
            reason: format!(
                "this binary was built without it; rebuild with \
                 `cargo build --release -p privsplit-cli --features {}`{llvm}",
                self.cargo_feature().unwrap_or_default()
            ),
        }
    }

    #[allow(unreachable_code)] // each arm returns from its `cfg` block when the feature is on
    fn construct(self) -> Result<Device> {
        match self {
            Self::Flex => Ok(Device::flex()),
            Self::Cpu => {
                #[cfg(feature = "cpu")]
                return Ok(Device::cpu());
                Err(self.not_built())
            }
            Self::Cuda => {
                #[cfg(feature = "cuda")]
                return Ok(Device::cuda(0));
                Err(self.not_built())
            }
            Self::Wgpu => {
                #[cfg(feature = "wgpu")]
                return Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice));
                Err(self.not_built())
            }
        }
    }
}

/// Runs one tiny computation on `device`; a backend that panics on initialisation (driver library or
/// adapter missing) becomes [`Error::Device`].
fn probe(choice: DeviceChoice, device: &Device) -> Result<()> {
    let run = std::panic::AssertUnwindSafe(|| {
        let t = Tensor::<1>::ones([4], device) * 2.0;
        t.sum().into_scalar::<f32>()
    });
    match std::panic::catch_unwind(run) {
        Ok(v) if (v - 8.0).abs() < 1e-6 => Ok(()),
        Ok(v) => Err(Error::Device {
            device: choice.name().into(),
            reason: format!("a test sum on the device gave {v}, expected 8"),
        }),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "the backend panicked".into());
            let driver = match choice {
                DeviceChoice::Cuda => "an NVIDIA GPU with its driver (libcuda.so) and CUDA 12",
                DeviceChoice::Wgpu => "a GPU adapter wgpu can open (Vulkan, Metal or DX12 driver)",
                _ => "a working backend",
            };
            Err(Error::Device {
                device: choice.name().into(),
                reason: format!("could not start ({msg}); it needs {driver}"),
            })
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| Error::Invalid {
                what: "device".into(),
                expected: "one of flex, cpu, cuda, wgpu".into(),
                got: format!("{s:?}"),
            })
    }
}

/// The name of the backend `device` runs on (`flex`, `cpu`, `cuda`, `wgpu`, ...), autodiff or not: what
/// reports record, read from the device itself.
pub fn device_name(device: &Device) -> &'static str {
    let d = format!("{:?}", device.clone().inner());
    // `Device<Flex(..)>`, `Device<Cube(Cuda(..))>`, `Device<Cube(Cpu(..))>`, `Device<Cube(Wgpu(..))>`.
    if d.contains("Flex") {
        "flex"
    } else if d.contains("Cuda") {
        "cuda"
    } else if d.contains("Wgpu") {
        "wgpu"
    } else if d.contains("Cpu") {
        "cpu"
    } else {
        "other"
    }
}

/// Sets the number of CPU threads of the `flex` backend (the rayon global pool its gemm and conv kernels
/// use). Call once, before any computation; without it rayon takes `RAYON_NUM_THREADS` or one thread per
/// logical CPU.
///
/// # Errors
/// [`Error::Invalid`] for `threads == 0` or when the pool was already started (by an earlier computation
/// or call).
pub fn set_threads(threads: usize) -> Result<()> {
    if threads == 0 {
        return Err(Error::Invalid {
            what: "--threads".into(),
            expected: "at least 1".into(),
            got: "0".into(),
        });
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| Error::Invalid {
            what: "--threads".into(),
            expected: "set before the first computation".into(),
            got: e.to_string(),
        })
}

/// `--device` and `--threads`, the argument group every training command and `serve untrusted` flattens.
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct DeviceArgs {
    /// Where training (or the untrusted partition) runs: `flex` (burn's CPU backend, the default), `cpu`
    /// (CubeCL CPU, cargo feature `cpu`), `cuda` (feature `cuda`) or `wgpu` (feature `wgpu`). A backend
    /// that is not compiled in or has no driver is an error, never a fallback.
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub device: Option<DeviceChoice>,
    /// CPU threads of the `flex` backend (default: `RAYON_NUM_THREADS`, else one per logical CPU).
    #[cfg_attr(feature = "clap", arg(long))]
    pub threads: Option<usize>,
}

impl DeviceArgs {
    /// Sets the thread count ([`set_threads`]) and checks that the device can run
    /// ([`DeviceChoice::resolve`]) before any data is loaded; returns the device asked for, `None` to keep
    /// the config's.
    ///
    /// # Errors
    /// [`Error::Invalid`] for `threads == 0` or a pool already started; [`Error::Device`] for a device not
    /// compiled in or without its driver.
    pub fn apply(&self) -> Result<Option<DeviceChoice>> {
        if let Some(n) = self.threads {
            set_threads(n)?;
        }
        if let Some(d) = self.device {
            d.resolve()?;
        }
        Ok(self.device)
    }
}

/// Worker threads of the CPU backend (the rayon global pool).
pub fn threads() -> usize {
    rayon::current_num_threads()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn device_args_reject_zero_threads_and_return_the_device_asked_for() {
        let zero = DeviceArgs {
            device: None,
            threads: Some(0),
        };
        let err = zero.apply().unwrap_err().to_string();
        assert!(
            err.contains("--threads") && err.contains("at least 1"),
            "{err}"
        );
        let flex = DeviceArgs {
            device: Some(DeviceChoice::Flex),
            threads: None,
        };
        assert_eq!(flex.apply().unwrap(), Some(DeviceChoice::Flex));
        assert_eq!(DeviceArgs::default().apply().unwrap(), None);
    }

    #[test]
    fn flex_resolves_and_reports_its_name() {
        let d = DeviceChoice::Flex.resolve().unwrap();
        assert_eq!(device_name(&d), "flex");
        assert_eq!(device_name(&d.autodiff()), "flex");
    }

    #[test]
    fn a_backend_not_compiled_in_names_its_cargo_feature() {
        for choice in [DeviceChoice::Cpu, DeviceChoice::Cuda, DeviceChoice::Wgpu] {
            if choice.compiled_in() {
                continue;
            }
            let err = choice.resolve().unwrap_err().to_string();
            assert!(
                err.contains(&format!("--features {}", choice.name()))
                    && err.contains(choice.name()),
                "{err}"
            );
        }
    }

    #[test]
    fn names_round_trip_through_text_and_serde() {
        use serde::de::value::{Error as DeErr, StrDeserializer};
        use serde::de::IntoDeserializer;
        for d in DeviceChoice::ALL {
            assert_eq!(d.name().parse::<DeviceChoice>().unwrap(), d);
            let de: StrDeserializer<'_, DeErr> = d.name().into_deserializer();
            assert_eq!(DeviceChoice::deserialize(de).unwrap(), d);
        }
        let err = "gpu".parse::<DeviceChoice>().unwrap_err().to_string();
        assert!(
            err.contains("flex, cpu, cuda, wgpu") && err.contains("gpu"),
            "{err}"
        );
    }

    #[test]
    fn zero_threads_is_rejected() {
        assert!(set_threads(0)
            .unwrap_err()
            .to_string()
            .contains("at least 1"));
    }
}
