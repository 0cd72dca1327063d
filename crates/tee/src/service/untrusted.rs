//! The untrusted-partition service: runs `[k, n)` on feature maps it receives in the clear.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::ServerHandle;
use crate::error::{io, Error, Result};
use crate::exec::{check_shape, ComputePool, PartitionExec};
use crate::wire::{
    read_frame, write_record, Body, Frame, FrameKind, TensorMsg, DEFAULT_MAX_FRAME_BYTES,
};

/// Settings of the untrusted-partition service.
#[derive(Debug, Clone)]
pub struct UntrustedConfig {
    /// Largest accepted frame, bytes.
    pub max_frame_bytes: usize,
    /// When set, every received feature map is stored here (one file per request, the frame exactly
    /// as received; [`load_dump`] reads them back) so attacks can be replayed on what the service saw.
    pub dump_dir: Option<PathBuf>,
    /// Compute threads running the partition (see [`crate::exec::ComputePool`]).
    pub compute_threads: usize,
}

impl Default for UntrustedConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            dump_dir: None,
            compute_threads: 1,
        }
    }
}

/// Serves `exec` (layers `[k, n)`) on `listener` until the returned handle is dropped or shut down.
///
/// # Errors
/// [`Error::Io`] when the listener's address cannot be read or the dump directory cannot be created.
pub async fn serve_untrusted(
    listener: TcpListener,
    exec: Arc<dyn PartitionExec>,
    cfg: UntrustedConfig,
) -> Result<ServerHandle> {
    let addr = listener
        .local_addr()
        .map_err(|e| io("untrusted listener", e))?;
    if let Some(d) = &cfg.dump_dir {
        std::fs::create_dir_all(d).map_err(|e| io(d, e))?;
    }
    info!(%addr, partition = %exec.describe(), dump = ?cfg.dump_dir, "untrusted-partition service listening");
    let pool = Arc::new(ComputePool::new(cfg.compute_threads, "untrusted-compute")?);
    let cfg = Arc::new(cfg);
    let dump_seq = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                acc = listener.accept() => match acc {
                    Ok((stream, peer)) => {
                        debug!(%peer, "untrusted: connection");
                        conns.spawn(handle_conn(stream, exec.clone(), pool.clone(), cfg.clone(), dump_seq.clone()));
                    }
                    Err(e) => warn!("untrusted: accept failed: {e}"),
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    });
    Ok(ServerHandle { addr, task })
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

async fn handle_conn(
    stream: TcpStream,
    exec: Arc<dyn PartitionExec>,
    pool: Arc<ComputePool>,
    cfg: Arc<UntrustedConfig>,
    dump_seq: Arc<AtomicU64>,
) {
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "trusted service".into());
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Frame>();
    let max = cfg.max_frame_bytes;
    let wpeer = peer.clone();
    let writer = async move {
        while let Some(f) = rx.recv().await {
            if let Err(e) = write_record(&mut wr, &f.to_bytes(), max, &wpeer).await {
                warn!("untrusted: write to {wpeer} failed: {e}");
                break;
            }
        }
    };
    let reader = async move {
        let mut jobs = JoinSet::new();
        loop {
            // Reap finished jobs without cancelling a half-read frame (read_exact is not cancel-safe).
            while jobs.try_join_next().is_some() {}
            let frame = match read_frame(&mut rd, max, &peer).await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    // The stream cannot be resynchronised after a bad record: answer and close.
                    warn!("untrusted: bad frame from {peer}: {e}");
                    let _ = tx.send(Frame::error(0, &format!("untrusted service: {e}")));
                    break;
                }
            };
            let id = frame.request_id;
            let t = match (frame.kind, &frame.body) {
                (FrameKind::Request, Body::Tensor(t)) => t.clone(),
                _ => {
                    let _ = tx.send(Frame::error(
                        id,
                        &format!(
                            "untrusted service: expected a request frame, got {:?}",
                            frame.kind
                        ),
                    ));
                    continue;
                }
            };
            if let Some(d) = &cfg.dump_dir {
                let seq = dump_seq.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = dump(d, seq, &frame) {
                    warn!("untrusted: dump failed: {e}");
                }
            }
            let exec = exec.clone();
            let tx = tx.clone();
            let pool = pool.clone();
            jobs.spawn(async move {
                let res = pool
                    .run(move || {
                        check_shape("feature map", &exec.input_shape(), &t.shape)?;
                        exec.run(t)
                    })
                    .await
                    .and_then(|r| r);
                let reply = match res {
                    Ok(out) => Frame::tensor(FrameKind::Response, id, out),
                    Err(e) => Frame::error(id, &format!("untrusted service: {e}")),
                };
                let _ = tx.send(reply);
            });
        }
        // Let in-flight jobs finish and answer before closing.
        while jobs.join_next().await.is_some() {}
    };
    tokio::join!(reader, writer);
}
