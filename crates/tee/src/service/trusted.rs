//! The trusted-partition service: terminates the client's Noise channel, proves itself with
//! attestation evidence bound to the handshake hash, runs `[0, k)`, and forwards the feature map.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::{info, warn, Instrument};

use super::{ServerHandle, Upstream, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_UPSTREAM_TIMEOUT};
use crate::attestation::{Attester, INSECURE_DEV};
use crate::channel::{handshake_responder, SecureChannel};
use crate::error::{io, Error, Result};
use crate::exec::{check_shape, ComputePool, PartitionExec};
use crate::wire::{Body, Frame, FrameKind, DEFAULT_MAX_FRAME_BYTES, FLAG_INSECURE_DEV};

/// Settings of the trusted-partition service.
#[derive(Debug, Clone)]
pub struct TrustedConfig {
    /// The untrusted-partition service; `None` = "TEE-only": the trusted executor runs all layers.
    pub upstream: Option<SocketAddr>,
    /// Longest wait for the untrusted service per request.
    pub upstream_timeout: Duration,
    /// Longest time for the handshake and evidence.
    pub handshake_timeout: Duration,
    /// Largest accepted frame (plaintext), bytes.
    pub max_frame_bytes: usize,
    /// Compute threads running the partition (see [`crate::exec::ComputePool`]).
    pub compute_threads: usize,
}

impl Default for TrustedConfig {
    fn default() -> Self {
        Self {
            upstream: None,
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            compute_threads: 1,
        }
    }
}

/// The banner printed when the trusted service starts without a TEE.
pub const INSECURE_DEV_BANNER: &str = "\
################################################################################
##  insecure-dev: the trusted-partition service runs WITHOUT A TEE.           ##
##  Its attestation evidence is unsigned and proves nothing: NO SECURITY.     ##
##  Clients must pass --allow-insecure-dev; every reply is marked insecure-dev.##
################################################################################";

struct Shared {
    pool: ComputePool,
    front: Arc<dyn PartitionExec>,
    attester: Arc<dyn Attester>,
    upstream: Option<Upstream>,
    cfg: TrustedConfig,
    flags: u8,
}

/// Serves the trusted partition `front` (layers `[0, k)`, or all layers when `cfg.upstream` is `None`)
/// on `listener`, attesting with `attester`, until the handle is dropped or shut down.
///
/// With the insecure development attester, prints [`INSECURE_DEV_BANNER`] to stderr, sets the
/// insecure-dev flag on every reply and runs every log line inside a span carrying `mode=insecure-dev`.
///
/// # Errors
/// [`Error::Io`] when the listener's address cannot be read.
pub async fn serve_trusted(
    listener: TcpListener,
    front: Arc<dyn PartitionExec>,
    attester: Arc<dyn Attester>,
    cfg: TrustedConfig,
) -> Result<ServerHandle> {
    let addr = listener
        .local_addr()
        .map_err(|e| io("trusted listener", e))?;
    let dev = attester.is_insecure_dev();
    let mode = if dev { INSECURE_DEV } else { attester.name() };
    let span = tracing::info_span!("trusted", mode);
    if dev {
        eprintln!("{INSECURE_DEV_BANNER}");
    }
    span.in_scope(|| {
        info!(%addr, partition = %front.describe(), upstream = ?cfg.upstream, attester = attester.name(),
            "trusted-partition service listening");
        if dev {
            warn!("{INSECURE_DEV}: no TEE, evidence is unsigned, NO SECURITY");
        }
    });
    let shared = Arc::new(Shared {
        pool: ComputePool::new(cfg.compute_threads, "trusted-compute")?,
        upstream: cfg
            .upstream
            .map(|a| Upstream::new(a, cfg.upstream_timeout, cfg.max_frame_bytes)),
        front,
        attester,
        cfg,
        flags: if dev { FLAG_INSECURE_DEV } else { 0 },
    });
    let task = tokio::spawn(
        async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    acc = listener.accept() => match acc {
                        Ok((stream, peer)) => {
                            let sh = shared.clone();
                            conns.spawn(async move {
                                if let Err(e) = handle_conn(stream, sh).await {
                                    warn!(%peer, "client session ended: {e}");
                                }
                            }.in_current_span());
                        }
                        Err(e) => warn!("accept failed: {e}"),
                    },
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        }
        .instrument(span),
    );
    Ok(ServerHandle { addr, task })
}

async fn handle_conn(mut stream: TcpStream, sh: Arc<Shared>) -> Result<()> {
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "client".into());
    let hs_ms = sh.cfg.handshake_timeout.as_millis() as u64;
    let session = tokio::time::timeout(
        sh.cfg.handshake_timeout,
        handshake_responder(&mut stream, &peer),
    )
    .await
    .map_err(|_| Error::Timeout {
        what: "Noise handshake",
        ms: hs_ms,
    })??;
    let mut chan = SecureChannel::new(stream, session, sh.cfg.max_frame_bytes, peer.clone());
    let rd = chan.session().report_data();
    let attester = sh.attester.clone();
    let evidence = tokio::task::spawn_blocking(move || attester.evidence(&rd))
        .await
        .map_err(|e| Error::Exec(format!("attester task: {e}")))?;
    let evidence = match evidence {
        Ok(e) => e,
        Err(e) => {
            // A configured hardware backend that fails never falls back to insecure-dev evidence.
            let mut f = Frame::error(0, &format!("trusted service cannot attest: {e}"));
            f.flags = sh.flags;
            let _ = chan.send(&f).await;
            return Err(e);
        }
    };
    let json = serde_json::to_vec(&evidence).map_err(|source| Error::Json {
        what: "evidence",
        source,
    })?;
    chan.send(&Frame {
        kind: FrameKind::Evidence,
        flags: sh.flags,
        request_id: 0,
        body: Body::Bytes(json),
    })
    .await?;
    info!(%peer, "session established, evidence sent");
    while let Some(frame) = chan.recv().await? {
        let id = frame.request_id;
        let reply = match (frame.kind, frame.body) {
            (FrameKind::Request, Body::Tensor(t)) => match process(&sh, t).await {
                Ok(out) => Frame::tensor(FrameKind::Response, id, out),
                Err(e) => {
                    warn!(%peer, request_id = id, "request failed: {e}");
                    Frame::error(id, &format!("trusted service: {e}"))
                }
            },
            (k, _) => Frame::error(
                id,
                &format!("trusted service: expected a request, got {k:?}"),
            ),
        };
        let mut reply = reply;
        reply.flags = sh.flags;
        chan.send(&reply).await?;
    }
    Ok(())
}

async fn process(
    sh: &Arc<Shared>,
    input: crate::wire::TensorMsg,
) -> Result<crate::wire::TensorMsg> {
    let front = sh.front.clone();
    let features = sh
        .pool
        .run(move || {
            check_shape("input", &front.input_shape(), &input.shape)?;
            front.run(input)
        })
        .await??;
    match &sh.upstream {
        Some(u) => u.call(features).await,
        None => Ok(features),
    }
}
