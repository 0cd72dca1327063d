//! The experiment config of `privsplit run`: TOML with every section optional (defaults filled in), an
//! embedded default, and `--set key.path=value` overrides applied before validation.

use std::path::{Path, PathBuf};

use privsplit_data::fonts::FontCharConfig;
use privsplit_data::InputScaling;
use privsplit_models::device::DeviceChoice;
use serde::{Deserialize, Serialize};

use super::overrides;
use crate::collateral::CollateralConfig;
use crate::encryption::EncryptionConfig;
use crate::sweep::{SweepConfig, SweepPreset};
use crate::{Error, Result};

/// The embedded default config (`crates/experiments/src/run/default-run.toml`).
pub const DEFAULT_CONFIG: &str = include_str!("default-run.toml");

/// The flags of `privsplit run` that set a config field ([`RunConfig::load`]); `None` keeps the config's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunFlags {
    /// Parent folder of the run folder (`out_dir`).
    pub out: Option<PathBuf>,
    /// Name of the run (`name`).
    pub name: Option<String>,
    /// Device of every training step (`collateral.device`, `sweep.device`).
    pub device: Option<DeviceChoice>,
}

/// A whole experiment, as read from TOML (every section optional, defaults filled in).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Name of the run; the folder is `<out_dir>/<name>-<UTC time>`.
    pub name: String,
    /// Parent folder of run folders.
    pub out_dir: PathBuf,
    /// The font-character dataset.
    pub fonts: FontCharConfig,
    /// Collateral learning and the defence.
    pub collateral: CollateralConfig,
    /// Encrypted inference of the undefended private part.
    pub encryption: EncryptionConfig,
    /// Partition-point sweep with reconstruction attacks.
    pub sweep: SweepStepConfig,
}

/// Settings of the partition-point sweep step (TEE + accelerator layer partitioning).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SweepStepConfig {
    /// Run the step at all.
    pub enabled: bool,
    /// `tiny` (the small CNN at a quarter width; about a minute) or `fashion` (the full Fashion-MNIST sweep).
    pub preset: SweepPreset,
    /// Fashion-MNIST folder (gzipped IDX). When it is absent the step is skipped and the report says so
    /// (under CI, where `CI` is set, the run fails instead).
    pub data_dir: PathBuf,
    /// Partition points to evaluate (default: all).
    pub points: Option<Vec<usize>>,
    /// SSIM threshold in `[0, 1]` of the recommendation (default: the preset's, 0.3).
    pub ssim_threshold: Option<f64>,
    /// Where the sweep's victim and attacks train (default `flex`, the CPU).
    pub device: DeviceChoice,
}

impl Default for SweepStepConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            preset: SweepPreset::Tiny,
            data_dir: PathBuf::from(privsplit_data::fashion_mnist::DEBIAN_DIR),
            points: None,
            ssim_threshold: None,
            device: DeviceChoice::Flex,
        }
    }
}

impl SweepStepConfig {
    /// The sweep configuration of the preset, with this section's overrides.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a preset that does not train on Fashion-MNIST (`lite0`) or an invalid
    /// override.
    pub fn sweep_config(&self) -> Result<SweepConfig> {
        if self.preset.natural_images() {
            return Err(Error::invalid(
                "sweep.preset",
                "tiny or fashion",
                format!("{:?}", self.preset.name()),
            ));
        }
        let mut c = self.preset.config(None);
        c.points.clone_from(&self.points);
        c.device = self.device;
        if let Some(t) = self.ssim_threshold {
            c.ssim_threshold = t;
        }
        c.validate()?;
        Ok(c)
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            name: "default".into(),
            out_dir: PathBuf::from("runs"),
            fonts: FontCharConfig::default(),
            collateral: CollateralConfig::default(),
            encryption: EncryptionConfig::default(),
            sweep: SweepStepConfig::default(),
        }
    }
}

impl RunConfig {
    /// The device the run trains on, as the report records it: `flex`, `cuda`, ... or
    /// `collateral: X, sweep: Y` when the two steps differ.
    pub fn device_label(&self) -> String {
        if self.collateral.device == self.sweep.device || !self.sweep.enabled {
            self.collateral.device.to_string()
        } else {
            format!(
                "collateral: {}, sweep: {}",
                self.collateral.device, self.sweep.device
            )
        }
    }

    /// Parses `text` (TOML; `source` names it in errors), applies `--set` overrides, and validates the
    /// result.
    ///
    /// # Errors
    /// [`Error::Config`] for malformed TOML or an unknown key; [`Error::Invalid`] for a bad override or a
    /// setting that fails validation.
    pub fn from_toml(text: &str, source: &str, sets: &[String]) -> Result<Self> {
        let config_err = |detail: String| Error::Config {
            what: source.to_string(),
            detail,
        };
        let mut doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| config_err(format!("not valid TOML: {e}")))?;
        for s in sets {
            overrides::apply(&mut doc, s)?;
        }
        let cfg: RunConfig = toml::Value::Table(doc)
            .try_into()
            .map_err(|e: toml::de::Error| {
                config_err(format!("does not match the experiment schema: {e}"))
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads the config file `path` (`None`: [`DEFAULT_CONFIG`]) and applies the `--set` overrides `sets`,
    /// then the command line's own flags (`--device` sets `collateral.device` and `sweep.device`, `--out`
    /// sets `out_dir`, `--name` sets `name`), as [`RunConfig::from_toml`].
    ///
    /// # Errors
    /// [`Error::Config`] when `path` cannot be read, and as [`RunConfig::from_toml`].
    pub fn load(path: Option<&Path>, sets: &[String], flags: &RunFlags) -> Result<Self> {
        let (text, source) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|e| Error::Config {
                    what: p.display().to_string(),
                    detail: format!("cannot read the experiment config: {e}"),
                })?,
                p.display().to_string(),
            ),
            None => (
                DEFAULT_CONFIG.to_string(),
                "the embedded default config".into(),
            ),
        };
        let quoted = |v: String| toml::Value::String(v).to_string();
        let mut sets = sets.to_vec();
        if let Some(d) = flags.device {
            sets.push(format!("collateral.device=\"{d}\""));
            sets.push(format!("sweep.device=\"{d}\""));
        }
        if let Some(out) = &flags.out {
            sets.push(format!("out_dir={}", quoted(out.display().to_string())));
        }
        if let Some(name) = &flags.name {
            sets.push(format!("name={}", quoted(name.clone())));
        }
        Self::from_toml(&text, &source, &sets)
    }

    /// The config as TOML (what the run folder's `config.toml` holds).
    ///
    /// # Errors
    /// [`Error::Config`] when a value cannot be written as TOML.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Config {
            what: "the effective config".into(),
            detail: e.to_string(),
        })
    }

    /// Checks every section.
    ///
    /// # Errors
    /// [`Error::Invalid`] (or the section's library error) naming the first invalid setting.
    pub fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.contains(['/', '\\']) || self.name.starts_with('.') {
            return Err(Error::invalid(
                "name",
                "a non-empty folder name without '/' or a leading '.'",
                format!("{:?}", self.name),
            ));
        }
        self.fonts.validate()?;
        privsplit_data::fonts::check_coverage(&self.fonts.chars, &self.fonts.fonts)?;
        self.collateral.validate()?;
        self.encryption.validate()?;
        if self.encryption.enabled && self.fonts.input_scaling != InputScaling::Unit {
            return Err(Error::invalid(
                "encryption.enabled with fonts.input_scaling",
                "fonts.input_scaling = \"unit\" (functional encryption encrypts the pixels themselves; a \
                 per-image standardisation cannot be folded into the quadratic layer), or \
                 encryption.enabled = false",
                format!("{:?}", self.fonts.input_scaling),
            ));
        }
        if self.sweep.enabled {
            self.sweep.sweep_config()?;
        }
        Ok(())
    }

    /// Every seed of the config, by key.
    pub fn seeds(&self) -> Vec<(String, u64)> {
        let mut s = vec![
            ("fonts.seed".to_string(), self.fonts.seed),
            ("collateral.seed".into(), self.collateral.seed),
            (
                "collateral.classic.seed".into(),
                self.collateral.classic.seed,
            ),
        ];
        if self.sweep.enabled {
            if let Ok(c) = self.sweep.sweep_config() {
                s.push(("sweep.classifier.seed".into(), c.classifier.seed));
                s.push(("sweep.inverse.seed".into(), c.inverse.seed));
                s.push(("sweep.cgan.seed".into(), c.cgan.train.seed));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_parses_and_bad_configs_name_the_setting() {
        let cfg = RunConfig::from_toml(DEFAULT_CONFIG, "default", &[]).expect("default");
        assert_eq!(cfg.sweep.preset, SweepPreset::Tiny);
        let back =
            RunConfig::from_toml(&cfg.to_toml().expect("toml"), "round trip", &[]).expect("parse");
        assert_eq!(back.to_toml().expect("toml"), cfg.to_toml().expect("toml"));
        let e = RunConfig::from_toml("nmae = 'x'", "a.toml", &[]).expect_err("unknown key");
        assert!(
            matches!(e, Error::Config { .. }) && e.to_string().contains("a.toml"),
            "{e}"
        );
        let e = RunConfig::from_toml("", "x", &["sweep.preset=lite0".into()]).expect_err("lite0");
        assert!(e.to_string().contains("sweep.preset"), "{e}");
        let e = RunConfig::from_toml("", "x", &["sweep.preset=mnist".into()]).expect_err("unknown");
        assert!(e.to_string().contains("preset"), "{e}");
        let e = RunConfig::from_toml("", "x", &["name=.hidden".into()]).expect_err("name");
        assert!(e.to_string().contains("name"), "{e}");
        let seeds = cfg.seeds();
        assert!(seeds.iter().any(|(k, _)| k == "collateral.seed"));
    }

    #[test]
    fn load_applies_the_command_line_flags_after_the_sets_and_names_an_unreadable_file() {
        let flags = RunFlags {
            out: Some(PathBuf::from("my runs")),
            name: Some("mine".into()),
            device: Some(DeviceChoice::Flex),
        };
        let sets = ["name=\"overridden\"".to_string()];
        let cfg = RunConfig::load(None, &sets, &flags).expect("load");
        assert_eq!(cfg.name, "mine");
        assert_eq!(cfg.out_dir, PathBuf::from("my runs"));
        assert_eq!(cfg.collateral.device, DeviceChoice::Flex);
        let plain = RunConfig::load(None, &[], &RunFlags::default()).expect("default");
        let embedded = RunConfig::from_toml(DEFAULT_CONFIG, "default", &[]).expect("default");
        assert_eq!(
            plain.to_toml().expect("toml"),
            embedded.to_toml().expect("toml")
        );
        let e = RunConfig::load(Some(Path::new("/nonexistent/x.toml")), &[], &flags)
            .expect_err("missing file");
        assert!(
            matches!(e, Error::Config { .. }) && e.to_string().contains("x.toml"),
            "{e}"
        );
    }
}
