//! The trusted-partition service: terminates the client's Noise channel, proves itself with
//! attestation evidence bound to the handshake hash, runs `[0, k)`, and forwards the feature map.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::timeout_at;
use tracing::{info, warn, Instrument};

use super::{
    Limits, Metrics, ServerHandle, Upstream, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_UPSTREAM_TIMEOUT,
};
use crate::attestation::{Attester, INSECURE_DEV};
use crate::channel::{handshake_responder, SecureChannel};
use crate::error::{io, Error, Result};
use crate::exec::{check_shape, ComputePool, PartitionExec};
use crate::link::LinkKeys;
use crate::verify::{request_rng, ResultVerifier};
use crate::wire::{
    frame_limit, Body, Frame, FrameKind, TensorMsg, DEFAULT_MAX_FRAME_BYTES, FLAG_INSECURE_DEV,
    HEADER_BYTES,
};

/// Settings of the trusted-partition service.
#[derive(Debug, Clone)]
pub struct TrustedConfig {
    /// The untrusted-partition service; `None` = "TEE-only": the trusted executor runs all layers.
    pub upstream: Option<SocketAddr>,
    /// Longest wait for the untrusted service per request.
    pub upstream_timeout: Duration,
    /// Longest time for the handshake and evidence (including the wait for an evidence slot).
    pub handshake_timeout: Duration,
    /// Largest frame on the link to the untrusted service (feature maps out, logits in), bytes; raised
    /// to the largest trace when verification is on. Client frames have the per-model limit
    /// `frame_limit(input shape, limits.max_batch)` instead.
    pub max_frame_bytes: usize,
    /// Compute threads running the partition (see [`crate::exec::ComputePool`]).
    pub compute_threads: usize,
    /// Connection, batch, timeout and queue limits.
    pub limits: Limits,
    /// Static keys of the link to the untrusted service (Noise KK, [`crate::link`]); `None` sends feature
    /// maps in the clear (`insecure-plain-link`, logged loudly).
    pub link: Option<LinkKeys>,
    /// Verify the untrusted partition's results ([`crate::verify`]); needs that partition's weights.
    pub verifier: Option<Arc<dyn ResultVerifier>>,
}

impl Default for TrustedConfig {
    fn default() -> Self {
        Self {
            upstream: None,
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            compute_threads: 1,
            limits: Limits::default(),
            link: None,
            verifier: None,
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
    recv_max: usize,
    conns: Arc<Semaphore>,
    evidence: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

/// Serves the trusted partition `front` (layers `[0, k)`, or all layers when `cfg.upstream` is `None`)
/// on `listener`, attesting with `attester`, until the handle is dropped, shut down or drained.
///
/// With the insecure development attester, prints [`INSECURE_DEV_BANNER`] to stderr, sets the
/// insecure-dev flag on every reply and runs every log line inside a span carrying `mode=insecure-dev`.
///
/// # Errors
/// [`Error::Io`] when the listener's address cannot be read, [`Error::Config`] for invalid limits or a
/// verifier without an untrusted service.
pub async fn serve_trusted(
    listener: TcpListener,
    front: Arc<dyn PartitionExec>,
    attester: Arc<dyn Attester>,
    cfg: TrustedConfig,
) -> Result<ServerHandle> {
    cfg.limits.validate()?;
    let addr = listener
        .local_addr()
        .map_err(|e| io("trusted listener", e))?;
    if cfg.verifier.is_some() && cfg.upstream.is_none() {
        return Err(Error::Config {
            what: "verification",
            reason:
                "needs an untrusted service (--untrusted); TEE-only serving has nothing to verify"
                    .into(),
        });
    }
    let dev = attester.is_insecure_dev();
    let mode = if dev { INSECURE_DEV } else { attester.name() };
    let span = tracing::info_span!("trusted", mode);
    if dev {
        eprintln!("{INSECURE_DEV_BANNER}");
    }
    let recv_max = frame_limit(&front.input_shape(), cfg.limits.max_batch)?;
    let link_max = match &cfg.verifier {
        Some(v) => cfg
            .max_frame_bytes
            .max(v.trace_bytes(cfg.limits.max_batch) + HEADER_BYTES),
        None => cfg.max_frame_bytes,
    };
    span.in_scope(|| {
        info!(%addr, partition = %front.describe(), upstream = ?cfg.upstream, attester = attester.name(),
            recv_max, verified = cfg.verifier.is_some(), "trusted-partition service listening");
        if dev {
            warn!("{INSECURE_DEV}: no TEE, evidence is unsigned, NO SECURITY");
        }
        if cfg.upstream.is_some() && cfg.link.is_none() {
            warn!("insecure-plain-link: feature maps and logits cross the link to the untrusted \
                   service IN THE CLEAR and unauthenticated; configure link keys");
        }
    });
    let metrics = Arc::new(Metrics::new("trusted"));
    let shared = Arc::new(Shared {
        pool: ComputePool::with_queue(
            cfg.compute_threads,
            cfg.limits.queue_depth,
            "trusted-compute",
        )?,
        upstream: cfg.upstream.map(|a| {
            Upstream::new(a, cfg.upstream_timeout, link_max)
                .with_link(cfg.link.clone())
                .with_queue_depth(cfg.limits.queue_depth)
                .with_max_trace(cfg.verifier.as_ref().map_or(0, |v| v.trace_len()))
        }),
        conns: Arc::new(Semaphore::new(cfg.limits.max_connections)),
        evidence: Arc::new(Semaphore::new(cfg.limits.evidence_concurrency)),
        front,
        attester,
        cfg,
        flags: if dev { FLAG_INSECURE_DEV } else { 0 },
        recv_max,
        metrics: metrics.clone(),
    });
    let (drain_tx, drain_rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, shared, drain_rx).instrument(span));
    Ok(ServerHandle::with_metrics(addr, task, drain_tx, metrics))
}

async fn accept_loop(listener: TcpListener, sh: Arc<Shared>, mut drain: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            acc = listener.accept() => match acc {
                Ok((stream, peer)) => match sh.conns.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let sh = sh.clone();
                        let drain = drain.clone();
                        conns.spawn(async move {
                            sh.metrics.connection(1);
                            if let Err(e) = handle_conn(stream, sh.clone(), drain).await {
                                warn!(%peer, "client session ended: {e}");
                            }
                            sh.metrics.connection(-1);
                            drop(permit);
                        }.in_current_span());
                    }
                    Err(_) => {
                        // Over the connection cap: close at once (no handshake, no evidence).
                        sh.metrics.rejected_handshake("connection_limit");
                        drop(stream);
                    }
                },
                Err(e) => {
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = drain.changed() => break,
        }
    }
    drop(listener);
    info!(
        open = conns.len(),
        "draining: no new connections; finishing requests in flight"
    );
    while conns.join_next().await.is_some() {}
}

async fn handle_conn(
    mut stream: TcpStream,
    sh: Arc<Shared>,
    mut drain: watch::Receiver<bool>,
) -> Result<()> {
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "client".into());
    let hs_ms = sh.cfg.handshake_timeout.as_millis() as u64;
    let deadline = tokio::time::Instant::now() + sh.cfg.handshake_timeout;
    let timed_out = |what: &'static str| {
        sh.metrics.rejected_handshake("timeout");
        Error::Timeout { what, ms: hs_ms }
    };
    let session = match timeout_at(deadline, handshake_responder(&mut stream, &peer)).await {
        Err(_) => return Err(timed_out("Noise handshake")),
        Ok(Err(e)) => {
            sh.metrics.rejected_handshake("handshake");
            return Err(e);
        }
        Ok(Ok(s)) => s,
    };
    let mut chan = SecureChannel::new(stream, session, sh.cfg.max_frame_bytes, peer.clone())
        .with_recv_limit(sh.recv_max);
    // Evidence generation is bounded: at most `evidence_concurrency` quotes at once, waited for inside
    // the handshake deadline (the blocking task keeps its permit until the quote is done).
    let permit = match timeout_at(deadline, sh.evidence.clone().acquire_owned()).await {
        Err(_) => return Err(timed_out("waiting for an evidence slot")),
        Ok(Err(_)) => return Err(Error::Exec("evidence semaphore closed".into())),
        Ok(Ok(p)) => p,
    };
    let rd = chan.session().report_data();
    let attester = sh.attester.clone();
    let job = tokio::task::spawn_blocking(move || {
        let r = attester.evidence(&rd);
        drop(permit);
        r
    });
    let evidence = match timeout_at(deadline, job).await {
        Err(_) => return Err(timed_out("attestation evidence")),
        Ok(Err(e)) => return Err(Error::Exec(format!("attester task: {e}"))),
        Ok(Ok(Err(e))) => {
            // A configured hardware backend that fails never falls back to insecure-dev evidence.
            sh.metrics.rejected_handshake("attestation");
            let mut f = Frame::error(0, &format!("trusted service cannot attest: {e}"));
            f.flags = sh.flags;
            let _ = timeout_at(deadline, chan.send(&f)).await;
            return Err(e);
        }
        Ok(Ok(Ok(e))) => e,
    };
    let json = serde_json::to_vec(&evidence).map_err(|source| Error::Json {
        what: "evidence",
        source,
    })?;
    let ev = Frame {
        kind: FrameKind::Evidence,
        flags: sh.flags,
        request_id: 0,
        body: Body::Bytes(json),
    };
    timeout_at(deadline, chan.send(&ev))
        .await
        .map_err(|_| timed_out("sending evidence"))??;
    info!(%peer, "session established, evidence sent");
    let rt = sh.cfg.limits.read_timeouts();
    loop {
        if *drain.borrow() {
            break;
        }
        let frame = tokio::select! {
            _ = drain.changed() => break,
            r = chan.recv_timed(rt) => r,
        };
        let frame = match frame {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(Error::Timeout { what, ms }) if what.starts_with("idle") => {
                info!(%peer, "closing a session idle for {ms} ms");
                break;
            }
            Err(e) => {
                // The stream cannot be resynchronised: say why (request id 0), then close.
                if matches!(e, Error::Frame { .. }) && chan.session().is_alive() {
                    let mut f = Frame::error(0, &format!("trusted service: {e}; session closed"));
                    f.flags = sh.flags;
                    if tokio::time::timeout(rt.read, chan.send(&f)).await.is_ok() {
                        chan.linger(rt.read).await;
                    }
                }
                return Err(e);
            }
        };
        let t0 = Instant::now();
        let id = frame.request_id;
        let (mut reply, result) = match (frame.kind, frame.body) {
            (FrameKind::Request, Body::Tensor(t)) => match process(&sh, t).await {
                Ok(out) => (Frame::tensor(FrameKind::Response, id, out), "ok"),
                Err(e) => {
                    warn!(%peer, request_id = id, "request failed: {e}");
                    let label = match e {
                        Error::Verification { .. } => "verification_failed",
                        Error::Overloaded { .. } => "overloaded",
                        _ => "error",
                    };
                    (Frame::error(id, &format!("trusted service: {e}")), label)
                }
            },
            (k, _) => (
                Frame::error(
                    id,
                    &format!("trusted service: expected a request, got {k:?}"),
                ),
                "error",
            ),
        };
        reply.flags = sh.flags;
        sh.metrics.request(result, t0.elapsed().as_secs_f64());
        tokio::time::timeout(rt.read, chan.send(&reply))
            .await
            .map_err(|_| Error::Timeout {
                what: "sending a reply",
                ms: rt.read.as_millis() as u64,
            })??;
    }
    Ok(())
}

/// False when the untrusted service could not be reached or did not answer in time.
fn reachable(e: Option<&Error>) -> bool {
    !matches!(e, Some(Error::Upstream { .. } | Error::Timeout { .. }))
}

async fn process(sh: &Arc<Shared>, input: TensorMsg) -> Result<TensorMsg> {
    let batch = input.shape.first().copied().unwrap_or(0);
    if batch > sh.cfg.limits.max_batch {
        return Err(Error::Frame {
            what: "batch size (first axis of the input)",
            expected: format!("at most {}", sh.cfg.limits.max_batch),
            got: batch.to_string(),
        });
    }
    let front = sh.front.clone();
    let run = sh.pool.run(move || {
        check_shape("input", &front.input_shape(), &input.shape)?;
        front.run(input)
    });
    sh.metrics.set_queue_depth(sh.pool.queued());
    let features = run.await??;
    let Some(u) = &sh.upstream else {
        return Ok(features);
    };
    match &sh.cfg.verifier {
        None => {
            let r = u.call(features).await;
            sh.metrics.set_upstream_ok(reachable(r.as_ref().err()));
            r
        }
        Some(v) => {
            let r = u.call_trace(features.clone()).await;
            sh.metrics.set_upstream_ok(reachable(r.as_ref().err()));
            let trace = r?;
            let v = v.clone();
            sh.pool
                .run(move || v.verify(&features, &trace, &mut request_rng()))
                .await?
        }
    }
}
