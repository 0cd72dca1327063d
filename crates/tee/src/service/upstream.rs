//! The trusted service's connection to the untrusted-partition service: one multiplexed TCP
//! connection (requests tagged by request id), re-established on demand after a failure.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tracing::warn;

use crate::error::{Error, Result};
use crate::link::{link_initiator, LinkKeys, LinkRx, LinkTx};
use crate::verify::parse_tensors;
use crate::wire::{Body, Frame, FrameKind, TensorMsg, FLAG_TRACE};

/// What the untrusted service answered.
enum Reply {
    Logits(TensorMsg),
    Trace(Vec<TensorMsg>),
}

type Waiter = oneshot::Sender<Result<Reply>>;

#[derive(Default)]
struct Pending {
    alive: bool,
    waiters: HashMap<u64, Waiter>,
}

struct Conn {
    tx: mpsc::Sender<Frame>,
    pending: Arc<Mutex<Pending>>,
    tasks: Vec<AbortHandle>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn fail_all(pending: &Mutex<Pending>, addr: &str, reason: &str) {
    let waiters = match pending.lock() {
        Ok(mut p) => {
            p.alive = false;
            std::mem::take(&mut p.waiters)
        }
        Err(_) => return,
    };
    for (_, w) in waiters {
        let _ = w.send(Err(Error::Upstream {
            addr: addr.to_string(),
            reason: reason.to_string(),
        }));
    }
}

/// Client of the untrusted-partition service.
pub struct Upstream {
    addr: SocketAddr,
    timeout: Duration,
    max_frame_bytes: usize,
    link: Option<LinkKeys>,
    queue_depth: usize,
    max_trace: usize,
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("addr", &self.addr)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// A client for the service at `addr`; each call waits at most `timeout`; frames up to
    /// `max_frame_bytes` both ways; in the clear until [`Upstream::with_link`] sets keys.
    pub fn new(addr: SocketAddr, timeout: Duration, max_frame_bytes: usize) -> Self {
        Self {
            addr,
            timeout,
            max_frame_bytes,
            link: None,
            queue_depth: crate::exec::DEFAULT_QUEUE_DEPTH,
            max_trace: 0,
            conn: tokio::sync::Mutex::new(None),
            next_id: AtomicU64::new(1),
        }
    }

    /// Runs the Noise KK link handshake with `keys` on every connection (`None`: in the clear).
    pub fn with_link(mut self, keys: Option<LinkKeys>) -> Self {
        self.link = keys;
        self
    }

    /// At most `depth` (at least 1) requests in flight and queued for writing; more are refused with
    /// [`Error::Overloaded`].
    pub fn with_queue_depth(mut self, depth: usize) -> Self {
        self.queue_depth = depth.max(1);
        self
    }

    /// Accepts traces of at most `n` tensors ([`Upstream::call_trace`]).
    pub fn with_max_trace(mut self, n: usize) -> Self {
        self.max_trace = n;
        self
    }

    fn err(&self, reason: impl Into<String>) -> Error {
        Error::Upstream {
            addr: self.addr.to_string(),
            reason: reason.into(),
        }
    }

    async fn connection(&self) -> Result<Arc<Conn>> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            if c.pending.lock().map(|p| p.alive).unwrap_or(false) {
                return Ok(c.clone());
            }
        }
        *guard = None;
        let stream = tokio::time::timeout(self.timeout, TcpStream::connect(self.addr))
            .await
            .map_err(|_| {
                self.err(format!(
                    "connect timed out after {} ms",
                    self.timeout.as_millis()
                ))
            })?
            .map_err(|e| self.err(format!("connect failed: {e}")))?;
        let _ = stream.set_nodelay(true);
        let mut stream = stream;
        let (mut ltx, mut lrx) = match &self.link {
            Some(keys) => {
                let (s, o) = tokio::time::timeout(
                    self.timeout,
                    link_initiator(&mut stream, keys, &self.addr.to_string()),
                )
                .await
                .map_err(|_| {
                    self.err(format!(
                        "link handshake timed out after {} ms",
                        self.timeout.as_millis()
                    ))
                })??;
                (LinkTx::Sealed(s), LinkRx::Sealed(o))
            }
            None => (LinkTx::Plain, LinkRx::Plain),
        };
        let (mut rd, mut wr) = stream.into_split();
        let pending = Arc::new(Mutex::new(Pending {
            alive: true,
            waiters: HashMap::new(),
        }));
        let (tx, mut rx) = mpsc::channel::<Frame>(self.queue_depth);
        let max_trace = self.max_trace;
        let addr = self.addr.to_string();
        let max = self.max_frame_bytes;
        let (p_w, a_w) = (pending.clone(), addr.clone());
        let writer = tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if let Err(e) = ltx.send(&mut wr, &frame, max, &a_w).await {
                    warn!("upstream {a_w}: write failed: {e}");
                    fail_all(&p_w, &a_w, &format!("write failed: {e}"));
                    return;
                }
            }
        });
        let (p_r, a_r) = (pending.clone(), addr.clone());
        let reader = tokio::spawn(async move {
            loop {
                match lrx.recv(&mut rd, max, &a_r, None).await {
                    Ok(Some(f)) => {
                        let w = p_r
                            .lock()
                            .ok()
                            .and_then(|mut p| p.waiters.remove(&f.request_id));
                        let Some(w) = w else {
                            warn!(
                                "upstream {a_r}: reply for unknown request id {}",
                                f.request_id
                            );
                            continue;
                        };
                        let r = match (f.kind, f.body) {
                            (FrameKind::Response, Body::Tensor(t)) => Ok(Reply::Logits(t)),
                            (FrameKind::Trace, Body::Bytes(b)) => {
                                parse_tensors(&b, max_trace).map(Reply::Trace)
                            }
                            (FrameKind::Error, Body::Bytes(b)) => Err(Error::Remote {
                                peer: "untrusted",
                                message: String::from_utf8_lossy(&b).into_owned(),
                            }),
                            (k, _) => Err(Error::Frame {
                                what: "upstream reply kind",
                                expected: "response, trace or error".into(),
                                got: format!("{k:?}"),
                            }),
                        };
                        let _ = w.send(r);
                    }
                    Ok(None) => {
                        fail_all(&p_r, &a_r, "connection closed with the request in flight");
                        return;
                    }
                    Err(e) => {
                        fail_all(
                            &p_r,
                            &a_r,
                            &format!("connection lost with the request in flight: {e}"),
                        );
                        return;
                    }
                }
            }
        });
        let conn = Arc::new(Conn {
            tx,
            pending,
            tasks: vec![writer.abort_handle(), reader.abort_handle()],
        });
        *guard = Some(conn.clone());
        Ok(conn)
    }

    /// Sends the feature map `features` (output of `[0, k)`) and waits for the logits.
    ///
    /// # Errors
    /// [`Error::Upstream`] when the service cannot be reached or the connection is lost,
    /// [`Error::Timeout`] after the configured timeout, [`Error::Remote`] when it answers with an error,
    /// [`Error::Overloaded`] when `queue_depth` requests are already in flight, [`Error::Channel`] when
    /// the link handshake fails (the peer does not hold the pinned key).
    pub async fn call(&self, features: TensorMsg) -> Result<TensorMsg> {
        match self.call_flags(features, 0).await? {
            Reply::Logits(t) => Ok(t),
            Reply::Trace(_) => Err(Error::Frame {
                what: "upstream reply kind",
                expected: "logits".into(),
                got: "a trace".into(),
            }),
        }
    }

    /// Sends `features` asking for the trace (every linear layer's output, [`crate::verify`]).
    ///
    /// # Errors
    /// As [`Upstream::call`]; [`Error::Frame`] for a malformed trace.
    pub async fn call_trace(&self, features: TensorMsg) -> Result<Vec<TensorMsg>> {
        match self.call_flags(features, FLAG_TRACE).await? {
            Reply::Trace(t) => Ok(t),
            Reply::Logits(_) => Err(Error::Frame {
                what: "upstream reply kind",
                expected: "a trace (verification is on)".into(),
                got: "logits".into(),
            }),
        }
    }

    async fn call_flags(&self, features: TensorMsg, flags: u8) -> Result<Reply> {
        let conn = self.connection().await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (wtx, wrx) = oneshot::channel();
        {
            let mut p = conn
                .pending
                .lock()
                .map_err(|_| self.err("internal lock poisoned"))?;
            if !p.alive {
                return Err(self.err("connection lost"));
            }
            if p.waiters.len() >= self.queue_depth {
                return Err(Error::Overloaded {
                    what: "upstream requests in flight",
                    limit: self.queue_depth,
                });
            }
            p.waiters.insert(id, wtx);
        }
        let mut frame = Frame::tensor(FrameKind::Request, id, features);
        frame.flags = flags;
        let remove = || {
            if let Ok(mut p) = conn.pending.lock() {
                p.waiters.remove(&id);
            }
        };
        match conn.tx.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                remove();
                return Err(Error::Overloaded {
                    what: "upstream send queue",
                    limit: self.queue_depth,
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                remove();
                return Err(self.err("connection writer stopped"));
            }
        }
        match tokio::time::timeout(self.timeout, wrx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(self.err("connection dropped")),
            Err(_) => {
                remove();
                Err(Error::Timeout {
                    what: "untrusted-partition service reply",
                    ms: self.timeout.as_millis() as u64,
                })
            }
        }
    }
}
