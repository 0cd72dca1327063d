//! The authors' font-character mode: packaged fonts, determinism, random balance, shape, natural size and
//! the per-image standardisation of the model inputs.
#![allow(clippy::unwrap_used)] // tests: a panic with the error is the failure report

use privsplit_data::font_packages::{self, PACKAGE_FONTS};
use privsplit_data::fonts::{self, FontCharConfig, FontMode, IMAGE_SIZE};
use privsplit_data::{Error, InputScaling};

mod common;
use common::authors as small;

#[test]
fn packaged_fonts_are_installed_and_missing_ones_name_the_package() {
    for f in PACKAGE_FONTS {
        let path = font_packages::resolve(f.name).unwrap().unwrap();
        assert!(path.is_file(), "{}", path.display());
        let loaded = fonts::load_font(f.name).unwrap();
        assert_eq!(loaded.name, f.name);
    }
    assert!(font_packages::resolve("dejavu-sans").unwrap().is_none());
    let empty = tempfile::tempdir().unwrap();
    let err = font_packages::resolve_under("urw-z003", empty.path()).unwrap_err();
    assert!(
        matches!(err, Error::MissingFontPackage { ref package, .. } if package == "fonts-urw-base35")
    );
    let msg = err.to_string();
    assert!(
        msg.contains("fonts-urw-base35") && msg.contains("scripts/install-deps.sh"),
        "{msg}"
    );
}

#[test]
fn authors_defaults_and_serde_follow_the_mode() {
    let cfg = FontCharConfig::authors(10, 5);
    assert_eq!(cfg.mode, FontMode::Authors);
    assert_eq!(cfg.fonts, ["urw-z003", "vollkorn"]);
    assert_eq!(cfg.input_scaling, InputScaling::Standardized);
    assert!((cfg.elastic_alpha - 75.3).abs() < 0.2 && cfg.elastic_sigma == 9.0);
    assert_eq!(
        (cfg.size_pt, cfg.size_sd_pt, cfg.dpi, cfg.canvas),
        (50.0, 2.5, 28.0, 56)
    );
    // A table with only the mode takes the authors' defaults; explicit fields override them.
    let t: FontCharConfig = serde_json::from_str(r#"{"mode": "authors", "train": 7}"#).unwrap();
    assert_eq!(t, FontCharConfig::authors(7, 10_000));
    let t: FontCharConfig =
        serde_json::from_str(r#"{"mode": "authors", "elastic_sigma": 4}"#).unwrap();
    assert_eq!(t.elastic_sigma, 4.0);
    assert_eq!(t.fonts, ["urw-z003", "vollkorn"]);
    // Without a mode: exactly the old defaults.
    let p: FontCharConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(p, FontCharConfig::default());
    assert_eq!(p.input_scaling, InputScaling::Unit);
    // round trip
    let back: FontCharConfig = serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(back, cfg);
    assert!(serde_json::from_str::<FontCharConfig>(r#"{"mode": "matplotlib"}"#).is_err());
    assert!("authors".parse::<FontMode>().unwrap() == FontMode::Authors);
    assert!("cursive".parse::<FontMode>().is_err());
    assert!(FontCharConfig {
        canvas: 20,
        ..cfg.clone()
    }
    .validate()
    .is_err());
    assert!(FontCharConfig {
        size_pt: 0.0,
        ..cfg
    }
    .validate()
    .is_err());
}

#[test]
fn deterministic_per_seed_and_thread_count() {
    let a = fonts::generate(&small(120, 30, 4)).unwrap();
    assert_eq!(a, fonts::generate(&small(120, 30, 4)).unwrap());
    assert_ne!(
        a.train.pixels,
        fonts::generate(&small(120, 30, 5)).unwrap().train.pixels
    );
    // test images do not depend on the number of training images
    assert_eq!(a.test, fonts::generate(&small(60, 30, 4)).unwrap().test);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    assert_eq!(
        a,
        pool.install(|| fonts::generate(&small(120, 30, 4)))
            .unwrap()
    );
}

#[test]
fn shape_random_balance_and_standardisation() {
    let s = fonts::generate(&small(1000, 0, 1)).unwrap();
    let t = &s.train;
    t.validate().unwrap();
    assert_eq!((t.rows, t.cols, t.n), (IMAGE_SIZE, IMAGE_SIZE, 1000));
    assert_eq!(t.sensitive_names, ["urw-z003", "vollkorn"]);
    // Font and digit are drawn at random: near, not exactly, balanced (binomial, 5 sd bounds).
    let fonts_count = t.sensitive_counts();
    assert!(
        fonts_count
            .iter()
            .all(|&c| (c as f64 - 500.0).abs() < 5.0 * 250f64.sqrt()),
        "{fonts_count:?}"
    );
    let classes = t.class_counts();
    assert!(
        classes
            .iter()
            .all(|&c| (c as f64 - 100.0).abs() < 5.0 * 90f64.sqrt()),
        "{classes:?}"
    );
    assert!(classes.iter().any(|&c| c != 100) || fonts_count[0] != 500);
    // Every image has ink, inside the frame (natural size: a 50 pt digit at 28 dpi is about 10-14 px tall).
    for i in 0..t.n {
        let on = t.image(i).unwrap().iter().filter(|&&v| v > 64).count();
        assert!((10..300).contains(&on), "image {i}: {on} inked pixels");
    }
    let x = t.to_model_f32(t_scaling());
    assert_eq!(x.len(), 1000 * 784);
    for img in x.chunks(784).take(50) {
        let mean: f64 = img.iter().map(|&v| f64::from(v)).sum::<f64>() / 784.0;
        let var: f64 = img
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / 784.0;
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
            "mean {mean} var {var}"
        );
    }
}

fn t_scaling() -> InputScaling {
    FontCharConfig::authors(1, 1).input_scaling
}

/// Vertical ink extent (rows with a pixel > 64) of the mean image of (`digit`, `font`).
fn extent(set: &privsplit_data::ImageSet, digit: u8, font: u8) -> usize {
    let sens = set.sensitive.as_ref().unwrap();
    let mut acc = vec![0u32; 784];
    let mut n = 0;
    for (i, (&l, &f)) in set.labels.iter().zip(sens).enumerate() {
        if l == digit && f == font {
            n += 1;
            for (a, &v) in acc.iter_mut().zip(set.image(i).unwrap()) {
                *a += u32::from(v);
            }
        }
    }
    assert!(n > 0);
    (0..28)
        .filter(|&r| (0..28).any(|c| acc[r * 28 + c] / n > 64))
        .count()
}

#[test]
fn fonts_keep_their_natural_size() {
    // No rotation, size noise or deformation: Vollkorn's old-style '0' is about x-height tall, its '6'
    // ascends; the privsplit mode would scale both to a 20 px box.
    let cfg = FontCharConfig {
        rotation_sd_deg: 0.0,
        size_sd_pt: 0.0,
        elastic_alpha: 0.0,
        chars: "06".into(),
        ..small(200, 0, 2)
    };
    let s = fonts::generate(&cfg).unwrap();
    let (zero, six) = (extent(&s.train, 0, 1), extent(&s.train, 1, 1));
    assert!(six >= zero + 2, "vollkorn 0: {zero} rows, 6: {six} rows");
    assert!(
        (8..=16).contains(&six),
        "natural size: '6' spans {six} rows"
    );
}
