//! The encryption step: encrypted inference of the trained private quadratic layer.
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
//! The private part is quantised once; the quantised model is returned for the run folder.
//! The keys come from the operating system's CSPRNG (they are real keys); every reported accuracy is
//! deterministic nevertheless, because decryption is exact.

use std::time::Instant;

use privsplit_data::ImageSet;
use privsplit_fe::inference::run_encrypted;
use privsplit_fe::quadratic::ciphertext_group_bytes;
use privsplit_fe::{DlogTable, FloatQuadratic, QuantConfig, QuantisedQuadratic};
use privsplit_models::quadratic::{PublicHead, QuadraticWeights};
use privsplit_models::train::accuracy;
use serde::{Deserialize, Serialize};

use crate::collateral::TrainedSplit;
use crate::{Error, Result, StepContext};

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
    pub fn validate(&self) -> Result<()> {
        if self.samples == 0 {
            return Err(Error::invalid("encryption.samples", "> 0", "0"));
        }
        if self.p_max <= 0 || self.q_max <= 0 {
            return Err(Error::invalid(
                "encryption.p_max/q_max",
                "> 0",
                format!("{}/{}", self.p_max, self.q_max),
            ));
        }
        if !(10..=28).contains(&self.dlog_table_bits) {
            return Err(Error::invalid(
                "encryption.dlog_table_bits",
                "10..=28",
                self.dlog_table_bits.to_string(),
            ));
        }
        Ok(())
    }

    /// The quantisation ranges of this step.
    pub fn quant(&self) -> QuantConfig {
        QuantConfig {
            p_max: self.p_max,
            q_max: self.q_max,
        }
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
) -> Result<Vec<usize>> {
    check_pixels(test, model.inputs)?;
    let px = test.rows * test.cols;
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
pub fn quantise(w: &QuadraticWeights, quant: &QuantConfig) -> Result<QuantisedQuadratic> {
    QuantisedQuadratic::from_float(&to_float(w), quant).step("quantising the private part")
}

fn check_pixels(test: &ImageSet, inputs: usize) -> Result<()> {
    let px = test.rows * test.cols;
    if px != inputs {
        return Err(Error::invalid(
            "test images",
            format!("{inputs} pixels for the private layer"),
            px.to_string(),
        ));
    }
    Ok(())
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

/// What the step produced: the measurements and the quantised private part (for the run folder).
#[derive(Clone, Debug)]
pub struct EncryptionRun {
    /// The measurements.
    pub outcome: EncryptionOutcome,
    /// The quantised private part the protocol ran on.
    pub model: QuantisedQuadratic,
}

/// Runs the step on the trained split and the test split.
///
/// # Errors
/// [`Error::Invalid`] on a bad config or a model/test-set size mismatch; [`Error::Fe`] when a
/// cryptographic step fails; [`Error::Invalid`] when decrypted outputs differ from the quantised plaintext
/// outputs (a correctness bug, never a statistic).
pub fn run(
    cfg: &EncryptionConfig,
    trained: &TrainedSplit,
    weights: &QuadraticWeights,
    test: &ImageSet,
) -> Result<EncryptionRun> {
    cfg.validate()?;
    check_pixels(test, weights.inputs)?;
    let px = test.rows * test.cols;
    let quant = cfg.quant();
    let model = quantise(weights, &quant)?;
    let float_out = trained
        .private
        .outputs(&privsplit_models::tensor::Features::from_images(test)?)?;
    let float_pred = trained.head.classify(&float_out.data)?;
    let quant_pred = quantised_predictions(&model, &trained.head, test)?;

    // The protocol on a sample: real keys, encryption under the public key, decryption with the functional key.
    let n = cfg.samples.min(test.n);
    let t = Instant::now();
    let table =
        DlogTable::build(1u64 << cfg.dlog_table_bits).step("building the discrete-log table")?;
    let dlog_table_ms = t.elapsed().as_secs_f64() * 1e3;
    let run = run_encrypted(
        &to_float(weights),
        &quant,
        &test.pixels[..n * px],
        &table,
        &mut rand::rngs::OsRng,
    )
    .step("encrypted inference of the private part")?;
    if !run.all_equal {
        return Err(Error::invalid(
            "encrypted inference",
            "decrypted outputs equal to the quantised plaintext outputs",
            "a difference (a correctness bug)",
        ));
    }
    let t = Instant::now();
    let flat: Vec<f32> = run
        .outputs
        .iter()
        .flat_map(|d| d.dequantised.iter().copied())
        .collect();
    let enc_pred = trained.head.classify(&flat)?;
    let classify_ms = t.elapsed().as_secs_f64() * 1e3;

    let outcome = EncryptionOutcome {
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
    };
    Ok(EncryptionRun { outcome, model })
}
