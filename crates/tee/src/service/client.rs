//! The client: Noise handshake, evidence verification (before any input leaves), encrypted requests.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::DEFAULT_HANDSHAKE_TIMEOUT;
use crate::attestation::{Claims, Evidence, Verifier};
use crate::channel::{handshake_initiator, SecureChannel};
use crate::error::{attest, io, AttestReason, Error, Result};
use crate::wire::{Body, Frame, FrameKind, TensorMsg, DEFAULT_MAX_FRAME_BYTES};

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Limit for connect + handshake + evidence.
    pub handshake_timeout: Duration,
    /// Limit per request (covers the trusted service's wait on the untrusted one).
    pub request_timeout: Duration,
    /// Largest frame, bytes.
    pub max_frame_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            request_timeout: Duration::from_secs(15),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

/// One answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Logits `[batch, classes]`.
    pub logits: TensorMsg,
    /// The server marked the reply insecure-dev (no TEE).
    pub insecure_dev: bool,
}

impl Prediction {
    /// Arg-max class per batch row.
    pub fn classes(&self) -> Vec<usize> {
        let batch = self.logits.shape.first().copied().unwrap_or(1).max(1);
        let c = (self.logits.data.len() / batch).max(1);
        self.logits
            .data
            .chunks(c)
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold(
                        (0, f32::NEG_INFINITY),
                        |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                    )
                    .0
            })
            .collect()
    }
}

/// A verified, encrypted session with a trusted-partition service.
#[derive(Debug)]
pub struct Client {
    chan: SecureChannel<TcpStream>,
    claims: Claims,
    cfg: ClientConfig,
    next_id: u64,
    handshake: Duration,
    broken: bool,
}

impl Client {
    /// Connects, runs the Noise handshake, receives the evidence and verifies it with `verifier`
    /// against `SHA-512(domain || handshake hash)`. No input is sent before this succeeds.
    ///
    /// # Errors
    /// [`Error::Io`] / [`Error::Timeout`] for connection problems, [`Error::Channel`] for handshake
    /// failures, [`Error::Attestation`] when the evidence is rejected, [`Error::Remote`] when the
    /// service reports that it cannot attest.
    pub async fn connect(
        addr: SocketAddr,
        verifier: &dyn Verifier,
        cfg: ClientConfig,
    ) -> Result<Self> {
        let t0 = Instant::now();
        let ms = cfg.handshake_timeout.as_millis() as u64;
        let fut = async {
            let mut stream = TcpStream::connect(addr)
                .await
                .map_err(|e| io(addr.to_string(), e))?;
            let _ = stream.set_nodelay(true);
            let peer = addr.to_string();
            let session = handshake_initiator(&mut stream, &peer).await?;
            let mut chan = SecureChannel::new(stream, session, cfg.max_frame_bytes, peer);
            let f = chan.recv().await?.ok_or_else(|| {
                attest(AttestReason::Source(
                    "service closed before sending evidence".into(),
                ))
            })?;
            let evidence: Evidence = match (f.kind, &f.body) {
                (FrameKind::Evidence, Body::Bytes(b)) => serde_json::from_slice(b)
                    .map_err(|e| attest(AttestReason::Parse(format!("evidence JSON: {e}"))))?,
                (FrameKind::Error, Body::Bytes(b)) => {
                    return Err(Error::Remote {
                        peer: "trusted",
                        message: String::from_utf8_lossy(b).into_owned(),
                    })
                }
                (k, _) => {
                    return Err(attest(AttestReason::Parse(format!(
                        "expected evidence, got {k:?}"
                    ))))
                }
            };
            let claims = verifier.verify(&evidence, &chan.session().report_data())?;
            if claims.insecure_dev != f.insecure_dev() {
                return Err(attest(AttestReason::Parse(
                    "insecure-dev flag of the frame disagrees with the evidence".into(),
                )));
            }
            Ok((chan, claims))
        };
        let (chan, claims) = tokio::time::timeout(cfg.handshake_timeout, fut)
            .await
            .map_err(|_| Error::Timeout {
                what: "connect, handshake and attestation",
                ms,
            })??;
        Ok(Self {
            chan,
            claims,
            cfg,
            next_id: 1,
            handshake: t0.elapsed(),
            broken: false,
        })
    }

    /// What the verifier established about the service.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// Wall time of connect + handshake + evidence verification.
    pub fn handshake_time(&self) -> Duration {
        self.handshake
    }

    /// Sends `input` (e.g. `[batch, 1, 28, 28]`) and returns the logits.
    ///
    /// # Errors
    /// [`Error::Remote`] with the service's message (for example the untrusted service being down),
    /// [`Error::Timeout`], [`Error::Channel`], [`Error::Frame`] for a reply that does not match the
    /// request id or the session's insecure-dev mode.
    pub async fn infer(&mut self, input: TensorMsg) -> Result<Prediction> {
        if self.broken {
            return Err(crate::error::channel(
                crate::error::ChannelReason::SessionEnded,
            ));
        }
        let id = self.next_id;
        self.next_id += 1;
        let ms = self.cfg.request_timeout.as_millis() as u64;
        let chan = &mut self.chan;
        let f = tokio::time::timeout(self.cfg.request_timeout, async {
            chan.send(&Frame::tensor(FrameKind::Request, id, input))
                .await?;
            chan.recv().await
        })
        .await
        .map_err(|_| Error::Timeout {
            what: "trusted-service reply",
            ms,
        })
        .and_then(|r| r)
        .inspect_err(|e| {
            // A cancelled or failed read leaves the stream mid-record: the session cannot continue.
            if !matches!(e, Error::Remote { .. } | Error::Frame { .. }) {
                self.broken = true;
            }
        })?
        .ok_or_else(|| Error::Remote {
            peer: "trusted",
            message: "connection closed".into(),
        })?;
        if f.kind == FrameKind::Error && f.request_id == 0 {
            // The service refused the frame itself (for example above its size limit) and closed.
            self.broken = true;
            return Err(Error::Remote {
                peer: "trusted",
                message: match &f.body {
                    Body::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                    Body::Tensor(_) => "error".into(),
                },
            });
        }
        if f.request_id != id {
            return Err(Error::Frame {
                what: "reply request id",
                expected: id.to_string(),
                got: f.request_id.to_string(),
            });
        }
        if f.insecure_dev() != self.claims.insecure_dev {
            return Err(Error::Frame {
                what: "insecure-dev flag",
                expected: self.claims.insecure_dev.to_string(),
                got: f.insecure_dev().to_string(),
            });
        }
        match (f.kind, f.body) {
            (FrameKind::Response, Body::Tensor(t)) => Ok(Prediction {
                logits: t,
                insecure_dev: f.flags & crate::wire::FLAG_INSECURE_DEV != 0,
            }),
            (FrameKind::Error, Body::Bytes(b)) => Err(Error::Remote {
                peer: "trusted",
                message: String::from_utf8_lossy(&b).into_owned(),
            }),
            (k, _) => Err(Error::Frame {
                what: "reply kind",
                expected: "response or error".into(),
                got: format!("{k:?}"),
            }),
        }
    }
}
