//! One TOML configuration file for a service (container-friendly: mount it, pass `--config FILE`).
//! Secrets are never in it or on the command line: the link keys are named by path.
//!
//! ```toml
//! metrics = "127.0.0.1:9464"      # /metrics, /healthz, /readyz (no authentication: keep it local)
//! drain_timeout_ms = 10000         # SIGTERM: finish requests in flight for at most this long
//!
//! [limits]
//! max_batch = 8
//! max_connections = 1024
//! idle_timeout_ms = 60000
//! read_timeout_ms = 5000
//! queue_depth = 64
//! evidence_concurrency = 2
//!
//! [link]                           # Noise KK between the services (privsplit serve keygen)
//! key = "/run/secrets/trusted.key" # own key pair, mode 0600
//! peer = "/etc/privsplit/untrusted.key.pub"
//!
//! [verify]                         # trusted service: Freivalds checks of the untrusted partition
//! soundness_bits = 20
//! rel_tolerance = 1e-4
//! abs_tolerance = 1e-4
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::Limits;
use crate::error::{io, Error, Result};
use crate::link::LinkKeys;
use crate::verify::VerifyConfig;

/// `[limits]`: every field optional (defaults of [`Limits`]).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// [`Limits::max_batch`].
    pub max_batch: Option<usize>,
    /// [`Limits::max_connections`].
    pub max_connections: Option<usize>,
    /// [`Limits::idle_timeout`], ms.
    pub idle_timeout_ms: Option<u64>,
    /// [`Limits::read_timeout`], ms.
    pub read_timeout_ms: Option<u64>,
    /// [`Limits::queue_depth`].
    pub queue_depth: Option<usize>,
    /// [`Limits::evidence_concurrency`].
    pub evidence_concurrency: Option<usize>,
}

/// `[link]`: paths of the own key file and the peer's public key.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LinkFile {
    /// Own key pair (TOML, mode 0600; written by `privsplit serve keygen`).
    pub key: PathBuf,
    /// The peer service's public key file (`.pub`).
    pub peer: PathBuf,
}

/// `[verify]`: every field optional (defaults of [`VerifyConfig`]).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VerifyFile {
    /// [`VerifyConfig::soundness_bits`].
    pub soundness_bits: Option<u32>,
    /// [`VerifyConfig::rel_tolerance`].
    pub rel_tolerance: Option<f32>,
    /// [`VerifyConfig::abs_tolerance`].
    pub abs_tolerance: Option<f32>,
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    /// Address of the metrics / health HTTP endpoint.
    pub metrics: Option<SocketAddr>,
    /// Longest graceful drain after SIGTERM, ms (default 10,000).
    pub drain_timeout_ms: Option<u64>,
    /// Resource limits.
    #[serde(default)]
    pub limits: LimitsFile,
    /// Link keys; absent = frames in the clear (`insecure-plain-link`).
    pub link: Option<LinkFile>,
    /// Verification of the untrusted partition (trusted service only); absent = off.
    pub verify: Option<VerifyFile>,
}

impl ServeFile {
    /// Reads and parses `path`.
    ///
    /// # Errors
    /// [`Error::Io`] when unreadable, [`Error::Config`] naming the TOML problem (unknown keys included).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        toml::from_str(&text).map_err(|e| Error::Config {
            what: "config file",
            reason: format!("{}: {e}", path.display()),
        })
    }

    /// The limits, defaults filled in.
    ///
    /// # Errors
    /// As [`Limits::validate`].
    pub fn limits(&self) -> Result<Limits> {
        let d = Limits::default();
        let l = &self.limits;
        let ms = |v: Option<u64>, d: Duration| v.map(Duration::from_millis).unwrap_or(d);
        let out = Limits {
            max_batch: l.max_batch.unwrap_or(d.max_batch),
            max_connections: l.max_connections.unwrap_or(d.max_connections),
            idle_timeout: ms(l.idle_timeout_ms, d.idle_timeout),
            read_timeout: ms(l.read_timeout_ms, d.read_timeout),
            queue_depth: l.queue_depth.unwrap_or(d.queue_depth),
            evidence_concurrency: l.evidence_concurrency.unwrap_or(d.evidence_concurrency),
        };
        out.validate()?;
        Ok(out)
    }

    /// The link keys (loaded from their files), if configured.
    ///
    /// # Errors
    /// As [`LinkKeys::load`].
    pub fn link_keys(&self) -> Result<Option<LinkKeys>> {
        self.link
            .as_ref()
            .map(|l| LinkKeys::load(&l.key, &l.peer))
            .transpose()
    }

    /// The verification settings, if `[verify]` is present.
    ///
    /// # Errors
    /// As [`VerifyConfig::validate`].
    pub fn verify_config(&self) -> Result<Option<VerifyConfig>> {
        let Some(v) = &self.verify else {
            return Ok(None);
        };
        let d = VerifyConfig::default();
        let c = VerifyConfig {
            soundness_bits: v.soundness_bits.unwrap_or(d.soundness_bits),
            rel_tolerance: v.rel_tolerance.unwrap_or(d.rel_tolerance),
            abs_tolerance: v.abs_tolerance.unwrap_or(d.abs_tolerance),
        };
        c.validate()?;
        Ok(Some(c))
    }

    /// The drain deadline.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms.unwrap_or(10_000))
    }
}

/// Operations settings given on the command line, over the config file (flags of `privsplit serve`
/// with the `clap` feature).
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct ServeOptions {
    /// TOML configuration file: limits, link key paths, metrics address, verification (docs/DEPLOYMENT.md).
    #[cfg_attr(feature = "clap", arg(long))]
    pub config: Option<PathBuf>,
    /// Own link key file (`privsplit serve keygen`); with --peer-key, overrides [link] of the config.
    #[cfg_attr(feature = "clap", arg(long, requires = "peer_key"))]
    pub link_key: Option<PathBuf>,
    /// The peer service's public key file (FILE.pub) pinned for the link.
    #[cfg_attr(feature = "clap", arg(long, requires = "link_key"))]
    pub peer_key: Option<PathBuf>,
    /// Run the link without keys: feature maps and logits IN THE CLEAR, anyone may connect.
    #[cfg_attr(feature = "clap", arg(long))]
    pub insecure_plain_link: bool,
    /// Serve /metrics, /healthz and /readyz on this address (keep it on localhost / the pod network).
    #[cfg_attr(feature = "clap", arg(long))]
    pub metrics: Option<SocketAddr>,
}

impl ServeOptions {
    /// The config file (or the defaults) with these settings over it. `needs_link`: the service talks to
    /// the other partition's service, so the link must have keys unless `insecure_plain_link` says
    /// otherwise.
    ///
    /// # Errors
    /// As [`ServeFile::load`]; [`Error::Config`] when the link needs keys and has none.
    pub fn file(&self, needs_link: bool) -> Result<ServeFile> {
        let mut f = match &self.config {
            Some(p) => ServeFile::load(p)?,
            None => ServeFile::default(),
        };
        if let (Some(key), Some(peer)) = (&self.link_key, &self.peer_key) {
            f.link = Some(LinkFile {
                key: key.clone(),
                peer: peer.clone(),
            });
        }
        if self.metrics.is_some() {
            f.metrics = self.metrics;
        }
        if needs_link && f.link.is_none() && !self.insecure_plain_link {
            return Err(Error::Config {
                what: "link",
                reason: "the link between the services needs keys (--link-key FILE --peer-key FILE.pub, \
                         or [link] in --config; `privsplit serve keygen --out FILE` makes them) or an \
                         explicit --insecure-plain-link"
                    .into(),
            });
        }
        Ok(f)
    }
}

/// Runs a started service until SIGTERM / SIGINT, then drains it (requests in flight finish, at most
/// `deadline`); with `metrics_addr`, serves its metrics and probes there meanwhile. Returns whether the
/// drain finished in time.
///
/// # Errors
/// [`Error::Io`] when the metrics address cannot be bound or the signal handlers cannot be installed.
pub async fn run_until_signal(
    service: super::ServerHandle,
    metrics_addr: Option<SocketAddr>,
    deadline: Duration,
) -> Result<bool> {
    let ops = match metrics_addr {
        Some(a) => {
            let l = tokio::net::TcpListener::bind(a)
                .await
                .map_err(|e| io(a.to_string(), e))?;
            Some(super::serve_ops(l, service.metrics()).await?)
        }
        None => None,
    };
    super::shutdown_signal().await?;
    tracing::info!(
        "signal received: draining (at most {} ms)",
        deadline.as_millis()
    );
    let done = service.drain(deadline).await;
    drop(ops);
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example_and_rejects_unknown_keys() {
        let doc = include_str!("config.rs");
        let start = doc.find("//! ```toml").unwrap();
        let end = doc[start + 10..].find("//! ```").unwrap() + start + 10;
        let toml: String = doc[start..end]
            .lines()
            .skip(1)
            .map(|l| l.trim_start_matches("//!").trim_start())
            .collect::<Vec<_>>()
            .join("\n");
        let f: ServeFile = toml::from_str(&toml).unwrap();
        let l = f.limits().unwrap();
        assert_eq!(l.max_batch, 8);
        assert_eq!(l.idle_timeout, Duration::from_secs(60));
        assert_eq!(f.verify_config().unwrap().unwrap().soundness_bits, 20);
        assert_eq!(f.metrics.unwrap().port(), 9464);
        assert!(toml::from_str::<ServeFile>("max_batch = 3").is_err());
        let bad: ServeFile = toml::from_str("[limits]\nmax_batch = 0").unwrap();
        assert!(bad.limits().is_err());
    }
}
