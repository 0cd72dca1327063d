//! What the services run: a partition of a layer-indexed model behind [`PartitionExec`].
//!
//! The trusted-partition service runs layers `[0, k)`, the untrusted-partition service `[k, n)`.
//! [`ToyMlp`] is a tiny deterministic multilayer perceptron (seeded weights, no training) used by the
//! load and fault tests and as a smoke model; [`crate::staged`] adapts the real staged models.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::wire::TensorMsg;

/// One side of a split model, as the services see it.
pub trait PartitionExec: Send + Sync {
    /// Input shape with the batch axis first; 0 means "any size" on that axis (normally only the batch),
    /// e.g. `[0, 1, 28, 28]` = `[batch, channels, height, width]`.
    fn input_shape(&self) -> Vec<usize>;
    /// Runs the partition on a batch.
    ///
    /// # Errors
    /// [`Error::Shape`] for a wrongly shaped input; [`Error::Exec`] / [`Error::Models`] from the model.
    fn run(&self, input: TensorMsg) -> Result<TensorMsg>;
    /// A short description for logs (model name and layer range).
    fn describe(&self) -> String;
    /// Runs the partition and returns every linear layer's output (before its activation) in execution
    /// order, the last one being the partition's output: the trace checked by [`crate::verify`].
    ///
    /// # Errors
    /// [`Error::Config`] when this executor cannot report its linear layers (the default), otherwise as
    /// [`PartitionExec::run`].
    fn run_traced(&self, input: TensorMsg) -> Result<Vec<TensorMsg>> {
        let _ = input;
        Err(Error::Config {
            what: "verified results",
            reason: format!(
                "{} cannot report its linear-layer outputs (a zoo model is needed)",
                self.describe()
            ),
        })
    }
}

/// Checks `got` against `expected` (0 = any size on that axis).
///
/// # Errors
/// [`Error::Shape`] naming `what`.
pub fn check_shape(what: &'static str, expected: &[usize], got: &[usize]) -> Result<()> {
    let ok = expected.len() == got.len()
        && expected
            .iter()
            .zip(got)
            .all(|(&e, &g)| (e == 0 && g > 0) || e == g);
    if ok {
        Ok(())
    } else {
        Err(Error::Shape {
            what,
            expected: expected.to_vec(),
            got: got.to_vec(),
        })
    }
}

/// Two partitions run back to back in one process (the in-process split run, or "TEE-only" serving).
pub struct ChainExec {
    /// Runs first.
    pub first: Arc<dyn PartitionExec>,
    /// Runs on the first one's output.
    pub second: Arc<dyn PartitionExec>,
}

impl PartitionExec for ChainExec {
    fn input_shape(&self) -> Vec<usize> {
        self.first.input_shape()
    }
    fn run(&self, input: TensorMsg) -> Result<TensorMsg> {
        self.second.run(self.first.run(input)?)
    }
    fn describe(&self) -> String {
        format!("{} + {}", self.first.describe(), self.second.describe())
    }
}

/// A tiny deterministic MLP: layer `i` is `y = W_i x + b_i`, followed by ReLU except after the last
/// layer. Weights are drawn from a SplitMix64 stream (Steele et al., "Fast splittable pseudorandom
/// number generators", OOPSLA 2014) seeded by `seed`, uniform in `[-1/sqrt(fan_in), 1/sqrt(fan_in))`.
#[derive(Debug, Clone)]
pub struct ToyMlp {
    dims: Vec<usize>,
    weights: Vec<Vec<f32>>,
    biases: Vec<Vec<f32>>,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl ToyMlp {
    /// An MLP with layer widths `dims` (`dims.len() - 1` layers), weights from `seed`.
    ///
    /// # Errors
    /// [`Error::Config`] when fewer than two widths or a zero width is given.
    pub fn new(dims: &[usize], seed: u64) -> Result<Self> {
        if dims.len() < 2 || dims.contains(&0) {
            return Err(Error::Config {
                what: "toy MLP widths",
                reason: format!("need at least two positive widths, got {dims:?}"),
            });
        }
        let mut s = seed;
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for w in dims.windows(2) {
            let (fi, fo) = (w[0], w[1]);
            let scale = 1.0 / (fi as f32).sqrt();
            let mut u =
                || ((splitmix(&mut s) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale;
            weights.push((0..fi * fo).map(|_| u()).collect());
            biases.push((0..fo).map(|_| u()).collect());
        }
        Ok(Self {
            dims: dims.to_vec(),
            weights,
            biases,
        })
    }

    /// Number of layers (stages) `n`.
    pub fn num_layers(&self) -> usize {
        self.weights.len()
    }

    /// Runs layers `[from, to)` on `x` of shape `[batch, dims[from]]`.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad range, [`Error::Shape`] for a bad input.
    pub fn forward_range(&self, x: &TensorMsg, from: usize, to: usize) -> Result<TensorMsg> {
        if from >= to || to > self.num_layers() {
            return Err(Error::Config {
                what: "layer range",
                reason: format!("[{from}, {to}) is not inside [0, {})", self.num_layers()),
            });
        }
        check_shape("toy MLP input", &[0, self.dims[from]], &x.shape)?;
        let batch = x.shape[0];
        let mut cur = x.data.clone();
        for l in from..to {
            let (fi, fo) = (self.dims[l], self.dims[l + 1]);
            let w = &self.weights[l];
            let b = &self.biases[l];
            let mut next = vec![0f32; batch * fo];
            for r in 0..batch {
                let xin = &cur[r * fi..(r + 1) * fi];
                for o in 0..fo {
                    let row = &w[o * fi..(o + 1) * fi];
                    let mut acc = b[o];
                    for (a, c) in row.iter().zip(xin) {
                        acc += a * c;
                    }
                    next[r * fo + o] = if l + 1 < self.num_layers() {
                        acc.max(0.0)
                    } else {
                        acc
                    };
                }
            }
            cur = next;
        }
        TensorMsg::new(vec![batch, self.dims[to]], cur)
    }
}

/// Layers `[from, to)` of a shared [`ToyMlp`], optionally slowed down by `delay` per call (fault tests).
#[derive(Debug, Clone)]
pub struct ToyPartition {
    model: Arc<ToyMlp>,
    from: usize,
    to: usize,
    delay: Duration,
}

impl ToyPartition {
    /// Layers `[from, to)` of `model`.
    ///
    /// # Errors
    /// [`Error::Config`] for a range outside the model.
    pub fn new(model: Arc<ToyMlp>, from: usize, to: usize) -> Result<Self> {
        if from >= to || to > model.num_layers() {
            return Err(Error::Config {
                what: "layer range",
                reason: format!("[{from}, {to}) is not inside [0, {})", model.num_layers()),
            });
        }
        Ok(Self {
            model,
            from,
            to,
            delay: Duration::ZERO,
        })
    }

    /// The same partition, sleeping `delay` in every call.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

impl PartitionExec for ToyPartition {
    fn input_shape(&self) -> Vec<usize> {
        vec![0, self.model.dims[self.from]]
    }
    fn run(&self, input: TensorMsg) -> Result<TensorMsg> {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        self.model.forward_range(&input, self.from, self.to)
    }
    fn describe(&self) -> String {
        format!(
            "toy-mlp{:?} layers [{}, {})",
            self.model.dims, self.from, self.to
        )
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Default bound on jobs waiting for a compute thread.
pub const DEFAULT_QUEUE_DEPTH: usize = 64;

/// A fixed set of long-lived compute threads for a service's partition, with a bounded job queue.
///
/// Partitions run here rather than on tokio's blocking pool: the model's per-thread state (allocator
/// caches, packing buffers of the matrix kernels) stays warm on the same few threads, which at batch 1
/// halves the latency of a small CNN partition compared with hopping between blocking-pool threads
/// (measured: docs/BENCHMARKS.md). At most `queue_depth` jobs wait; a job beyond that is refused with
/// [`Error::Overloaded`] (load shedding, not an unbounded queue). A job that panics is caught
/// (`catch_unwind`): its caller gets [`Error::Exec`] and the thread goes on serving. The threads end when
/// the pool is dropped.
pub struct ComputePool {
    tx: std::sync::Mutex<std::sync::mpsc::SyncSender<Job>>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
    depth: usize,
}

impl std::fmt::Debug for ComputePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputePool")
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

impl ComputePool {
    /// Starts `threads` (at least 1) compute threads named `name-<i>` with room for
    /// [`DEFAULT_QUEUE_DEPTH`] waiting jobs.
    ///
    /// # Errors
    /// [`Error::Exec`] when a thread cannot be spawned.
    pub fn new(threads: usize, name: &str) -> Result<Self> {
        Self::with_queue(threads, DEFAULT_QUEUE_DEPTH, name)
    }

    /// Starts `threads` (at least 1) compute threads with room for `queue_depth` (at least 1) waiting jobs.
    ///
    /// # Errors
    /// [`Error::Exec`] when a thread cannot be spawned.
    pub fn with_queue(threads: usize, queue_depth: usize, name: &str) -> Result<Self> {
        let depth = queue_depth.max(1);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(depth);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || loop {
                    // The guard is a temporary: the lock is released before the job runs.
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(j) => j(),
                        Err(_) => return,
                    }
                })
                .map_err(|e| Error::Exec(format!("spawning compute thread: {e}")))?;
        }
        Ok(Self {
            tx: std::sync::Mutex::new(tx),
            queued: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            depth,
        })
    }

    /// Jobs submitted and not yet started (the queue depth).
    pub fn queued(&self) -> usize {
        self.queued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `f` on a compute thread and waits for its result.
    ///
    /// # Errors
    /// [`Error::Overloaded`] when `queue_depth` jobs already wait, [`Error::Exec`] when the pool has stopped
    /// or `f` panicked (with the panic message; the compute thread survives).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        use std::sync::atomic::Ordering;
        let (otx, orx) = tokio::sync::oneshot::channel();
        let queued = self.queued.clone();
        let job: Job = Box::new(move || {
            queued.fetch_sub(1, Ordering::Relaxed);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .map_err(|p| Error::Exec(format!("compute job panicked: {}", panic_text(&*p))));
            let _ = otx.send(r);
        });
        self.queued.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .tx
            .lock()
            .map_err(|_| Error::Exec("compute pool lock poisoned".into()))?
            .try_send(job);
        if let Err(e) = sent {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(match e {
                std::sync::mpsc::TrySendError::Full(_) => Error::Overloaded {
                    what: "compute queue",
                    limit: self.depth,
                },
                std::sync::mpsc::TrySendError::Disconnected(_) => {
                    Error::Exec("compute pool stopped".into())
                }
            });
        }
        orx.await
            .map_err(|_| Error::Exec("compute job was dropped".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_then_join_equals_full_and_is_seeded() {
        let m = ToyMlp::new(&[6, 8, 5, 3], 42).unwrap();
        let x =
            TensorMsg::new(vec![2, 6], (0..12).map(|i| i as f32 / 7.0 - 0.8).collect()).unwrap();
        let full = m.forward_range(&x, 0, 3).unwrap();
        for k in 1..3 {
            let f = m.forward_range(&x, 0, k).unwrap();
            assert_eq!(m.forward_range(&f, k, 3).unwrap(), full);
        }
        // Independent check of layer 0 for row 0.
        let h0: f32 = (0..6).map(|i| m.weights[0][i] * x.data[i]).sum::<f32>() + m.biases[0][0];
        assert!((m.forward_range(&x, 0, 1).unwrap().data[0] - h0.max(0.0)).abs() < 1e-6);
        assert_eq!(ToyMlp::new(&[6, 8, 5, 3], 42).unwrap().weights, m.weights);
        assert_ne!(ToyMlp::new(&[6, 8, 5, 3], 43).unwrap().weights, m.weights);
        assert!(m
            .forward_range(&TensorMsg::new(vec![1, 5], vec![0.0; 5]).unwrap(), 0, 1)
            .is_err());
    }

    #[tokio::test]
    async fn panicking_job_fails_alone_and_the_worker_lives_on() {
        let pool = ComputePool::with_queue(1, 4, "t").unwrap();
        let e = pool
            .run(|| -> u32 { panic!("boom in a job") })
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("panicked") && e.contains("boom in a job"), "{e}");
        // The only thread still runs jobs.
        assert_eq!(pool.run(|| 41 + 1).await.unwrap(), 42);
    }

    #[tokio::test]
    async fn full_queue_is_refused_not_grown() {
        let pool = Arc::new(ComputePool::with_queue(1, 1, "t").unwrap());
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let p = pool.clone();
        let blocker = tokio::spawn(async move {
            p.run(move || {
                let _ = started_tx.send(());
                go_rx.recv().is_ok()
            })
            .await
        });
        // Wait until the blocker occupies the thread, then fill the one queue slot.
        started_rx.await.unwrap();
        let p = pool.clone();
        let queued = tokio::spawn(async move { p.run(|| 1).await });
        while pool.queued() != 1 {
            tokio::task::yield_now().await;
        }
        let e = pool.run(|| 2).await.unwrap_err().to_string();
        assert!(
            e.contains("overloaded") && e.contains("compute queue"),
            "{e}"
        );
        go_tx.send(()).unwrap();
        assert!(blocker.await.unwrap().unwrap());
        assert_eq!(queued.await.unwrap().unwrap(), 1);
    }

    #[test]
    fn shape_check() {
        assert!(check_shape("x", &[0, 1, 28, 28], &[4, 1, 28, 28]).is_ok());
        assert!(check_shape("x", &[0, 1, 28, 28], &[4, 1, 28]).is_err());
        assert!(check_shape("x", &[0, 1, 28, 28], &[4, 3, 28, 28]).is_err());
    }
}
