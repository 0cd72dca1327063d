//! The quadratic private network and the public head of Ryffel et al., "Partially Encrypted Machine
//! Learning using Functional Encryption", NeurIPS 2019, §3-4.
//!
//! The private part `Q` is the only layer evaluated under quadratic functional encryption:
//!
//! ```text
//! output_c(x) = sum_j q[j][c] * (p[j] . [1, x])^2        x = pixel / 255 in [0, 1], [inputs]
//! ```
//!
//! i.e. `Linear inputs -> hidden (bias)`, square, `Linear hidden -> k (no bias)`; the server only learns
//! `output(x)` `[k]` (k = 4 in the paper). The public head `C` (`ReLU -> Linear k -> 32 -> ReLU ->
//! Linear 32 -> classes`) classifies it in clear. [`QuadraticPrivate::export`] gives the weights in exactly
//! the `(p, q)` form the functional-encryption crate quantises.

use std::path::Path;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::tensor::Features;
use crate::train::{eval_rows, seeded_init, Classifier};
use crate::{Error, Result};

/// Sizes of the quadratic private network and its public head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuadraticConfig {
    /// Input size (pixels per image, 784 for 28 x 28).
    pub inputs: usize,
    /// Hidden units of the quadratic layer (the paper's 40).
    pub hidden: usize,
    /// Size `k` of the private output `output(x)` (the paper's 4).
    pub outputs: usize,
    /// Hidden units of the public head (the paper's 32).
    pub head_hidden: usize,
    /// Main-task classes (10 digits / characters).
    pub classes: usize,
}

impl QuadraticConfig {
    /// Ryffel et al. 2019, §4 (Fig. 3): 784 -> 40 -> square -> 4, public head 4 -> 32 -> 10.
    pub fn ryffel2019() -> Self {
        Self {
            inputs: 784,
            hidden: 40,
            outputs: 4,
            head_hidden: 32,
            classes: 10,
        }
    }

    /// Same architecture for images of `inputs` pixels and `classes` main-task classes.
    pub fn for_images(inputs: usize, classes: usize) -> Self {
        Self {
            inputs,
            classes,
            ..Self::ryffel2019()
        }
    }

    /// Checks that every size is > 0.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first zero size.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("inputs", self.inputs),
            ("hidden", self.hidden),
            ("outputs (k)", self.outputs),
            ("head_hidden", self.head_hidden),
            ("classes", self.classes),
        ] {
            if v == 0 {
                return Err(Error::Invalid {
                    what: format!("quadratic network: {name}"),
                    expected: "> 0".into(),
                    got: "0".into(),
                });
            }
        }
        Ok(())
    }

    /// A fresh private part on `device`, initialised from `seed` (see [`seeded_init`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the config is invalid.
    pub fn init_private(&self, device: &Device, seed: u64) -> Result<QuadraticPrivate> {
        self.validate()?;
        let m = QuadraticPrivate {
            proj: LinearConfig::new(self.inputs, self.hidden).init(device),
            out: LinearConfig::new(self.hidden, self.outputs)
                .with_bias(false)
                .init(device),
        };
        Ok(seeded_init(m, seed))
    }

    /// A fresh public head on `device`, initialised from `seed`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the config is invalid.
    pub fn init_head(&self, device: &Device, seed: u64) -> Result<PublicHead> {
        self.validate()?;
        let m = PublicHead {
            fc1: LinearConfig::new(self.outputs, self.head_hidden).init(device),
            fc2: LinearConfig::new(self.head_hidden, self.classes).init(device),
        };
        Ok(seeded_init(m, seed))
    }
}

/// The private part `Q`: `Linear inputs -> hidden (bias)`, square, `Linear hidden -> k (no bias)`.
#[derive(Module, Debug)]
pub struct QuadraticPrivate {
    proj: Linear,
    out: Linear,
}

impl QuadraticPrivate {
    /// `output(x)` `[batch, k]` of images `x` `[batch, inputs]` in `[0, 1]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.out.forward(self.proj.forward(x).square())
    }

    /// `output(x)` `[n, k]` of every row of `x` `[n, inputs]`, computed in eval mode, 512 rows at a time.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `x` is empty or its width is not the input size.
    pub fn outputs(&self, x: &Features) -> Result<Features> {
        let inputs = self.proj.weight.dims()[0];
        if x.cols != inputs {
            return Err(Error::Invalid {
                what: "private network input".into(),
                expected: format!("{inputs} features per row"),
                got: x.cols.to_string(),
            });
        }
        eval_rows(self, x, 512, |m, t| m.forward(t))
    }

    /// The weights in functional-encryption form (see [`QuadraticWeights`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] when a weight cannot be read back as `f32`.
    pub fn export(&self) -> Result<QuadraticWeights> {
        let [inputs, hidden] = self.proj.weight.dims();
        let [_, outputs] = self.out.weight.dims();
        let w = to_vec(self.proj.weight.val().into_data(), "quadratic layer weight")?; // [inputs, hidden]
        let b = match &self.proj.bias {
            Some(b) => to_vec(b.val().into_data(), "quadratic layer bias")?,
            None => vec![0.0; hidden],
        };
        let q = to_vec(self.out.weight.val().into_data(), "output layer weight")?; // [hidden, outputs]
        let mut p = vec![0.0f32; hidden * (1 + inputs)];
        for j in 0..hidden {
            p[j * (1 + inputs)] = b[j];
            for i in 0..inputs {
                p[j * (1 + inputs) + 1 + i] = w[i * hidden + j];
            }
        }
        Ok(QuadraticWeights {
            hidden,
            inputs,
            outputs,
            p,
            q,
        })
    }

    /// Saves the weights to a safetensors file at `path`, atomically (temp file + rename).
    ///
    /// # Errors
    /// [`Error::Store`] when writing fails.
    pub fn save(&self, path: &Path) -> Result<()> {
        save_module(self, path)
    }

    /// Loads weights saved by [`save`](Self::save) into a network of `cfg`'s shape on `device`.
    ///
    /// # Errors
    /// [`Error::Store`] when the file is missing, unreadable or of another shape.
    pub fn load(cfg: &QuadraticConfig, path: &Path, device: &Device) -> Result<Self> {
        load_module(cfg.init_private(device, 0)?, path)
    }
}

impl Classifier for QuadraticPrivate {
    /// `output(x)` itself (k "logits"), so the private part can be trained alone in tests.
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward(x)
    }
}

/// The public head `C`: `ReLU -> Linear k -> head_hidden -> ReLU -> Linear head_hidden -> classes`.
#[derive(Module, Debug)]
pub struct PublicHead {
    fc1: Linear,
    fc2: Linear,
}

impl PublicHead {
    /// Class logits `[batch, classes]` of private outputs `z` `[batch, k]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        self.fc2.forward(relu(self.fc1.forward(relu(z))))
    }

    /// Classes of decrypted private outputs `outputs` (row-major `[n, k]`), in clear text.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `outputs` is empty or its length is not a multiple of `k`.
    pub fn classify(&self, outputs: &[f32]) -> Result<Vec<usize>> {
        let k = self.fc1.weight.dims()[0];
        if outputs.is_empty() || !outputs.len().is_multiple_of(k) {
            return Err(Error::Invalid {
                what: "decrypted private outputs".into(),
                expected: format!("a non-empty multiple of k = {k} values"),
                got: outputs.len().to_string(),
            });
        }
        let z = Features::new(outputs.to_vec(), outputs.len() / k, k)?;
        crate::train::predict(self, &z, 1024)
    }

    /// Saves the weights to a safetensors file at `path`, atomically (temp file + rename).
    ///
    /// # Errors
    /// [`Error::Store`] when writing fails.
    pub fn save(&self, path: &Path) -> Result<()> {
        save_module(self, path)
    }

    /// Loads weights saved by [`save`](Self::save) into a head of `cfg`'s shape on `device`.
    ///
    /// # Errors
    /// [`Error::Store`] when the file is missing, unreadable or of another shape.
    pub fn load(cfg: &QuadraticConfig, path: &Path, device: &Device) -> Result<Self> {
        load_module(cfg.init_head(device, 0)?, path)
    }
}

impl Classifier for PublicHead {
    fn logits(&self, z: Tensor<2>) -> Tensor<2> {
        self.forward(z)
    }
}

/// `Q` followed by `C`: the whole main-task network, image `[batch, inputs]` to logits `[batch, classes]`.
#[derive(Module, Debug)]
pub struct SplitNetwork {
    /// The private part (encrypted at inference).
    pub private: QuadraticPrivate,
    /// The public head (clear text).
    pub head: PublicHead,
}

impl Classifier for SplitNetwork {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.head.forward(self.private.forward(x))
    }
}

/// The private part's weights in the form quadratic functional encryption evaluates:
/// `output_c(x) = sum_j q[j][c] * (p[j] . [1, x])^2` with `x = pixel / 255` (Ryffel et al. 2019, §3, Eq. 2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuadraticWeights {
    /// Hidden units (rows of `p`, rows of `q`).
    pub hidden: usize,
    /// Input size (pixels).
    pub inputs: usize,
    /// Private outputs `k` (columns of `q`).
    pub outputs: usize,
    /// Row-major `[hidden][1 + inputs]`; column 0 is the bias.
    pub p: Vec<f32>,
    /// Row-major `[hidden][outputs]`.
    pub q: Vec<f32>,
}

impl QuadraticWeights {
    /// `output(x)` `[k]` of one image `x` `[inputs]` by the formula above, in `f64` (reference for tests
    /// and for checking decrypted values).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `x.len() != inputs`.
    pub fn evaluate(&self, x: &[f32]) -> Result<Vec<f64>> {
        if x.len() != self.inputs {
            return Err(Error::Invalid {
                what: "quadratic evaluation input".into(),
                expected: format!("{} values", self.inputs),
                got: x.len().to_string(),
            });
        }
        let mut out = vec![0.0f64; self.outputs];
        for j in 0..self.hidden {
            let row = &self.p[j * (1 + self.inputs)..(j + 1) * (1 + self.inputs)];
            let s: f64 = f64::from(row[0])
                + row[1..]
                    .iter()
                    .zip(x)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum::<f64>();
            for (c, o) in out.iter_mut().enumerate() {
                *o += f64::from(self.q[j * self.outputs + c]) * s * s;
            }
        }
        Ok(out)
    }
}

fn to_vec(data: TensorData, what: &str) -> Result<Vec<f32>> {
    data.try_into_vec_as::<f32>().map_err(|e| Error::Invalid {
        what: what.into(),
        expected: "f32 tensor".into(),
        got: format!("{e:?}"),
    })
}

/// Saves `module` to `path` (safetensors), atomically ([`privsplit_io::write_atomic`]).
pub(crate) fn save_module<M: Module>(module: &M, path: &Path) -> Result<()> {
    let store_err = |e: &dyn std::fmt::Display| Error::Store {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let mut store = SafetensorsStore::from_bytes(None);
    module.save_into(&mut store).map_err(|e| store_err(&e))?;
    let bytes = store.get_bytes().map_err(|e| store_err(&e))?;
    Ok(privsplit_io::write_atomic(path, &bytes)?)
}

/// Loads `path` (safetensors) into `module`, requiring every tensor to be present.
pub(crate) fn load_module<M: Module>(mut module: M, path: &Path) -> Result<M> {
    if !path.is_file() {
        return Err(Error::Store {
            path: path.to_path_buf(),
            detail: "no such file".into(),
        });
    }
    let mut store = SafetensorsStore::from_file(path.to_path_buf());
    let res = module.load_from(&mut store).map_err(|e| Error::Store {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    if !res.errors.is_empty() || !res.missing.is_empty() {
        return Err(Error::Store {
            path: path.to_path_buf(),
            detail: format!("errors {:?}, missing {:?}", res.errors, res.missing),
        });
    }
    Ok(module)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn shapes_follow_the_paper() {
        let dev = Device::flex();
        let cfg = QuadraticConfig::ryffel2019();
        let q = cfg.init_private(&dev, 1).unwrap();
        let c = cfg.init_head(&dev, 2).unwrap();
        let x = Tensor::<2>::zeros([3, 784], &dev);
        let z = q.forward(x);
        assert_eq!(z.dims(), [3, 4]);
        assert_eq!(c.forward(z).dims(), [3, 10]);
        let w = q.export().unwrap();
        assert_eq!((w.hidden, w.inputs, w.outputs), (40, 784, 4));
        assert_eq!((w.p.len(), w.q.len()), (40 * 785, 40 * 4));
    }

    #[test]
    fn export_formula_equals_forward() {
        let dev = Device::flex();
        let cfg = QuadraticConfig {
            inputs: 50,
            hidden: 7,
            outputs: 3,
            head_hidden: 5,
            classes: 4,
        };
        let q = cfg.init_private(&dev, 11).unwrap();
        let w = q.export().unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let x: Vec<f32> = (0..5 * 50).map(|_| rng.gen_range(0.0..1.0)).collect();
        let f = Features::new(x.clone(), 5, 50).unwrap();
        let out = q.outputs(&f).unwrap();
        for r in 0..5 {
            let want = w.evaluate(&x[r * 50..(r + 1) * 50]).unwrap();
            assert_eq!((out.row(r).len(), want.len()), (3, 3));
            for (c, (&got, &want)) in out.row(r).iter().zip(&want).enumerate() {
                let got = f64::from(got);
                assert!(
                    (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "row {r} col {c}: {got} vs {want}"
                );
            }
        }
        assert!(w.evaluate(&x[..10]).is_err());
    }

    #[test]
    fn seeded_init_is_reproducible() {
        let dev = Device::flex();
        let cfg = QuadraticConfig::ryffel2019();
        let a = cfg.init_private(&dev, 5).unwrap().export().unwrap();
        let b = cfg.init_private(&dev, 5).unwrap().export().unwrap();
        let c = cfg.init_private(&dev, 6).unwrap().export().unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let bound = 1.0 / 784f32.sqrt();
        assert!(a.p.iter().all(|v| v.abs() <= bound));
    }

    #[test]
    fn save_load_round_trip_and_overwrite() {
        let dev = Device::flex();
        let cfg = QuadraticConfig {
            inputs: 20,
            hidden: 6,
            outputs: 4,
            head_hidden: 8,
            classes: 3,
        };
        let dir = std::env::temp_dir().join(format!("privsplit-quadratic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pq = dir.join("q.safetensors");
        let ph = dir.join("c.safetensors");
        let q = cfg.init_private(&dev, 1).unwrap();
        q.save(&pq).unwrap();
        let q2 = cfg.init_private(&dev, 2).unwrap();
        q2.save(&pq).unwrap(); // overwrite must work
        let back = QuadraticPrivate::load(&cfg, &pq, &dev).unwrap();
        assert_eq!(back.export().unwrap(), q2.export().unwrap());
        let c = cfg.init_head(&dev, 3).unwrap();
        c.save(&ph).unwrap();
        let cb = PublicHead::load(&cfg, &ph, &dev).unwrap();
        let z = vec![0.5, -1.0, 2.0, 0.1, 3.0, 0.0, -2.0, 1.0];
        assert_eq!(c.classify(&z).unwrap(), cb.classify(&z).unwrap());
        assert!(c.classify(&z[..3]).is_err());
        let other = QuadraticConfig {
            hidden: 9,
            ..cfg.clone()
        };
        assert!(QuadraticPrivate::load(&other, &pq, &dev).is_err());
        assert!(QuadraticPrivate::load(&cfg, &dir.join("missing.safetensors"), &dev).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
