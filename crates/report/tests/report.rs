//! Reports, JSON, run folders, plots and grids.
#![allow(clippy::unwrap_used)] // tests: a panic with the error is the failure report

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use privsplit_report::{
    grid_size, image_grid, line_plot, read_json, write_json, Error, GridImage, LinePlot, Report,
    RunDir, Series, GRID_LABEL_HEIGHT, GRID_PAD,
};

fn sample_report() -> Report {
    let mut r = Report::new("Leak <check> & co");
    r.section("Results")
        .paragraph("Collateral accuracy drops when alpha > 1 & the <b>font</b> is hidden.")
        .table(
            &["alpha", "acc|main", "acc<sens>"],
            vec![vec!["0.5".into(), "0.991".into(), "0.873".into()]],
        )
        .figure("acc.png", "accuracy vs alpha");
    r
}

#[test]
fn markdown_contains_cells_and_escapes() {
    let md = sample_report().to_markdown();
    assert!(md.starts_with("# Leak &lt;check&gt; &amp; co\n"), "{md}");
    assert!(md.contains("| 0.5 | 0.991 | 0.873 |"), "{md}");
    assert!(md.contains("acc\\|main"), "{md}");
    assert!(md.contains("acc&lt;sens&gt;"), "{md}");
    assert!(!md.contains("<b>"), "raw HTML leaked into markdown: {md}");
    assert!(md.contains("![accuracy vs alpha](acc.png)"), "{md}");
}

#[test]
fn html_contains_cells_and_escapes() {
    let html = sample_report().to_html();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<td>0.991</td>"), "{html}");
    assert!(html.contains("<th>acc&lt;sens&gt;</th>"), "{html}");
    assert!(html.contains("&lt;b&gt;font&lt;/b&gt;"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    assert!(html.contains("<img src=\"acc.png\""), "{html}");
    assert!(html.contains("<style>"));
    // every opened table closes
    assert_eq!(
        html.matches("<table>").count(),
        html.matches("</table>").count()
    );
}

#[test]
fn json_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let r = sample_report();
    let p = dir.path().join("r.json");
    write_json(&p, &r).unwrap();
    let back: Report = read_json(&p).unwrap();
    assert_eq!(back, r);
    // wrong type is an Invalid error naming the file
    let e = read_json::<Vec<u32>>(&p).unwrap_err();
    assert!(
        matches!(e, Error::Invalid { .. }) && e.to_string().contains("r.json"),
        "{e}"
    );
    r.write_all(dir.path()).unwrap();
    for f in ["report.md", "report.html", "report.json"] {
        assert!(dir.path().join(f).is_file());
    }
}

fn entries(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn run_dir_lifecycle() {
    let base = tempfile::tempdir().unwrap();
    let t = UNIX_EPOCH + Duration::from_secs(1_795_313_171);
    let run = RunDir::create_at(base.path(), "sweep", t).unwrap();
    assert_eq!(
        run.path(),
        base.path().join(".sweep-20261122-020611.partial")
    );
    run.write("a.txt", b"hello").unwrap();
    // nothing visible under the final name until finish
    assert!(!base.path().join("sweep-20261122-020611").exists());
    // a second writer of the same run name and second is refused
    assert!(RunDir::create_at(base.path(), "sweep", t).is_err());
    let done = run.finish().unwrap();
    assert_eq!(done, base.path().join("sweep-20261122-020611"));
    assert_eq!(std::fs::read(done.join("a.txt")).unwrap(), b"hello");
    assert_eq!(entries(base.path()), ["sweep-20261122-020611"]);
    // the final folder exists: refused, nothing new created
    match RunDir::create_at(base.path(), "sweep", t) {
        Err(Error::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(entries(base.path()), ["sweep-20261122-020611"]);
    // finish refuses to replace a folder that appeared meanwhile; the partial stays
    let t2 = t + Duration::from_secs(1);
    let run2 = RunDir::create_at(base.path(), "sweep", t2).unwrap();
    std::fs::create_dir(base.path().join("sweep-20261122-020612")).unwrap();
    assert!(run2.finish().is_err());
    assert!(base.path().join(".sweep-20261122-020612.partial").is_dir());
    // abandon removes; drop leaves the partial
    let run3 = RunDir::create_at(base.path(), "x", t).unwrap();
    run3.abandon().unwrap();
    assert!(!base.path().join(".x-20261122-020611.partial").exists());
    drop(RunDir::create_at(base.path(), "y", t).unwrap());
    assert!(base.path().join(".y-20261122-020611.partial").is_dir());
    // bad names
    for bad in ["", ".hidden", "a/b"] {
        assert!(
            matches!(RunDir::create(base.path(), bad), Err(Error::Invalid { .. })),
            "{bad:?}"
        );
    }
    // no temporary files left anywhere
    assert!(entries(&done).iter().all(|n| !n.contains(".tmp-")));
}

#[test]
fn grid_png_decodes_to_expected_size_and_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("grid.png");
    let a: Vec<u8> = (0..12).map(|v| (v * 20) as u8).collect(); // 3x4
    let b = vec![0.25f32; 12]; // 3x4 grey f32
    let mut rgb = vec![0.0f32; 3 * 12]; // [3, 3, 4]: red plane 1, others 0
    rgb[..12].iter_mut().for_each(|v| *v = 1.0);
    let images = [
        GridImage::Grey {
            rows: 3,
            cols: 4,
            pixels: &a,
        },
        GridImage::GreyF32 {
            rows: 3,
            cols: 4,
            data: &b,
        },
        GridImage::Rgb {
            height: 3,
            width: 4,
            data: &rgb,
        },
    ];
    let scale = 3;
    image_grid(&p, &images, 2, scale, None).unwrap();
    let img = image::open(&p).unwrap().to_rgb8();
    let (w, h) = grid_size(&images, 2, scale, false);
    assert_eq!((img.width() as usize, img.height() as usize), (w, h));
    assert_eq!(
        (w, h),
        (
            2 * (4 * 3 + GRID_PAD) + GRID_PAD,
            2 * (3 * 3 + GRID_PAD) + GRID_PAD
        )
    );
    // image 0 pixel (row 2, col 3) = 11 * 20 = 220, at its 3x3 block
    let (x0, y0) = (GRID_PAD, GRID_PAD);
    for dy in 0..3 {
        for dx in 0..3 {
            assert_eq!(
                img.get_pixel((x0 + 3 * scale + dx) as u32, (y0 + 2 * scale + dy) as u32)
                    .0,
                [220; 3]
            );
        }
    }
    assert_eq!(img.get_pixel(x0 as u32, y0 as u32).0, [0; 3]);
    // image 1 (second column): 0.25 -> 64
    let x1 = GRID_PAD + (4 * scale + GRID_PAD);
    assert_eq!(img.get_pixel(x1 as u32, y0 as u32).0, [64; 3]);
    // image 2 (second row, first column): pure red
    let y2 = GRID_PAD + (3 * scale + GRID_PAD);
    assert_eq!(img.get_pixel(x0 as u32, y2 as u32).0, [255, 0, 0]);
    // gap stays white
    assert_eq!(img.get_pixel(0, 0).0, [255; 3]);
}

#[test]
fn grid_labels_draw_text_and_bad_input_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("labelled.png");
    let a = vec![0u8; 28 * 28];
    let images = [GridImage::Grey {
        rows: 28,
        cols: 28,
        pixels: &a,
    }; 2];
    let labels = vec!["sans 0".to_string(), "serif 9".to_string()];
    image_grid(&p, &images, 2, 1, Some(&labels)).unwrap();
    let img = image::open(&p).unwrap().to_rgb8();
    assert_eq!(img.height() as usize, 28 + GRID_LABEL_HEIGHT + 2 * GRID_PAD);
    // some dark label pixels in the strip under the first cell
    let dark = (GRID_PAD..GRID_PAD + 28)
        .flat_map(|x| (GRID_PAD + 28..GRID_PAD + 28 + GRID_LABEL_HEIGHT).map(move |y| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x as u32, y as u32).0[0] < 128)
        .count();
    assert!(dark > 10, "label not drawn ({dark} dark pixels)");
    // wrong data length, wrong label count, zero columns
    let short = [GridImage::Grey {
        rows: 28,
        cols: 28,
        pixels: &a[..10],
    }];
    assert!(matches!(
        image_grid(&p, &short, 1, 1, None),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        image_grid(&p, &images, 2, 1, Some(&labels[..1])),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        image_grid(&p, &images, 0, 1, None),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        image_grid(&p, &[], 1, 1, None),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn line_plot_writes_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("acc.png");
    let plot = LinePlot {
        title: "Accuracy vs alpha".into(),
        x_label: "alpha".into(),
        y_label: "accuracy".into(),
        series: vec![
            Series {
                name: "main task".into(),
                points: vec![(0.0, 0.99), (0.5, 0.985), (1.0, 0.97), (2.0, 0.95)],
            },
            Series {
                name: "collateral (font)".into(),
                points: vec![(0.0, 0.97), (0.5, 0.8), (1.0, 0.6), (2.0, 0.52)],
            },
        ],
        y_range: Some((0.4, 1.0)),
        size: (640, 400),
        y_errors: vec![],
    };
    line_plot(&p, &plot).unwrap();
    let img = image::open(&p).unwrap().to_rgb8();
    assert_eq!((img.width(), img.height()), (640, 400));
    // both series colours appear
    let has = |c: [u8; 3]| img.pixels().any(|px| px.0 == c);
    assert!(has([31, 119, 180]) && has([255, 127, 14]));
    // text was rendered (dark pixels in the title band)
    let dark_title = (0..640)
        .flat_map(|x| (0..30).map(move |y| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 100)
        .count();
    assert!(dark_title > 50, "title not drawn: {dark_title}");
    let bad = LinePlot {
        series: vec![Series {
            name: "x".into(),
            points: vec![(0.0, f64::NAN)],
        }],
        ..plot.clone()
    };
    assert!(matches!(line_plot(&p, &bad), Err(Error::Invalid { .. })));
    let empty = LinePlot {
        series: vec![],
        ..plot
    };
    assert!(matches!(line_plot(&p, &empty), Err(Error::Invalid { .. })));
}

/// Rows (pixel y) of `img` holding the first palette colour (31, 119, 180).
fn rows_of_first_colour(img: &image::RgbImage) -> Vec<u32> {
    let mut rows: Vec<u32> = img
        .enumerate_pixels()
        .filter(|(_, _, px)| px.0 == [31, 119, 180])
        .map(|(_, y, _)| y)
        .collect();
    rows.dedup();
    rows
}

#[test]
fn line_plot_draws_error_bars_and_rejects_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bars.png");
    // A flat line at y = 50 on a 0..100 axis; bars of ±30 reach 30 % of the axis either side of it. No
    // name: no legend, whose sample line would carry the colour elsewhere.
    let plain = LinePlot {
        title: "bars".into(),
        series: vec![Series {
            name: String::new(),
            points: vec![(0.0, 50.0), (1.0, 50.0), (2.0, 50.0)],
        }],
        y_range: Some((0.0, 100.0)),
        size: (400, 400),
        ..LinePlot::default()
    };
    line_plot(&p, &plain).unwrap();
    let without = rows_of_first_colour(&image::open(&p).unwrap().to_rgb8());
    let (lo, hi) = (without[0], without[without.len() - 1]);
    assert!(hi - lo < 12, "line and markers only: rows {lo}..{hi}");
    let barred = LinePlot {
        y_errors: vec![vec![30.0, 0.0, 30.0]],
        ..plain.clone()
    };
    line_plot(&p, &barred).unwrap();
    let with = rows_of_first_colour(&image::open(&p).unwrap().to_rgb8());
    // The plot area is under 400 px tall, so 30 % of it is more than 60 px from the line either way.
    assert!(
        with[0] + 60 < lo,
        "no bar above the line: {} vs {lo}",
        with[0]
    );
    assert!(with[with.len() - 1] > hi + 60, "no bar below the line");
    let svg = std::fs::read_to_string(p.with_extension("svg")).unwrap();
    assert!(
        svg.contains("<line") || svg.contains("<polyline"),
        "SVG written"
    );
    for bad in [
        vec![vec![1.0, 1.0]],              // not one per point
        vec![vec![1.0, -1.0, 1.0]],        // negative
        vec![vec![1.0, f64::NAN, 1.0]],    // not finite
        vec![vec![], vec![1.0, 1.0, 1.0]], // more entries than series
    ] {
        let plot = LinePlot {
            y_errors: bad.clone(),
            ..plain.clone()
        };
        let err = line_plot(&p, &plot).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid { what, .. } if what.contains("y_errors")),
            "{bad:?}: {err}"
        );
    }
}
