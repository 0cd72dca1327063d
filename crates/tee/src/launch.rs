//! Blocking entry points for a command line: a service on its own tokio runtime until SIGTERM / SIGINT
//! ([`serve_until_signal`], the two services from their settings: [`TrustedLaunch`], [`UntrustedLaunch`]), the
//! requests of `privsplit infer` ([`Requests`]), and one attested client
//! session that sends them and describes every answer in one line ([`infer_blocking`]).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::attestation::sources::attester_from_spec;
use crate::attestation::Claims;
#[cfg(feature = "staged")]
use crate::attestation::Verifier;
use crate::model::ModelSpec;
use crate::service::{run_until_signal, serve_trusted, ServeFile, ServerHandle, TrustedConfig};
#[cfg(feature = "staged")]
use crate::service::{Client, ClientConfig, Prediction};
#[cfg(feature = "staged")]
use crate::wire::TensorMsg;
use crate::{Error, Result};

/// A multi-threaded tokio runtime with I/O and timers, for one blocking call.
///
/// # Errors
/// [`Error::Io`] when the runtime cannot start (no threads, no I/O driver).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            path: "the tokio runtime".into(),
            source,
        })
}

/// Binds `listen`, starts a service on it with `start`, says `"{what} on {address}"`, and runs it until
/// SIGTERM / SIGINT ([`run_until_signal`], with the metrics address and drain deadline of `file`); then
/// says whether the drain finished in time.
///
/// # Errors
/// [`Error::Io`] when `listen` cannot be bound or the runtime cannot start; the errors of `start` and
/// [`run_until_signal`].
pub fn serve_until_signal<F, Fut>(
    listen: SocketAddr,
    file: &ServeFile,
    what: &str,
    start: F,
    say: &mut dyn FnMut(&str),
) -> Result<()>
where
    F: FnOnce(tokio::net::TcpListener) -> Fut,
    Fut: Future<Output = Result<ServerHandle>>,
{
    runtime()?.block_on(async move {
        let l = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| Error::Io {
                path: listen.to_string().into(),
                source,
            })?;
        let h = start(l).await?;
        say(&format!("{what} on {}", h.local_addr()));
        let drained = run_until_signal(h, file.metrics, file.drain_timeout()).await?;
        say(&format!("stopped (drained in time: {drained})"));
        Ok(())
    })
}

/// What the trusted-partition service starts with (`privsplit serve trusted`).
#[derive(Debug)]
pub struct TrustedLaunch {
    /// The served model.
    pub model: ModelSpec,
    /// Partition point `k`: this service runs stages `[0, k)`.
    pub partition: usize,
    /// The untrusted-partition service; `None`: TEE-only, all `n` stages here (`partition` unused).
    pub untrusted: Option<SocketAddr>,
    /// Evidence source ([`crate::attestation::sources::attester_from_spec`]).
    pub attester: String,
    /// VCEK certificate (DER) for SEV-SNP when the host does not supply it.
    pub vcek: Option<PathBuf>,
    /// DCAP collateral (JSON) to attach to SGX/TDX quotes.
    pub collateral: Option<PathBuf>,
    /// Longest wait for the untrusted service per request.
    pub upstream_timeout: Duration,
    /// Verify the untrusted partition's results (needs its weights; settings from `[verify]` of `file`).
    pub verify: bool,
    /// Limits, link keys, metrics address, drain deadline and verification settings.
    pub file: ServeFile,
}

impl TrustedLaunch {
    /// Loads the trusted partition (and, with `verify` and an untrusted service, the untrusted
    /// partition's weights for the Freivalds checks), opens the evidence source, and serves on `listen`
    /// until SIGTERM / SIGINT ([`serve_until_signal`]); an insecure-dev evidence source is named in
    /// what is said.
    ///
    /// # Errors
    /// Model, weights, evidence-source and configuration errors; as [`serve_until_signal`].
    pub fn serve_until_signal(self, listen: SocketAddr, say: &mut dyn FnMut(&str)) -> Result<()> {
        let k = match self.untrusted {
            None => self.model.num_stages()?,
            Some(_) => self.partition,
        };
        let front = self.model.load_side(k, true)?;
        let attester = attester_from_spec(
            &self.attester,
            self.vcek.as_deref(),
            self.collateral.as_deref(),
        )?;
        let mode = if attester.is_insecure_dev() {
            " [insecure-dev]"
        } else {
            ""
        };
        let verifier = match (self.verify, self.untrusted) {
            (true, Some(_)) => {
                let cfg = self.file.verify_config()?.unwrap_or_default();
                Some(self.model.load_verifier(k, cfg)?)
            }
            _ => None,
        };
        let cfg = TrustedConfig {
            upstream: self.untrusted,
            upstream_timeout: self.upstream_timeout,
            limits: self.file.limits()?,
            link: self.file.link_keys()?,
            verifier,
            ..TrustedConfig::default()
        };
        let what = format!("trusted-partition service{mode}");
        let start = |l| serve_trusted(l, front, attester, cfg);
        serve_until_signal(listen, &self.file, &what, start, say)
    }
}

/// What the untrusted-partition service starts with (`privsplit serve untrusted`).
#[cfg(feature = "staged")]
#[derive(Debug)]
pub struct UntrustedLaunch {
    /// The served model.
    pub model: ModelSpec,
    /// Partition point `k`: this service runs stages `[k, n)`.
    pub partition: usize,
    /// Where the partition runs (checked before the weights are loaded).
    pub device: privsplit_models::device::DeviceChoice,
    /// Store every received feature map here (one `.frame` file per request, docs/WIRE.md).
    pub dump_dir: Option<PathBuf>,
    /// Limits, link keys, metrics address and drain deadline.
    pub file: ServeFile,
}

#[cfg(feature = "staged")]
impl UntrustedLaunch {
    /// Loads the untrusted partition on its device and serves on `listen` until SIGTERM / SIGINT
    /// ([`serve_until_signal`]).
    ///
    /// # Errors
    /// Device, model, weights and configuration errors; as [`serve_until_signal`].
    pub fn serve_until_signal(self, listen: SocketAddr, say: &mut dyn FnMut(&str)) -> Result<()> {
        let device = self.device.resolve()?;
        let back = self.model.load_side_on(self.partition, false, &device)?;
        let cfg = crate::service::UntrustedConfig {
            dump_dir: self.dump_dir,
            limits: self.file.limits()?,
            link: self.file.link_keys()?,
            ..Default::default()
        };
        let start = |l| crate::service::serve_untrusted(l, back, cfg);
        serve_until_signal(
            listen,
            &self.file,
            "untrusted-partition service",
            start,
            say,
        )
    }
}

/// Where the inputs of `privsplit infer` come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Requests {
    /// Every row of a TON_IoT CSV file, preprocessed with the model's stored preprocessing
    /// ([`crate::model::tabular_requests`]).
    Csv {
        /// The CSV file.
        csv: PathBuf,
        /// `model.safetensors.preprocess.json` of `privsplit tabular train`.
        preprocess: PathBuf,
    },
    /// PNG/JPEG photographs for an ImageNet model at `size` px ([`crate::model::image_requests`]).
    Images {
        /// The files.
        files: Vec<PathBuf>,
        /// Input size (pixels).
        size: usize,
    },
    /// Images `index..index + count` of an IDX image file, pixels scaled to `[0, 1]`, one request
    /// `[1, 1, rows, cols]` each.
    Idx {
        /// The IDX file (optionally gzipped).
        path: PathBuf,
        /// First image.
        index: usize,
        /// Number of images.
        count: usize,
    },
    /// `count` inputs uniform in `[0, 1)` of `shape` (`[channels, height, width]` or `[features]`,
    /// comma-separated) from `seed` ([`crate::bench::random_inputs`]).
    Random {
        /// The shape, e.g. `1,28,28`.
        shape: String,
        /// Number of inputs.
        count: usize,
        /// Seed.
        seed: u64,
    },
}

impl Requests {
    /// The requests, one tensor each (batch 1).
    ///
    /// # Errors
    /// [`Error::Config`] naming the input: an unreadable file, images past the end of the IDX file, a
    /// shape that is not comma-separated integers.
    #[cfg(feature = "staged")]
    pub fn load(&self) -> Result<Vec<TensorMsg>> {
        match self {
            Self::Csv { csv, preprocess } => crate::model::tabular_requests(csv, preprocess),
            Self::Images { files, size } => crate::model::image_requests(files, *size),
            Self::Idx { path, index, count } => idx_requests(path, *index, *count),
            Self::Random { shape, count, seed } => {
                let mut full = vec![1];
                for s in shape.split(',') {
                    full.push(s.trim().parse().map_err(|_| Error::Config {
                        what: "--shape",
                        reason: format!("expected comma-separated integers, got {shape:?}"),
                    })?);
                }
                crate::bench::random_inputs(&full, *count, *seed)
            }
        }
    }
}

#[cfg(feature = "staged")]
fn idx_requests(path: &std::path::Path, index: usize, count: usize) -> Result<Vec<TensorMsg>> {
    let arr = privsplit_data::idx::read_images(path).map_err(|e| Error::Config {
        what: "--idx",
        reason: format!("{}: {e}", path.display()),
    })?;
    let (n, r, c) = (arr.dims[0], arr.dims[1], arr.dims[2]);
    if index + count > n {
        return Err(Error::Config {
            what: "--index/--count",
            reason: format!("--index {index} + --count {count} exceeds the {n} images"),
        });
    }
    (index..index + count)
        .map(|i| {
            let px = &arr.data[i * r * c..(i + 1) * r * c];
            TensorMsg::new(
                vec![1, 1, r, c],
                px.iter().map(|&b| f32::from(b) / 255.0).collect(),
            )
        })
        .collect()
}

/// One line about an attested session: TEE, measurement (hex), TCB status and handshake time (ms),
/// marked when the service is insecure-dev (no TEE).
pub fn describe_claims(claims: &Claims, handshake_ms: f64) -> String {
    let mark = if claims.insecure_dev {
        " [insecure-dev: NO TEE, NO SECURITY]"
    } else {
        ""
    };
    format!(
        "attested: tee={:?} measurement={} tcb={} handshake={handshake_ms:.2} ms{mark}",
        claims.tee,
        hex::encode(&claims.measurement),
        claims.tcb_status
    )
}

/// The lines about answer `i`: the TON_IoT `type` per row when `tabular`; the top-5 ImageNet classes when
/// the model has 1000 outputs; else the arg-max classes and the logits (4 decimals).
#[cfg(feature = "staged")]
pub fn describe_prediction(i: usize, p: &Prediction, tabular: bool) -> Vec<String> {
    use privsplit_models::imagenet::{top_k, NUM_CLASSES};
    let n = p.logits.data.len();
    let mut lines = Vec::new();
    if tabular {
        let names: Vec<&str> = p
            .classes()
            .into_iter()
            .map(|c| privsplit_models::tabular::class_name(n, c).unwrap_or("?"))
            .collect();
        lines.push(format!("row {i}: type {}", names.join(",")));
    }
    if n == NUM_CLASSES {
        let top: Vec<String> = top_k(&p.logits.data, 5)
            .iter()
            .map(|t| format!("{} {:.1}%", t.name.unwrap_or("?"), 100.0 * t.probability))
            .collect();
        lines.push(format!("request {i}: top-5 {}", top.join(", ")));
        return lines;
    }
    let logits: Vec<String> = p.logits.data.iter().map(|v| format!("{v:.4}")).collect();
    lines.push(format!(
        "request {i}: class {:?} logits [{}]{}",
        p.classes(),
        logits.join(", "),
        if p.insecure_dev { " insecure-dev" } else { "" }
    ));
    lines
}

/// Connects to the trusted-partition service at `endpoint`, verifies it with `verifier`, says
/// [`describe_claims`], sends every request in order and prints [`describe_prediction`]'s lines.
///
/// # Errors
/// Connection, handshake, attestation and request errors of [`Client`]; [`Error::Io`] when the runtime
/// cannot start.
#[cfg(feature = "staged")]
pub fn infer_blocking(
    endpoint: SocketAddr,
    verifier: &dyn Verifier,
    requests: Vec<TensorMsg>,
    tabular: bool,
    say: &mut dyn FnMut(&str),
    print: &mut dyn FnMut(&str),
) -> Result<()> {
    runtime()?.block_on(async move {
        let mut c = Client::connect(endpoint, verifier, ClientConfig::default()).await?;
        say(&describe_claims(
            c.claims(),
            c.handshake_time().as_secs_f64() * 1e3,
        ));
        for (i, x) in requests.into_iter().enumerate() {
            let p = c.infer(x).await?;
            for line in describe_prediction(i, &p, tabular) {
                print(&line);
            }
        }
        Ok(())
    })
}

#[cfg(all(test, feature = "staged"))]
mod tests {
    use super::*;

    #[test]
    fn answers_are_described_by_kind_of_model() {
        let p = Prediction {
            logits: TensorMsg::new(vec![1, 3], vec![0.1, 2.0, -1.0]).unwrap(),
            insecure_dev: true,
        };
        assert_eq!(
            describe_prediction(4, &p, false),
            ["request 4: class [1] logits [0.1000, 2.0000, -1.0000] insecure-dev"]
        );
        let mut ten = vec![0.0; 10];
        ten[2] = 5.0;
        let t = Prediction {
            logits: TensorMsg::new(vec![1, 10], ten).unwrap(),
            insecure_dev: false,
        };
        let lines = describe_prediction(0, &t, true);
        let want = privsplit_models::tabular::class_name(10, 2).unwrap();
        assert_eq!(lines[0], format!("row 0: type {want}"));
        let mut imagenet = vec![0.0; 1000];
        imagenet[7] = 9.0;
        let i = Prediction {
            logits: TensorMsg::new(vec![1, 1000], imagenet).unwrap(),
            insecure_dev: false,
        };
        let lines = describe_prediction(1, &i, false);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("request 1: top-5 "), "{lines:?}");
    }

    #[test]
    fn requests_check_their_inputs() {
        let r = Requests::Random {
            shape: "2,3".into(),
            count: 2,
            seed: 1,
        };
        let xs = r.load().unwrap();
        assert_eq!(xs.len(), 2);
        assert_eq!(xs[0].shape, vec![1, 2, 3]);
        let bad = Requests::Random {
            shape: "2,x".into(),
            count: 1,
            seed: 1,
        };
        assert!(bad.load().unwrap_err().to_string().contains("--shape"));
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("images.idx");
        let arr = privsplit_data::idx::IdxArray {
            dims: vec![2, 2, 2],
            data: vec![0, 255, 0, 0, 1, 2, 3, 4],
        };
        privsplit_data::idx::write(&tmp, &arr).unwrap();
        let xs = Requests::Idx {
            path: tmp.clone(),
            index: 0,
            count: 2,
        }
        .load()
        .unwrap();
        assert_eq!(
            (xs[0].shape.clone(), xs[0].data[1]),
            (vec![1, 1, 2, 2], 1.0)
        );
        let past = Requests::Idx {
            path: tmp.clone(),
            index: 1,
            count: 2,
        };
        assert!(past
            .load()
            .unwrap_err()
            .to_string()
            .contains("exceeds the 2 images"));
    }
}
