//! Step 3 of the main job: encrypted inference of the trained private quadratic layer.
//!
//! The glue between `privsplit_models` (which knows the network) and `privsplit_fe` (which knows integer
//! matrices): quantise the trained private part (P with its bias column, Q), evaluate the quantised model in
//! plaintext on the whole test set, then run the real protocol on a sample of test images — setup (master
//! secret key, public key), functional key for the model, encryption of each image under the public key,
//! decryption of `output(x)` with the functional key and a bounded discrete log, classification by the clear
//! public head. The decrypted integers must equal the quantised plaintext outputs exactly; any difference is
//! an error, not a statistic. Source: Ryffel et al., NeurIPS 2019, §3-4.
//!
//! The protocol itself is `privsplit_fe::inference::run_encrypted`; this step adds the accuracy comparison.
//! The keys come from the operating system's CSPRNG (they are real keys); every reported accuracy is
//! deterministic nevertheless, because decryption is exact.

use std::time::Instant;

use anyhow::{ensure, Context};
use privsplit_data::ImageSet;
use privsplit_defenses::experiment::TrainedSplit;
use privsplit_fe::inference::run_encrypted;
use privsplit_fe::quadratic::ciphertext_group_bytes;
use privsplit_fe::{DlogTable, FloatQuadratic, QuantConfig, QuantisedQuadratic};
use privsplit_models::quadratic::{PublicHead, QuadraticWeights};
use serde::{Deserialize, Serialize};

/// Settings of the encrypted-inference step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptionConfig {
    /// Run the step at all.
    pub enabled: bool,
    /// Test images encrypted and classified (the first ones of the test split).
    pub samples: usize,
    /// Largest |integer weight| of P (quantisation, see `privsplit_fe::quant`).
    pub p_max: i64,
    /// Largest |integer weight| of Q.
    pub q_max: i64,
    /// The discrete-log table has `2^dlog_table_bits` baby steps (memory/time trade-off: 2^20 is about
    /// 34 MB and a few seconds to build).
    pub dlog_table_bits: u32,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        let q = QuantConfig::default();
        Self {
            enabled: true,
            samples: 20,
            p_max: q.p_max,
            q_max: q.q_max,
            dlog_table_bits: 20,
        }
    }
}

impl EncryptionConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// Zero samples, non-positive weight ranges, or a table size outside 10..=28 bits.
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.samples > 0, "encryption.samples: expected > 0, got 0");
        ensure!(
            self.p_max > 0 && self.q_max > 0,
            "encryption.p_max/q_max: expected > 0, got {}/{}",
            self.p_max,
            self.q_max
        );
        ensure!(
            (10..=28).contains(&self.dlog_table_bits),
            "encryption.dlog_table_bits: expected 10..=28, got {}",
            self.dlog_table_bits
        );
        Ok(())
    }
}

/// What the step measured.
#[derive(Clone, Debug, Serialize)]
pub struct EncryptionOutcome {
    /// Test images in the quantised-plaintext evaluation.
    pub test_images: usize,
    /// Float model accuracy on the whole test split, in `[0, 1]`.
    pub float_accuracy: f32,
    /// Quantised model, evaluated in plaintext, on the whole test split.
    pub quantised_accuracy: f32,
    /// Encrypted images.
    pub samples: usize,
    /// Quantised-plaintext accuracy on the encrypted sample.
    pub quantised_accuracy_on_samples: f32,
    /// Accuracy of encrypted inference on the sample (must equal the line above).
    pub encrypted_accuracy: f32,
    /// Decrypted integers equal the quantised plaintext outputs for every sample and output.
    pub exact: bool,
    /// Discrete-log bound derived from the integer ranges (|output| <= bound).
    pub dlog_bound: u64,
    /// Baby steps in the discrete-log table.
    pub dlog_table_entries: u64,
    /// Size of one ciphertext's group elements (bytes, compressed points: 1 G1 + (n+1)(2 G1 + 2 G2)).
    pub ciphertext_bytes: usize,
    /// Discrete-log table build time (ms).
    pub dlog_table_ms: f64,
    /// Mean encryption time per image (ms).
    pub encrypt_ms_per_image: f64,
    /// Mean decryption (incl. discrete logs) + clear classification time per image (ms).
    pub decrypt_classify_ms_per_image: f64,
}

/// Classes predicted by the quantised private part evaluated in plaintext (exact integers, then dequantised)
/// followed by the clear public head, for every image of `test`.
///
/// # Errors
/// Images of another size than the model's inputs.
pub fn quantised_predictions(
    model: &QuantisedQuadratic,
    head: &PublicHead,
    test: &ImageSet,
) -> anyhow::Result<Vec<usize>> {
    let px = test.rows * test.cols;
    ensure!(
        px == model.inputs,
        "test images: expected {} pixels for the private layer, got {px}",
        model.inputs
    );
    let mut out = Vec::with_capacity(test.n * model.outputs);
    for img in test.pixels.chunks_exact(px) {
        out.extend(model.dequantise(&model.eval_plain(img)?));
    }
    Ok(head.classify(&out)?)
}

/// The quantised form of trained private weights.
///
/// # Errors
/// As [`QuantisedQuadratic::from_float`].
pub fn quantise(w: &QuadraticWeights, quant: &QuantConfig) -> anyhow::Result<QuantisedQuadratic> {
    QuantisedQuadratic::from_float(&to_float(w), quant).context("quantising the private part")
}

fn to_float(w: &QuadraticWeights) -> FloatQuadratic {
    FloatQuadratic {
        hidden: w.hidden,
        inputs: w.inputs,
        outputs: w.outputs,
        p: w.p.clone(),
        q: w.q.clone(),
    }
}

/// Fraction of `pred` equal to `labels`, in `[0, 1]`.
pub fn accuracy(pred: &[usize], labels: &[u8]) -> f32 {
    let ok = pred
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p == usize::from(**l))
        .count();
    ok as f32 / labels.len().max(1) as f32
}

/// Runs the step on the trained split and the test split.
///
/// # Errors
/// A model/test-set size mismatch, a failing cryptographic step, or decrypted outputs that differ from the
/// quantised plaintext outputs.
pub fn run(
    cfg: &EncryptionConfig,
    trained: &TrainedSplit,
    weights: &QuadraticWeights,
    test: &ImageSet,
) -> anyhow::Result<EncryptionOutcome> {
    cfg.validate()?;
    let px = test.rows * test.cols;
    ensure!(
        px == weights.inputs,
        "test images: expected {} pixels for the private layer, got {px}",
        weights.inputs
    );
    let quant = QuantConfig {
        p_max: cfg.p_max,
        q_max: cfg.q_max,
    };
    let model = QuantisedQuadratic::from_float(&to_float(weights), &quant)
        .context("quantising the private part")?;
    let float_out = trained
        .private
        .outputs(&privsplit_models::tensor::Features::from_images(test)?)?;
    let float_pred = trained.head.classify(&float_out.data)?;
    let quant_pred = quantised_predictions(&model, &trained.head, test)?;

    // The protocol on a sample: real keys, encryption under the public key, decryption with the functional key.
    let n = cfg.samples.min(test.n);
    let t = Instant::now();
    let table =
        DlogTable::build(1u64 << cfg.dlog_table_bits).context("building the discrete-log table")?;
    let dlog_table_ms = t.elapsed().as_secs_f64() * 1e3;
    let run = run_encrypted(
        &to_float(weights),
        &quant,
        &test.pixels[..n * px],
        &table,
        &mut rand::rngs::OsRng,
    )
    .context("encrypted inference of the private part")?;
    ensure!(
        run.all_equal,
        "encrypted inference differs from the quantised plaintext model: a correctness bug"
    );
    let t = Instant::now();
    let flat: Vec<f32> = run
        .outputs
        .iter()
        .flat_map(|d| d.dequantised.iter().copied())
        .collect();
    let enc_pred = trained.head.classify(&flat)?;
    let classify_ms = t.elapsed().as_secs_f64() * 1e3;

    Ok(EncryptionOutcome {
        test_images: test.n,
        float_accuracy: accuracy(&float_pred, &test.labels),
        quantised_accuracy: accuracy(&quant_pred, &test.labels),
        samples: n,
        quantised_accuracy_on_samples: accuracy(&quant_pred[..n], &test.labels[..n]),
        encrypted_accuracy: accuracy(&enc_pred, &test.labels[..n]),
        exact: run.all_equal,
        dlog_bound: model.dlog_bound()?,
        dlog_table_entries: table.len(),
        ciphertext_bytes: ciphertext_group_bytes(px),
        dlog_table_ms,
        encrypt_ms_per_image: run.encrypt_ms / n as f64,
        decrypt_classify_ms_per_image: (run.decrypt_ms + classify_ms) / n as f64,
    })
}
