//! Folders in the MNIST layout (MNIST, Fashion-MNIST, KMNIST, ...): four IDX files with the standard names.

use std::path::{Path, PathBuf};

use crate::{idx, Error, Result, Split};

/// Standard file stems of an MNIST-layout folder: (train images, train labels, test images, test labels).
pub const STANDARD_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Finds `{dir}/{stem}.gz` or `{dir}/{stem}` (also the `stem.idx3-ubyte` spelling with a dot).
fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    let dotted = stem.replacen("-idx", ".idx", 1);
    let candidates = [
        format!("{stem}.gz"),
        stem.to_string(),
        format!("{dotted}.gz"),
        dotted.clone(),
    ];
    for c in &candidates {
        let p = dir.join(c);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::Io {
        path: dir.join(format!("{stem}[.gz]")),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "no MNIST-layout file {stem} or {stem}.gz in {}",
                dir.display()
            ),
        ),
    })
}

/// Loads an MNIST-layout folder (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
/// `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`) with class names `"0"`, `"1"`, ... up to
/// the largest label seen. No sensitive attribute.
///
/// # Errors
/// [`Error::Io`] when a file is missing or unreadable; [`Error::Invalid`] for malformed IDX, counts of
/// labels and images that differ, or train and test image sizes that differ.
pub fn load_mnist_dir(dir: &Path) -> Result<Split> {
    load_with_names(dir, None)
}

/// As [`load_mnist_dir`], with the given class names (every label must be `< class_names.len()`).
///
/// # Errors
/// As [`load_mnist_dir`]; [`Error::Invalid`] when a label is out of range of `class_names`.
pub fn load_with_names(dir: &Path, class_names: Option<Vec<String>>) -> Result<Split> {
    let [tri, trl, tei, tel] = STANDARD_NAMES.map(|s| find(dir, s));
    let (tri, trl, tei, tel) = (tri?, trl?, tei?, tel?);
    // Provisional names; replaced below once the label range is known.
    let placeholder: Vec<String> = (0..=255u16).map(|i| i.to_string()).collect();
    let mut train = idx::image_set_from_files(&tri, &trl, None, placeholder.clone(), vec![])?;
    let mut test = idx::image_set_from_files(&tei, &tel, None, placeholder, vec![])?;
    if (train.rows, train.cols) != (test.rows, test.cols) {
        return Err(Error::Invalid {
            what: format!("MNIST-layout folder {}", dir.display()),
            expected: format!(
                "test images of the training size {}x{}",
                train.rows, train.cols
            ),
            got: format!("{}x{}", test.rows, test.cols),
        });
    }
    let names = match class_names {
        Some(n) => n,
        None => {
            let max = train
                .labels
                .iter()
                .chain(&test.labels)
                .copied()
                .max()
                .unwrap_or(0);
            (0..=u16::from(max)).map(|i| i.to_string()).collect()
        }
    };
    train.class_names = names.clone();
    test.class_names = names;
    train.validate()?;
    test.validate()?;
    Ok(Split { train, test })
}

/// Fashion-MNIST (Xiao, Rasul and Vollgraf 2017, arXiv:1708.07747): 60,000 + 10,000 grey 28x28 images of
/// 10 clothing classes, in the MNIST layout.
pub mod fashion_mnist {
    use std::path::Path;

    use crate::{Result, Split};

    /// Where the Debian package `dataset-fashion-mnist` installs the four gzipped IDX files.
    pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

    /// The 10 class names, label order (Xiao et al. 2017, Table 1).
    pub const CLASS_NAMES: [&str; 10] = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ];

    /// Loads Fashion-MNIST from `dir` (e.g. [`DEBIAN_DIR`]) with the 10 class names.
    ///
    /// # Errors
    /// As [`crate::load_mnist_dir`]; [`crate::Error::Invalid`] when a label is `>= 10`.
    pub fn load(dir: &Path) -> Result<Split> {
        super::load_with_names(
            dir,
            Some(CLASS_NAMES.iter().map(|s| s.to_string()).collect()),
        )
    }

    /// Whether the Debian-installed copy is present (all four files in [`DEBIAN_DIR`]).
    pub fn debian_available() -> bool {
        let d = Path::new(DEBIAN_DIR);
        super::STANDARD_NAMES
            .iter()
            .all(|s| d.join(format!("{s}.gz")).is_file() || d.join(s).is_file())
    }
}
