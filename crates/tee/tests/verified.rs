//! Verified results (Freivalds' check of every linear layer, `privsplit_tee::verify`): the small CNN
//! served split over loopback with an honest and with a tampering untrusted service, and ResNet-50's layer
//! kinds (stem, bottlenecks with and without projection, head) checked directly.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report
#![cfg(feature = "staged")]

mod common;

use common::{client, local};

use std::sync::Arc;
use std::time::Instant;

use burn::tensor::Device;
use privsplit_models::zoo::{build, ArchConfig};
use privsplit_tee::attestation::InsecureDevAttester;
use privsplit_tee::exec::PartitionExec;
use privsplit_tee::model::ModelSpec;
use privsplit_tee::service::{
    serve_trusted, serve_untrusted, ServerHandle, TrustedConfig, UntrustedConfig,
};
use privsplit_tee::verify::{trace_partition, ResultVerifier, StagedVerifier, VerifyConfig};
use privsplit_tee::TensorMsg;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// Perturbs one value of the trace: tensor `layer` (`None` = the last one, the logits), entry chosen
/// per request, by `delta`.
struct Tamper {
    inner: Arc<dyn PartitionExec>,
    layer: Option<usize>,
    delta: f32,
    count: std::sync::atomic::AtomicUsize,
}

impl PartitionExec for Tamper {
    fn input_shape(&self) -> Vec<usize> {
        self.inner.input_shape()
    }
    fn run(&self, input: TensorMsg) -> privsplit_tee::Result<TensorMsg> {
        self.inner.run(input)
    }
    fn describe(&self) -> String {
        format!("tampering {}", self.inner.describe())
    }
    fn run_traced(&self, input: TensorMsg) -> privsplit_tee::Result<Vec<TensorMsg>> {
        let mut t = self.inner.run_traced(input)?;
        let n = self
            .count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let l = self.layer.unwrap_or(t.len() - 1);
        let len = t[l].data.len();
        t[l].data[(n * 7) % len] += self.delta;
        Ok(t)
    }
}

fn input(i: usize) -> TensorMsg {
    TensorMsg::new(
        vec![1, 1, 28, 28],
        (0..784)
            .map(|j| ((j * 31 + i * 17) % 101) as f32 / 101.0)
            .collect(),
    )
    .unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    spec: ModelSpec,
    k: usize,
}

fn small_cnn() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("cnn.safetensors");
    let model = build(&ArchConfig::small_cnn(), &Device::flex()).unwrap();
    privsplit_models::weights::save_model(&model, &w).unwrap();
    Setup {
        spec: ModelSpec::parse("small-cnn", Some(w)).unwrap(),
        _dir: dir,
        k: 2,
    }
}

async fn serve(
    s: &Setup,
    back: Arc<dyn PartitionExec>,
    verify: bool,
) -> (ServerHandle, ServerHandle) {
    let u = serve_untrusted(local().await, back, UntrustedConfig::default())
        .await
        .unwrap();
    let verifier = verify.then(|| s.spec.load_verifier(s.k, VerifyConfig::default()).unwrap());
    let t = serve_trusted(
        local().await,
        s.spec.load_side(s.k, true).unwrap(),
        Arc::new(InsecureDevAttester),
        TrustedConfig {
            upstream: Some(u.local_addr()),
            verifier,
            ..TrustedConfig::default()
        },
    )
    .await
    .unwrap();
    (u, t)
}

/// `n` honest requests all pass (equal to the unverified answers), `n` through a service perturbing one
/// logit by 0.5 all fail, as do `n / 4` perturbing one conv2 output; returns (honest ms, tampered ms).
async fn small_cnn_run(n: usize) -> (f64, f64) {
    let s = small_cnn();
    let honest = s.spec.load_side(s.k, false).unwrap();
    let (_u0, t0) = serve(&s, honest.clone(), false).await;
    let (_u1, t1) = serve(&s, honest.clone(), true).await;
    let (mut plain, mut checked) = (client(&t0).await, client(&t1).await);
    let start = Instant::now();
    let mut wants = Vec::new();
    for i in 0..n {
        wants.push(plain.infer(input(i)).await.unwrap().logits);
    }
    let plain_ms = start.elapsed().as_secs_f64() * 1e3 / n as f64;
    let start = Instant::now();
    for (i, want) in wants.iter().enumerate() {
        let got = checked.infer(input(i)).await.unwrap().logits;
        assert_eq!(got.shape, want.shape);
        for (a, b) in got.data.iter().zip(&want.data) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
    let honest_ms = start.elapsed().as_secs_f64() * 1e3 / n as f64;
    eprintln!(
        "small CNN k=2 end to end: unverified {plain_ms:.3} ms/request, verified {honest_ms:.3}"
    );
    assert_eq!(t1.metrics().request_count("ok"), n as u64);
    let tamper = |layer, delta| {
        Arc::new(Tamper {
            inner: honest.clone(),
            layer,
            delta,
            count: Default::default(),
        })
    };
    let (_u2, t2) = serve(&s, tamper(None, 0.5), true).await;
    let mut c = client(&t2).await;
    let start = Instant::now();
    for i in 0..n {
        let e = c.infer(input(i)).await.unwrap_err().to_string();
        assert!(
            e.contains("rejected by verification at fc2.linear"),
            "request {i}: {e}"
        );
    }
    let tampered_ms = start.elapsed().as_secs_f64() * 1e3 / n as f64;
    assert_eq!(t2.metrics().request_count("verification_failed"), n as u64);
    // Without verification the same tampering goes unnoticed.
    let (_u3, t3) = serve(&s, tamper(None, 0.5), false).await;
    let mut c = client(&t3).await;
    assert!(c.infer(input(0)).await.is_ok());
    // An intermediate layer (conv2, the first of [2, n), checked by Freivalds) perturbed by 0.5.
    let (_u4, t4) = serve(&s, tamper(Some(0), 0.5), true).await;
    let mut c = client(&t4).await;
    for i in 0..n / 4 {
        let e = c.infer(input(i)).await.unwrap_err().to_string();
        assert!(e.contains("at conv2.conv"), "{e}");
    }
    (honest_ms, tampered_ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_cnn_tampered_logit_always_rejected_honest_always_passes() {
    let (h, t) = small_cnn_run(200).await;
    eprintln!("small CNN: honest verified {h:.2} ms/request, tampered {t:.2} ms/request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full count (1,000 requests each way): run with --ignored"]
async fn small_cnn_1000_tampered_all_rejected() {
    let (h, t) = small_cnn_run(1000).await;
    eprintln!("small CNN x1000: honest verified {h:.2} ms/request, tampered {t:.2} ms/request");
}

#[test]
fn resnet50_layer_kinds_verify_and_catch_tampering() {
    let dev = Device::flex();
    let arch = ArchConfig::resnet50(32, 10).with_width(0.25);
    let model = build(&arch, &dev).unwrap();
    let n = model.num_stages();
    let k = 3; // [3, n): layer1.2, layer2.* (projection shortcut), ..., head
    let part = model.partition(k, n).unwrap();
    let v = StagedVerifier::new(
        model.partition(k, n).unwrap(),
        dev.clone(),
        VerifyConfig::default(),
    )
    .unwrap();
    let names = v.layer_names();
    assert!(names.iter().any(|n| n.ends_with("downsample")), "{names:?}");
    assert!(names.last().unwrap().ends_with("head.fc"), "{names:?}");
    let [c, h, w] = part.input_shape();
    let x = TensorMsg::new(
        vec![2, c, h, w],
        (0..2 * c * h * w)
            .map(|i| ((i * 13) % 17) as f32 / 17.0)
            .collect(),
    )
    .unwrap();
    let trace = trace_partition(&part, &dev, &x).unwrap();
    assert_eq!(trace.len(), v.trace_len());
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let out = v.verify(&x, &trace, &mut rng).unwrap();
    assert_eq!(&out, trace.last().unwrap());
    // Each perturbed layer is caught (Freivalds or recomputation), the first bad one is named.
    for l in [0, names.len() / 2, names.len() - 1] {
        let mut bad = trace.clone();
        bad[l].data[3] += 1.0 + bad[l].data[3].abs();
        let e = v.verify(&x, &bad, &mut rng).unwrap_err().to_string();
        assert!(e.contains(&names[l]), "layer {l}: {e}");
    }
    // A mis-shaped or short trace is a clear error, not a panic.
    let mut bad = trace.clone();
    bad[1] = TensorMsg::new(vec![1, 1], vec![0.0]).unwrap();
    assert!(v
        .verify(&x, &bad, &mut rng)
        .unwrap_err()
        .to_string()
        .contains("shape"));
    assert!(v.verify(&x, &trace[1..], &mut rng).is_err());
}

/// Per-request cost at the untrusted partition `[k, n)` of `arch` (random weights, batch 1): plain
/// forward vs trace (untrusted) + verification (trusted). Returns (plain, trace, verify) ms.
fn cost(arch: &ArchConfig, k: usize, reps: usize) -> (f64, f64, f64) {
    let dev = Device::flex();
    let model = build(arch, &dev).unwrap();
    let n = model.num_stages();
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("m.safetensors");
    privsplit_models::weights::save_model(&model, &w).unwrap();
    let part = model.partition(k, n).unwrap();
    let exec = privsplit_tee::model::StagedExec::new(model.partition(k, n).unwrap(), dev.clone());
    let v = StagedVerifier::new(part, dev, VerifyConfig::default()).unwrap();
    let shape = exec.input_shape();
    let per: usize = shape[1..].iter().product();
    let xs: Vec<TensorMsg> = (0..reps + 1)
        .map(|i| {
            let mut s = shape.clone();
            s[0] = 1;
            TensorMsg::new(
                s,
                (0..per)
                    .map(|j| ((j * 7 + i * 3) % 23) as f32 / 23.0)
                    .collect(),
            )
            .unwrap()
        })
        .collect();
    // Warm-up.
    let _ = exec.run(xs[reps].clone()).unwrap();
    let t = exec.run_traced(xs[reps].clone()).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    v.verify(&xs[reps], &t, &mut rng).unwrap();
    let t0 = Instant::now();
    for x in &xs[..reps] {
        exec.run(x.clone()).unwrap();
    }
    let plain = t0.elapsed().as_secs_f64() * 1e3 / reps as f64;
    let t0 = Instant::now();
    let traces: Vec<_> = xs[..reps]
        .iter()
        .map(|x| exec.run_traced(x.clone()).unwrap())
        .collect();
    let trace = t0.elapsed().as_secs_f64() * 1e3 / reps as f64;
    let t0 = Instant::now();
    for (x, t) in xs.iter().zip(&traces) {
        v.verify(x, t, &mut rng).unwrap();
    }
    let verify = t0.elapsed().as_secs_f64() * 1e3 / reps as f64;
    (plain, trace, verify)
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture --test-threads 1"]
fn verification_cost_small_cnn_and_resnet50() {
    for (name, arch, k, reps) in [
        ("small-cnn 1x28x28", ArchConfig::small_cnn(), 2, 200),
        ("small-cnn 1x28x28", ArchConfig::small_cnn(), 1, 200),
        ("resnet-50 3x64x64", ArchConfig::resnet50(64, 1000), 1, 10),
    ] {
        let (p, t, v) = cost(&arch, k, reps);
        eprintln!(
            "{name} k={k}: untrusted plain {p:.2} ms, untrusted trace {t:.2} ms, trusted verify {v:.2} ms \
             (verify / plain = {:.2})",
            v / p
        );
    }
}
