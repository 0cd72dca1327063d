use super::*;

fn save(img: &RgbImage, path: &Path) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).expect("dir");
    }
    img.save(path).expect("save");
}

/// A 24x20 image whose pixels encode the seed, so crops of different photos differ.
fn photo(seed: u8) -> RgbImage {
    RgbImage::from_fn(24, 20, |x, y| {
        image::Rgb([(x * 10) as u8 ^ seed, (y * 12) as u8, seed.wrapping_mul(37)])
    })
}

#[test]
fn flat_and_class_folder_layouts_are_listed_and_bad_layouts_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flat = dir.path().join("flat");
    save(&photo(1), &flat.join("b.png"));
    save(&photo(2), &flat.join("a.JPG"));
    std::fs::write(flat.join("README.txt"), "not an image").expect("txt");
    let f = ImageFolder::scan(&flat).expect("flat");
    let names: Vec<&str> = f.photos.iter().map(|p| p.source.as_str()).collect();
    assert_eq!(names, ["a.JPG", "b.png"]);
    assert!(f.class_names.is_empty() && f.photos.iter().all(|p| p.class.is_none()));

    let imnet = dir.path().join("imagenet");
    save(&photo(3), &imnet.join("n02/x.png"));
    save(&photo(4), &imnet.join("n01/y.jpeg"));
    save(&photo(5), &imnet.join("n01/z.png"));
    std::fs::create_dir_all(imnet.join("empty")).expect("dir");
    let f = ImageFolder::scan(&imnet).expect("class/image");
    assert_eq!(f.class_names, ["n01", "n02"]);
    let classes: Vec<Option<usize>> = f.photos.iter().map(|p| p.class).collect();
    assert_eq!(classes, [Some(0), Some(0), Some(1)]);
    let split = split_folder(
        &f,
        &RgbSplitConfig {
            size: 8,
            attacker_images: 4,
            eval_images: 2,
            eval_fraction: 0.3,
            ..RgbSplitConfig::default()
        },
    )
    .expect("split");
    assert_eq!(split.eval.labels.as_ref().map(Vec::len), Some(2));
    assert_eq!(split.attacker.class_names, ["n01", "n02"]);

    save(&photo(6), &imnet.join("top.png"));
    let e = ImageFolder::scan(&imnet).expect_err("mixed").to_string();
    assert!(e.contains("not both") && e.contains("imagenet"), "{e}");
    let empty = dir.path().join("none");
    std::fs::create_dir_all(&empty).expect("dir");
    let e = ImageFolder::scan(&empty).expect_err("empty").to_string();
    assert!(e.contains("no .png"), "{e}");
    assert!(ImageFolder::scan(&dir.path().join("missing")).is_err());
}

/// Against an independent computation: a horizontal ramp R = x, vertical ramp G = 2y. Halving with a tent
/// filter of radius 2 (weights 1/8, 3/8, 3/8, 1/8 over source pixels 2i-1..2i+2) gives the ramp's value at
/// 2i + 0.5, so after the shorter side 128 -> 64 (width 256 -> 128) and the centre crop 64 (column offset
/// (128 - 64) / 2 = 32, row offset 0), pixel (j, y) is R = 2(j + 32) + 0.5, G = 2(2y + 0.5), B unchanged.
#[test]
fn evaluation_preprocessing_matches_an_independent_computation() {
    let img = RgbImage::from_fn(256, 128, |x, y| image::Rgb([x as u8, (2 * y) as u8, 100]));
    let t = EvalTransform {
        resize: 64,
        crop: 64,
    };
    let v = t.apply(&img).expect("transform");
    assert_eq!(v.len(), 3 * 64 * 64);
    let at = |c: usize, y: usize, x: usize| v[c * 64 * 64 + y * 64 + x] * 255.0;
    for y in 1..63 {
        for x in 0..64 {
            let r = 2.0 * (x + 32) as f32 + 0.5;
            let g = 2.0 * (2.0 * y as f32 + 0.5);
            assert!(
                (at(0, y, x) - r).abs() <= 0.51,
                "R({y},{x}) {} vs {r}",
                at(0, y, x)
            );
            assert!(
                (at(1, y, x) - g).abs() <= 0.51,
                "G({y},{x}) {} vs {g}",
                at(1, y, x)
            );
            assert!((at(2, y, x) - 100.0).abs() < 1e-3);
        }
    }
    // torchvision's geometry on a 451x300 photo at 96 px: Resize(110) -> 165x110 (int(110 * 451 / 300)),
    // CenterCrop(96) at left round(69 / 2) = 34 (ties to even) and top 7. A marker column at resized x = 34
    // must land in output column 0.
    assert_eq!(
        EvalTransform::imagenet(96),
        EvalTransform {
            resize: 110,
            crop: 96
        }
    );
    assert_eq!(EvalTransform::imagenet(224).resize, 256);
    let mut wide = RgbImage::from_pixel(165, 110, image::Rgb([0, 0, 0]));
    for y in 0..110 {
        wide.put_pixel(34, y, image::Rgb([255, 255, 255]));
    }
    let t = EvalTransform {
        resize: 110,
        crop: 96,
    };
    let v = t.apply(&wide).expect("no-op resize");
    assert!(v[10 * 96] > 0.99 && v[10 * 96 + 1] < 0.01 && v[10 * 96 + 95] < 0.01);
    assert!(EvalTransform { resize: 8, crop: 9 }.apply(&wide).is_err());
}

#[test]
fn attacker_and_evaluation_sets_come_from_disjoint_source_images() {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..6u8 {
        save(&photo(i * 40), &dir.path().join(format!("p{i}.png")));
    }
    let folder = ImageFolder::scan(dir.path()).expect("scan");
    let cfg = RgbSplitConfig {
        size: 12,
        attacker_images: 20,
        eval_images: 5,
        eval_fraction: 0.3,
        ..RgbSplitConfig::default()
    };
    let s = split_folder(&folder, &cfg).expect("split");
    let (a, e) = (s.attacker.source_set(), s.eval.source_set());
    assert!(a.is_disjoint(&e), "{a:?} {e:?}");
    assert_eq!((a.len(), e.len()), (4, 2));
    assert_eq!((s.attacker.images.n, s.eval.images.n), (20, 5));
    assert_eq!(s.attacker.images.pixels.len(), 20 * 3 * 12 * 12);
    assert!(s.eval.labels.is_none() && s.eval.images.names[0].ends_with("#0"));
    // Deterministic for a seed; another seed draws other crops.
    assert_eq!(split_folder(&folder, &cfg).expect("again"), s);
    let other = split_folder(&folder, &RgbSplitConfig { seed: 8, ..cfg }).expect("seed 8");
    assert_ne!(other.attacker.images.pixels, s.attacker.images.pixels);
    // Crops stay in [0, 1].
    assert!(s
        .attacker
        .images
        .pixels
        .iter()
        .all(|v| (0.0..=1.0).contains(v)));
    // One source cannot be split.
    let one = ImageFolder {
        photos: folder.photos[..1].to_vec(),
        class_names: Vec::new(),
    };
    let e = split_folder(&one, &cfg).expect_err("one").to_string();
    assert!(e.contains(">= 2 source images"), "{e}");
    // The packaged lists share no source.
    let pe: BTreeSet<&str> = PACKAGED_EVAL.iter().map(|p| p.2).collect();
    assert!(PACKAGED_ATTACKER.iter().all(|p| !pe.contains(p.2)));
}

#[test]
fn undecodable_and_truncated_files_are_named_in_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    save(&photo(1), &dir.path().join("good.png"));
    std::fs::write(dir.path().join("garbage.jpg"), b"this is not a jpeg").expect("write");
    let mut png = Vec::new();
    photo(2)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encode");
    std::fs::write(dir.path().join("truncated.png"), &png[..png.len() / 2]).expect("write");
    for bad in ["garbage.jpg", "truncated.png"] {
        let e = load_photo(&dir.path().join(bad))
            .expect_err(bad)
            .to_string();
        assert!(e.contains(bad) && e.contains("decodable"), "{e}");
    }
    let folder = ImageFolder::scan(dir.path()).expect("scan");
    let e = split_folder(&folder, &RgbSplitConfig::default())
        .expect_err("bad file")
        .to_string();
    assert!(
        e.contains("garbage.jpg") || e.contains("truncated.png"),
        "{e}"
    );
}

/// The packaged default: many crops, the evaluation photos' sources never among the attacker's. Needs the
/// photographs (fails under CI=1 without them).
#[test]
fn packaged_photographs_give_disjoint_crops() {
    let sk = Path::new(SKIMAGE_DATA_DIR);
    let sl = Path::new(SKLEARN_IMAGES_DIR);
    if !crate::installed_or_skip(
        "scikit-image and scikit-learn photographs",
        &[&sk.join("chelsea.png"), &sl.join("china.jpg")],
    ) {
        return;
    }
    let cfg = RgbSplitConfig {
        size: 32,
        attacker_images: 40,
        eval_images: 8,
        ..RgbSplitConfig::default()
    };
    let s = packaged_split(sk, sl, &cfg).expect("packaged");
    assert!(s.attacker.source_set().is_disjoint(&s.eval.source_set()));
    assert_eq!(s.attacker.source_set().len(), PACKAGED_ATTACKER.len());
    assert_eq!(s.eval.images.n, 8);
    let e = packaged_split(&sk.join("nope"), &sl.join("nope"), &cfg).expect_err("missing");
    assert!(e.to_string().contains(crate::INSTALL_STEP), "{e}");
}
