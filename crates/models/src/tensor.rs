//! From [`ImageSet`]s and feature tables to burn tensors.
//!
//! Every network of the collateral-learning study reads flat row-major feature tables: images as
//! `[n, rows * cols]` grey levels scaled to `[0, 1]` (pixel / 255, the scaling the functional-encryption
//! crate quantises), and the private outputs `output(x)` as `[n, k]`. [`Features`] holds such a table in
//! host memory; [`Features::batch`] gathers rows into a `Tensor<2>` `[batch, cols]` on a device.

use burn::tensor::{Device, Int, Tensor, TensorData};
use privsplit_data::ImageSet;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A dense row-major table of `f32` features, `[rows, cols]` (one row per image).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Values, row-major `[rows, cols]`.
    pub data: Vec<f32>,
    /// Number of rows (images).
    pub rows: usize,
    /// Number of columns (features per image).
    pub cols: usize,
}

impl Features {
    /// Wraps `data` as a `[rows, cols]` table.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `data.len() != rows * cols`, when `cols == 0`, or when a value is not finite.
    pub fn new(data: Vec<f32>, rows: usize, cols: usize) -> Result<Self> {
        if cols == 0 || data.len() != rows * cols {
            return Err(Error::Invalid {
                what: "feature table".into(),
                expected: format!("{rows} x {cols} values with cols > 0"),
                got: format!("{} values", data.len()),
            });
        }
        if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::Invalid {
                what: "feature table".into(),
                expected: "finite values".into(),
                got: format!("{} at index {pos}", data[pos]),
            });
        }
        Ok(Self { data, rows, cols })
    }

    /// The images of `set` as `[n, rows * cols]`, each grey level divided by 255 (so in `[0, 1]`).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `set` is inconsistent (see [`check_image_set`]).
    pub fn from_images(set: &ImageSet) -> Result<Self> {
        check_image_set(set, "image set")?;
        let data = set.pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
        Ok(Self {
            data,
            rows: set.n,
            cols: set.rows * set.cols,
        })
    }

    /// Row `i`, `[cols]`. Panics never: out-of-range rows give an empty slice.
    pub fn row(&self, i: usize) -> &[f32] {
        self.data
            .get(i * self.cols..(i + 1) * self.cols)
            .unwrap_or(&[])
    }

    /// The rows `indices` as a new table `[indices.len(), cols]`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when an index is `>= rows`.
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        let mut data = Vec::with_capacity(indices.len() * self.cols);
        for &i in indices {
            if i >= self.rows {
                return Err(Error::Invalid {
                    what: "row index".into(),
                    expected: format!("< {}", self.rows),
                    got: i.to_string(),
                });
            }
            data.extend_from_slice(self.row(i));
        }
        Ok(Self {
            data,
            rows: indices.len(),
            cols: self.cols,
        })
    }

    /// Gathers rows `indices` into a tensor `[indices.len(), cols]` on `device`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when an index is `>= rows` or `indices` is empty.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Result<Tensor<2>> {
        if indices.is_empty() {
            return Err(Error::Invalid {
                what: "batch indices".into(),
                expected: "at least one row".into(),
                got: "none".into(),
            });
        }
        let sub = self.subset(indices)?;
        Ok(Tensor::from_data(
            TensorData::new(sub.data, [sub.rows, sub.cols]),
            device,
        ))
    }

    /// The whole table as a tensor `[rows, cols]` on `device`.
    pub fn to_tensor(&self, device: &Device) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(self.data.clone(), [self.rows, self.cols]),
            device,
        )
    }
}

/// Labels `labels[indices]` as an `Int` tensor `[indices.len()]` on `device`.
///
/// # Errors
/// [`Error::Invalid`] when an index is out of range.
pub fn labels_batch(labels: &[u8], indices: &[usize], device: &Device) -> Result<Tensor<1, Int>> {
    let mut out = Vec::with_capacity(indices.len());
    for &i in indices {
        let l = labels.get(i).ok_or_else(|| Error::Invalid {
            what: "label index".into(),
            expected: format!("< {}", labels.len()),
            got: i.to_string(),
        })?;
        out.push(i64::from(*l));
    }
    let n = out.len();
    Ok(Tensor::from_data(TensorData::new(out, [n]), device))
}

/// A whole [`ImageSet`] as tensors: images `[n, rows * cols]` in `[0, 1]` and main-task labels `[n]`.
///
/// # Errors
/// [`Error::Invalid`] when `set` is inconsistent (see [`check_image_set`]).
pub fn image_set_tensors(set: &ImageSet, device: &Device) -> Result<(Tensor<2>, Tensor<1, Int>)> {
    let x = Features::from_images(set)?;
    let all: Vec<usize> = (0..set.n).collect();
    let y = labels_batch(&set.labels, &all, device)?;
    Ok((x.to_tensor(device), y))
}

/// The sensitive attribute of `set` (the font), `[n]`.
///
/// # Errors
/// [`Error::Invalid`] naming `what` when `set` has no sensitive attribute or it is inconsistent.
pub fn sensitive_labels<'a>(set: &'a ImageSet, what: &str) -> Result<&'a [u8]> {
    check_image_set(set, what)?;
    match &set.sensitive {
        Some(s) if !set.sensitive_names.is_empty() => Ok(s),
        _ => Err(Error::Invalid {
            what: format!("{what}: sensitive attribute"),
            expected: "a sensitive attribute (font) per image".into(),
            got: "none".into(),
        }),
    }
}

/// Checks that `set` is internally consistent: `pixels.len() == n * rows * cols`, `n > 0`, one label per
/// image, each label `< class_names.len()`, and likewise for the sensitive attribute when present.
///
/// # Errors
/// [`Error::Invalid`] naming `what` and the first inconsistency found.
pub fn check_image_set(set: &ImageSet, what: &str) -> Result<()> {
    let bad = |field: &str, expected: String, got: String| Error::Invalid {
        what: format!("{what}: {field}"),
        expected,
        got,
    };
    if set.n == 0 || set.rows == 0 || set.cols == 0 {
        return Err(bad(
            "size",
            "n, rows, cols > 0".into(),
            format!("n = {}, rows = {}, cols = {}", set.n, set.rows, set.cols),
        ));
    }
    if set.pixels.len() != set.n * set.rows * set.cols {
        return Err(bad(
            "pixels",
            format!("{} bytes (n * rows * cols)", set.n * set.rows * set.cols),
            set.pixels.len().to_string(),
        ));
    }
    if set.labels.len() != set.n {
        return Err(bad(
            "labels",
            format!("{} labels", set.n),
            set.labels.len().to_string(),
        ));
    }
    if let Some(&l) = set
        .labels
        .iter()
        .find(|&&l| usize::from(l) >= set.class_names.len())
    {
        return Err(bad(
            "labels",
            format!("< {} classes", set.class_names.len()),
            l.to_string(),
        ));
    }
    if let Some(s) = &set.sensitive {
        if s.len() != set.n {
            return Err(bad(
                "sensitive",
                format!("{} values", set.n),
                s.len().to_string(),
            ));
        }
        if let Some(&v) = s
            .iter()
            .find(|&&v| usize::from(v) >= set.sensitive_names.len())
        {
            return Err(bad(
                "sensitive",
                format!("< {} sensitive names", set.sensitive_names.len()),
                v.to_string(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    fn set() -> ImageSet {
        ImageSet {
            pixels: vec![0, 255, 51, 102, 0, 0, 255, 255],
            n: 2,
            rows: 2,
            cols: 2,
            labels: vec![1, 0],
            class_names: vec!["a".into(), "b".into()],
            sensitive: Some(vec![0, 1]),
            sensitive_names: vec!["f0".into(), "f1".into()],
        }
    }

    #[test]
    fn images_scale_to_unit_interval_and_batch_gathers_rows() {
        let f = Features::from_images(&set()).unwrap();
        assert_eq!((f.rows, f.cols), (2, 4));
        assert!((f.data[2] - 0.2).abs() < 1e-6);
        let dev = Device::flex();
        let t = f.batch(&[1, 0, 1], &dev).unwrap();
        assert_eq!(t.dims(), [3, 4]);
        let v = t.into_data().try_into_vec_as::<f32>().unwrap();
        assert_eq!(&v[0..4], &[0.0, 0.0, 1.0, 1.0]);
        assert_eq!(&v[4..8], f.row(0));
        let y = labels_batch(&set().labels, &[1, 0], &dev).unwrap();
        assert_eq!(y.into_data().iter::<i64>().collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn inconsistent_sets_are_rejected() {
        let mut s = set();
        s.pixels.pop();
        assert!(matches!(
            check_image_set(&s, "t"),
            Err(Error::Invalid { .. })
        ));
        let mut s = set();
        s.labels[0] = 5;
        assert!(check_image_set(&s, "t").is_err());
        let mut s = set();
        s.sensitive = None;
        assert!(sensitive_labels(&s, "t").is_err());
        assert!(Features::from_images(&set())
            .unwrap()
            .batch(&[2], &Device::flex())
            .is_err());
        assert!(Features::new(vec![1.0, f32::NAN], 1, 2).is_err());
        assert!(Features::new(vec![1.0], 1, 2).is_err());
    }
}
