//! The untrusted-partition service: runs `[k, n)` on feature maps it receives in the clear.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::{Limits, Metrics, ServerHandle, DEFAULT_HANDSHAKE_TIMEOUT};
use crate::error::{io, Error, Result};
use crate::exec::{check_shape, ComputePool, PartitionExec};
use crate::link::{link_responder, LinkKeys, LinkRx, LinkTx};
use crate::verify::encode_tensors;
use crate::wire::{
    frame_limit, Body, Frame, FrameKind, TensorMsg, DEFAULT_MAX_FRAME_BYTES, FLAG_TRACE,
};

/// Settings of the untrusted-partition service.
#[derive(Debug, Clone)]
pub struct UntrustedConfig {
    /// Largest frame sent (logits or traces), bytes. Received feature maps have the per-model limit
    /// `frame_limit(feature-map shape, limits.max_batch)`.
    pub max_frame_bytes: usize,
    /// When set, every received feature map is stored here (one file per request, the frame exactly
    /// as received; [`load_dump`] reads them back) so attacks can be replayed on what the service saw.
    pub dump_dir: Option<PathBuf>,
    /// Compute threads running the partition (see [`crate::exec::ComputePool`]).
    pub compute_threads: usize,
    /// Connection, batch, timeout and queue limits.
    pub limits: Limits,
    /// Static keys of the link (Noise KK, [`crate::link`]): only the trusted service holding the pinned
    /// key can connect. `None` accepts anyone in the clear (`insecure-plain-link`, logged loudly).
    pub link: Option<LinkKeys>,
    /// Longest time for the link handshake.
    pub handshake_timeout: Duration,
}

impl Default for UntrustedConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            dump_dir: None,
            compute_threads: 1,
            limits: Limits::default(),
            link: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

struct Ctx {
    exec: Arc<dyn PartitionExec>,
    pool: ComputePool,
    cfg: UntrustedConfig,
    dump_seq: AtomicU64,
    recv_max: usize,
    metrics: Arc<Metrics>,
}

/// Serves `exec` (layers `[k, n)`) on `listener` until the returned handle is dropped, shut down or
/// drained.
///
/// # Errors
/// [`Error::Io`] when the listener's address cannot be read or the dump directory cannot be created,
/// [`Error::Config`] for invalid limits.
pub async fn serve_untrusted(
    listener: TcpListener,
    exec: Arc<dyn PartitionExec>,
    cfg: UntrustedConfig,
) -> Result<ServerHandle> {
    cfg.limits.validate()?;
    let addr = listener
        .local_addr()
        .map_err(|e| io("untrusted listener", e))?;
    if let Some(d) = &cfg.dump_dir {
        std::fs::create_dir_all(d).map_err(|e| io(d, e))?;
    }
    let recv_max = frame_limit(&exec.input_shape(), cfg.limits.max_batch)?;
    info!(%addr, partition = %exec.describe(), dump = ?cfg.dump_dir, recv_max, "untrusted-partition service listening");
    if cfg.link.is_none() {
        warn!("insecure-plain-link: accepting feature maps IN THE CLEAR from anyone; configure link keys");
    }
    let metrics = Arc::new(Metrics::new("untrusted"));
    let conns_sem = Arc::new(Semaphore::new(cfg.limits.max_connections));
    let ctx = Arc::new(Ctx {
        pool: ComputePool::with_queue(
            cfg.compute_threads,
            cfg.limits.queue_depth,
            "untrusted-compute",
        )?,
        exec,
        cfg,
        dump_seq: AtomicU64::new(0),
        recv_max,
        metrics: metrics.clone(),
    });
    let (drain_tx, mut drain_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                acc = listener.accept() => match acc {
                    Ok((stream, peer)) => match conns_sem.clone().try_acquire_owned() {
                        Ok(permit) => {
                            debug!(%peer, "untrusted: connection");
                            let (ctx, drain) = (ctx.clone(), drain_rx.clone());
                            conns.spawn(async move {
                                ctx.metrics.connection(1);
                                handle_conn(stream, ctx.clone(), drain).await;
                                ctx.metrics.connection(-1);
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            ctx.metrics.rejected_handshake("connection_limit");
                            drop(stream);
                        }
                    },
                    Err(e) => {
                        warn!("untrusted: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
                _ = drain_rx.changed() => break,
            }
        }
        drop(listener);
        while conns.join_next().await.is_some() {}
    });
    Ok(ServerHandle::with_metrics(addr, task, drain_tx, metrics))
}

fn dump(dir: &Path, seq: u64, frame: &Frame) -> Result<()> {
    let name = format!("features-{seq:010}.frame");
    let path = dir.join(&name);
    privsplit_io::write_atomic(&path, &frame.to_bytes())
        .map_err(|e| io(&path, std::io::Error::other(e)))
}

/// Reads back the feature maps stored by `--dump-features DIR`, in arrival order.
///
/// # Errors
/// [`Error::Io`] for unreadable files, [`Error::Frame`] for files that are not frames.
pub fn load_dump(dir: &Path) -> Result<Vec<TensorMsg>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "frame"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| {
            let b = std::fs::read(p).map_err(|e| io(p, e))?;
            match Frame::parse(&b)?.body {
                Body::Tensor(t) => Ok(t),
                Body::Bytes(_) => Err(Error::Frame {
                    what: "dumped frame",
                    expected: "a tensor".into(),
                    got: "bytes".into(),
                }),
            }
        })
        .collect()
}

async fn handle_conn(mut stream: TcpStream, ctx: Arc<Ctx>, mut drain: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "trusted service".into());
    let (mut ltx, mut lrx) = match &ctx.cfg.link {
        Some(keys) => {
            let hs = link_responder(&mut stream, keys, &peer);
            match tokio::time::timeout(ctx.cfg.handshake_timeout, hs).await {
                Ok(Ok((s, o))) => (LinkTx::Sealed(s), LinkRx::Sealed(o)),
                Ok(Err(e)) => {
                    ctx.metrics.rejected_handshake("handshake");
                    warn!("untrusted: link handshake with {peer} refused: {e}");
                    return;
                }
                Err(_) => {
                    ctx.metrics.rejected_handshake("timeout");
                    warn!("untrusted: link handshake with {peer} timed out");
                    return;
                }
            }
        }
        None => (LinkTx::Plain, LinkRx::Plain),
    };
    let (mut rd, mut wr) = stream.into_split();
    let depth = ctx.cfg.limits.queue_depth;
    let (tx, mut rx) = mpsc::channel::<Frame>(depth);
    let send_max = ctx.cfg.max_frame_bytes;
    let wpeer = peer.clone();
    let writer = async move {
        while let Some(f) = rx.recv().await {
            if let Err(e) = ltx.send(&mut wr, &f, send_max, &wpeer).await {
                warn!("untrusted: write to {wpeer} failed: {e}");
                break;
            }
        }
    };
    let rt = ctx.cfg.limits.read_timeouts();
    let reader = async move {
        let mut jobs = JoinSet::new();
        loop {
            // Reap finished jobs; with `depth` jobs in flight, stop reading until one finishes.
            while jobs.try_join_next().is_some() {}
            if jobs.len() >= depth {
                jobs.join_next().await;
                continue;
            }
            if *drain.borrow() {
                break;
            }
            let next = tokio::select! {
                _ = drain.changed() => break,
                r = lrx.recv(&mut rd, ctx.recv_max, &peer, Some(rt)) => r,
            };
            let frame = match next {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(Error::Timeout { what, .. }) if what.starts_with("idle") => break,
                Err(e) => {
                    // The stream cannot be resynchronised after a bad record: answer and close.
                    warn!("untrusted: bad frame from {peer}: {e}");
                    let _ = tx
                        .send(Frame::error(0, &format!("untrusted service: {e}")))
                        .await;
                    break;
                }
            };
            let id = frame.request_id;
            let t = match (frame.kind, &frame.body) {
                (FrameKind::Request, Body::Tensor(t)) => t.clone(),
                _ => {
                    let _ = tx
                        .send(Frame::error(
                            id,
                            &format!(
                                "untrusted service: expected a request frame, got {:?}",
                                frame.kind
                            ),
                        ))
                        .await;
                    continue;
                }
            };
            if let Some(d) = &ctx.cfg.dump_dir {
                let seq = ctx.dump_seq.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = dump(d, seq, &frame) {
                    warn!("untrusted: dump failed: {e}");
                }
            }
            let trace = frame.flags & FLAG_TRACE != 0;
            let (tx, ctx) = (tx.clone(), ctx.clone());
            jobs.spawn(async move {
                let t0 = Instant::now();
                let reply = run_one(&ctx, t, id, trace).await;
                let label = if reply.kind == FrameKind::Error {
                    "error"
                } else {
                    "ok"
                };
                ctx.metrics.request(label, t0.elapsed().as_secs_f64());
                let _ = tx.send(reply).await;
            });
        }
        // Let in-flight jobs finish and answer before closing.
        while jobs.join_next().await.is_some() {}
    };
    tokio::join!(reader, writer);
}

async fn run_one(ctx: &Arc<Ctx>, t: TensorMsg, id: u64, trace: bool) -> Frame {
    let batch = t.shape.first().copied().unwrap_or(0);
    if batch > ctx.cfg.limits.max_batch {
        return Frame::error(
            id,
            &format!(
                "untrusted service: batch {batch} exceeds the limit {}",
                ctx.cfg.limits.max_batch
            ),
        );
    }
    let exec = ctx.exec.clone();
    let res = ctx
        .pool
        .run(move || {
            check_shape("feature map", &exec.input_shape(), &t.shape)?;
            if trace {
                exec.run_traced(t).map(|ts| Frame {
                    kind: FrameKind::Trace,
                    flags: 0,
                    request_id: id,
                    body: Body::Bytes(encode_tensors(&ts)),
                })
            } else {
                exec.run(t)
                    .map(|out| Frame::tensor(FrameKind::Response, id, out))
            }
        })
        .await
        .and_then(|r| r);
    ctx.metrics.set_queue_depth(ctx.pool.queued());
    res.unwrap_or_else(|e| Frame::error(id, &format!("untrusted service: {e}")))
}
