//! Font-character generator: determinism, balance, centring, and that the font (sensitive attribute)
//! really changes the images.
#![allow(clippy::unwrap_used)] // tests: a panic with the error is the failure report

use privsplit_data::fonts::{self, FontCharConfig, IMAGE_SIZE};
use privsplit_data::Error;

mod common;
use common::small;

#[test]
fn same_seed_same_bytes_other_seed_differs() {
    let a = fonts::generate(&small(200, 40, 7)).unwrap();
    let b = fonts::generate(&small(200, 40, 7)).unwrap();
    assert_eq!(a, b);
    let c = fonts::generate(&small(200, 40, 8)).unwrap();
    assert_ne!(a.train.pixels, c.train.pixels);
    // test images do not depend on the number of training images
    let d = fonts::generate(&small(100, 40, 7)).unwrap();
    assert_eq!(a.test, d.test);
    // independent of the thread count
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let e = pool
        .install(|| fonts::generate(&small(200, 40, 7)))
        .unwrap();
    assert_eq!(a, e);
}

#[test]
fn labels_exactly_balanced_and_named() {
    let s = fonts::generate(&small(400, 60, 0)).unwrap();
    for set in [&s.train, &s.test] {
        set.validate().unwrap();
        assert_eq!((set.rows, set.cols), (IMAGE_SIZE, IMAGE_SIZE));
        let per_class = set.n / 10;
        assert_eq!(set.class_counts(), vec![per_class; 10]);
        assert_eq!(set.sensitive_counts(), vec![set.n / 2; 2]);
        // every (char, font) combination exactly n / 20 times
        let mut combo = vec![0usize; 20];
        for (l, f) in set.labels.iter().zip(set.sensitive.as_ref().unwrap()) {
            combo[usize::from(*l) * 2 + usize::from(*f)] += 1;
        }
        assert_eq!(combo, vec![set.n / 20; 20]);
    }
    assert_eq!(
        s.train.class_names,
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
    );
    assert_eq!(s.train.sensitive_names, ["dejavu-sans", "dejavu-serif"]);
    // not in a trivial cyclic order
    assert_ne!(
        &s.train.labels[..20],
        &[0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9][..]
    );
}

#[test]
fn images_not_blank_and_centred() {
    let s = fonts::generate(&small(300, 0, 3)).unwrap();
    let mut worst: f64 = 0.0;
    for i in 0..s.train.n {
        let img = s.train.image(i).unwrap();
        let ink: f64 = img.iter().map(|&v| f64::from(v)).sum();
        let on = img.iter().filter(|&&v| v > 128).count();
        assert!(on >= 20, "image {i} nearly blank: {on} bright pixels");
        assert!(on < 400, "image {i} nearly full: {on} bright pixels");
        let (mut mx, mut my) = (0.0, 0.0);
        for (k, &v) in img.iter().enumerate() {
            mx += f64::from(v) * (k % 28) as f64;
            my += f64::from(v) * (k / 28) as f64;
        }
        let d = ((mx / ink - 13.5).powi(2) + (my / ink - 13.5).powi(2)).sqrt();
        worst = worst.max(d);
        // the border rows/cols stay (almost) empty, like MNIST
        let border: u32 = (0..28)
            .map(|j| u32::from(img[j]) + u32::from(img[27 * 28 + j]))
            .sum();
        assert!(
            border < 255 * 4,
            "image {i} touches the top/bottom border: {border}"
        );
    }
    assert!(
        worst < 1.0,
        "centre of mass up to {worst:.2} px from the centre"
    );
}

#[test]
fn font_changes_the_images() {
    // Mean image per (char, font): the two fonts of the same char differ more than two halves of the same
    // (char, font) group do.
    let s = fonts::generate(&small(2000, 0, 5)).unwrap();
    let t = &s.train;
    let sens = t.sensitive.as_ref().unwrap();
    let mean = |ch: u8, font: u8, parity: Option<usize>| -> Vec<f64> {
        let mut acc = vec![0.0; 784];
        let mut n = 0;
        for (i, (&l, &f)) in t.labels.iter().zip(sens).enumerate() {
            if l == ch && f == font && parity.is_none_or(|p| i % 2 == p) {
                n += 1;
                for (a, &v) in acc.iter_mut().zip(t.image(i).unwrap()) {
                    *a += f64::from(v);
                }
            }
        }
        acc.iter().map(|a| a / n as f64).collect()
    };
    let dist = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    for ch in [1u8, 4, 7] {
        let between = dist(&mean(ch, 0, None), &mean(ch, 1, None));
        let within = dist(&mean(ch, 0, Some(0)), &mean(ch, 0, Some(1)));
        assert!(
            between > 1.5 * within,
            "char {ch}: between fonts {between:.0}, within a font {within:.0}"
        );
    }
}

#[test]
fn letters_and_other_fonts() {
    let cfg = FontCharConfig {
        fonts: vec![
            "dejavu-sans-mono".into(),
            "dejavu-serif-italic".into(),
            "dejavu-sans-bold".into(),
        ],
        train: 78,
        test: 0,
        ..FontCharConfig::letters()
    };
    let s = fonts::generate(&cfg).unwrap();
    assert_eq!(s.train.class_names.len(), 26);
    assert_eq!(s.train.class_counts(), vec![3; 26]);
    assert_eq!(s.train.sensitive_counts(), vec![26; 3]);
}

#[test]
fn missing_font_file_is_an_io_error_naming_it() {
    let cfg = FontCharConfig {
        fonts: vec!["/nonexistent/font.ttf".into()],
        ..FontCharConfig::small(10, 0)
    };
    match fonts::generate(&cfg) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("font.ttf")),
        other => panic!("expected Io error, got {other:?}"),
    }
}

#[test]
fn unparseable_font_file_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("junk.ttf");
    std::fs::write(&p, b"not a font at all").unwrap();
    let cfg = FontCharConfig {
        fonts: vec![p.display().to_string()],
        ..FontCharConfig::small(10, 0)
    };
    let e = fonts::generate(&cfg).unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("junk.ttf"), "{e}");
}

#[test]
fn font_from_path_works() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("MySerif.ttf");
    std::fs::write(&p, dejavu::serif::regular()).unwrap();
    let cfg = FontCharConfig {
        fonts: vec![p.display().to_string(), "dejavu-serif".into()],
        ..FontCharConfig::small(40, 0)
    };
    let s = fonts::generate(&cfg).unwrap();
    assert_eq!(s.train.sensitive_names, ["MySerif", "dejavu-serif"]);
}

#[test]
fn missing_glyph_is_invalid_naming_font_and_char() {
    // DejaVu Sans has no CJK ideographs.
    let cfg = FontCharConfig {
        chars: "01\u{4E2D}".into(),
        ..FontCharConfig::small(10, 0)
    };
    let e = fonts::generate(&cfg).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Invalid { .. }), "{msg}");
    assert!(
        msg.contains("dejavu-sans") && msg.contains('\u{4E2D}'),
        "{msg}"
    );
    // a space has a glyph but no outline
    let e = fonts::check_coverage(" ", &["dejavu-serif".into()]).unwrap_err();
    assert!(e.to_string().contains("dejavu-serif"), "{e}");
}

#[test]
fn bad_config_rejected() {
    for cfg in [
        FontCharConfig {
            chars: String::new(),
            ..Default::default()
        },
        FontCharConfig {
            chars: "00".into(),
            ..Default::default()
        },
        FontCharConfig {
            fonts: vec![],
            ..Default::default()
        },
        FontCharConfig {
            supersample: 0,
            ..Default::default()
        },
        FontCharConfig {
            elastic_sigma: f32::NAN,
            ..Default::default()
        },
    ] {
        assert!(
            matches!(fonts::generate(&cfg), Err(Error::Invalid { .. })),
            "{cfg:?}"
        );
    }
}

#[test]
fn config_serde_defaults() {
    let cfg: FontCharConfig = serde_json::from_str(r#"{"train": 5, "chars": "ab"}"#).unwrap();
    assert_eq!(cfg.train, 5);
    assert_eq!(cfg.test, 10_000);
    assert_eq!(cfg.fonts, FontCharConfig::default().fonts);
    assert!(serde_json::from_str::<FontCharConfig>(r#"{"trian": 5}"#).is_err());
}
