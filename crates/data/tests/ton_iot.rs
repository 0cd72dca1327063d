//! TON_IoT loader, preprocessing and SYNTHETIC generator: layouts, schema validation, line-numbered errors,
//! quoted free text, truncation, gzip, mutated input, round trips.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};

use privsplit_data::tabular::{
    class_counts, generate_csv, stratified_split, write_synthetic, Layout, PreprocessConfig,
    Preprocessor, TonIotGenConfig, TonIotReader, TonIotTable, CLASSES,
};
use privsplit_data::Error;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn synthetic(rows: usize, seed: u64) -> Vec<u8> {
    generate_csv(&TonIotGenConfig { rows, seed }).unwrap()
}

/// Parses CSV bytes into header + records (independently of the loader, with the csv crate).
fn records(csv: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new().from_reader(csv);
    let h = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    (h, rows)
}

fn to_csv(header: &[String], rows: &[Vec<String>]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.into_inner().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn synthetic_file_round_trips_through_the_loader() {
    let dir = tempfile::tempdir().unwrap();
    let csv = synthetic(600, 1);
    let p = write(dir.path(), "a.csv", &csv);
    let t = TonIotTable::load(&p).unwrap();
    assert_eq!(t.layout, Layout::TrainTest);
    assert_eq!(t.rows, 600);
    assert_eq!(t.class_counts(), class_counts(600));
    // Every value agrees with an independent parse of the same bytes.
    let (h, rows) = records(&csv);
    assert_eq!(h.len(), 44);
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    for (r, row) in rows.iter().enumerate() {
        let d: f64 = row[col("duration")].parse().unwrap();
        assert_eq!(t.numeric_at(r, 0), Some(d));
        assert_eq!(t.token_at(r, 0), Some(row[col("proto")].as_str()));
        let ua = t
            .categorical_names
            .iter()
            .position(|n| n == "http_user_agent");
        assert_eq!(
            t.token_at(r, ua.unwrap()),
            Some(row[col("http_user_agent")].as_str())
        );
        assert_eq!(CLASSES[usize::from(t.class[r])], row[col("type")]);
        assert_eq!(t.label[r].to_string(), row[col("label")]);
    }
    // Free text with commas and quotes exists in the synthetic file (so the test above exercised it).
    assert!(rows
        .iter()
        .any(|r| r[col("http_user_agent")].contains(", ")));
    assert!(rows.iter().any(|r| r[col("http_uri")].contains('"')));
}

#[test]
fn shuffled_columns_give_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    let csv = synthetic(300, 2);
    let (h, rows) = records(&csv);
    let mut perm: Vec<usize> = (0..h.len()).collect();
    perm.reverse();
    perm.swap(3, 17);
    let h2: Vec<String> = perm.iter().map(|&i| h[i].clone()).collect();
    let rows2: Vec<Vec<String>> = rows
        .iter()
        .map(|r| perm.iter().map(|&i| r[i].clone()).collect())
        .collect();
    let a = TonIotTable::load(&write(dir.path(), "a.csv", &csv)).unwrap();
    let b = TonIotTable::load(&write(dir.path(), "b.csv", &to_csv(&h2, &rows2))).unwrap();
    assert_eq!(a, b);
}

#[test]
fn a_missing_column_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (h, rows) = records(&synthetic(20, 3));
    let drop = h.iter().position(|x| x == "src_bytes").unwrap();
    let h2: Vec<String> = h.iter().filter(|x| *x != "src_bytes").cloned().collect();
    let rows2: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.remove(drop);
            r
        })
        .collect();
    let p = write(dir.path(), "m.csv", &to_csv(&h2, &rows2));
    match TonIotReader::open(&p) {
        Err(Error::Schema {
            column, problem, ..
        }) => assert_eq!(
            (column.as_str(), problem.as_str()),
            ("src_bytes", "missing required")
        ),
        other => panic!("expected a schema error, got {:?}", other.err()),
    }
    // An unknown and a duplicate column are named too.
    let mut h3 = h.clone();
    h3[5] = "bogus".into();
    let err = TonIotReader::open(&write(dir.path(), "u.csv", &to_csv(&h3, &rows)))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("unknown column `bogus`"), "{err}");
    let mut h4 = h.clone();
    h4[5] = h4[4].clone();
    let err = TonIotReader::open(&write(dir.path(), "d.csv", &to_csv(&h4, &rows)))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("duplicate column `proto`"), "{err}");
}

#[test]
fn a_bad_number_gives_a_line_numbered_error() {
    let dir = tempfile::tempdir().unwrap();
    let (h, mut rows) = records(&synthetic(20, 4));
    let c = h.iter().position(|x| x == "dst_bytes").unwrap();
    rows[6][c] = "12x4".into(); // data row 7 = line 8
    let p = write(dir.path(), "bad.csv", &to_csv(&h, &rows));
    match TonIotTable::load(&p) {
        Err(Error::Field {
            path,
            line,
            column,
            value,
            ..
        }) => {
            assert_eq!(path, p);
            assert_eq!(
                (line, column.as_str(), value.as_str()),
                (8, "dst_bytes", "12x4")
            );
        }
        other => panic!("expected a field error, got {other:?}"),
    }
    // `-` is missing, not an error; NaN/inf, a bad label, a bad class and a bad port are errors.
    rows[6][c] = "-".into();
    let t = TonIotTable::load(&write(dir.path(), "ok.csv", &to_csv(&h, &rows))).unwrap();
    assert_eq!(t.numeric_at(6, 2), None);
    for (col, v) in [
        ("dst_bytes", "NaN"),
        ("duration", "inf"),
        ("label", "2"),
        ("type", "worm"),
        ("src_port", "70000"),
    ] {
        let mut r2 = rows.clone();
        r2[2][h.iter().position(|x| x == col).unwrap()] = v.into();
        let err = TonIotTable::load(&write(dir.path(), "e.csv", &to_csv(&h, &r2)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 4") && err.contains(col) && err.contains(v),
            "{err}"
        );
    }
}

#[test]
fn quoted_commas_and_quotes_in_free_text_are_one_field() {
    let dir = tempfile::tempdir().unwrap();
    let (h, mut rows) = records(&synthetic(5, 5));
    let ua = h.iter().position(|x| x == "http_user_agent").unwrap();
    let subj = h.iter().position(|x| x == "ssl_subject").unwrap();
    rows[1][ua] = "Mozilla/5.0 (X11; Linux) AppleWebKit (KHTML, like Gecko) \"quoted\"".into();
    rows[2][subj] = "CN=a,O=\"B, Inc.\",C=AU".into();
    let bytes = to_csv(&h, &rows);
    assert!(String::from_utf8_lossy(&bytes).contains("\"\"quoted\"\""));
    let t = TonIotTable::load(&write(dir.path(), "q.csv", &bytes)).unwrap();
    let j = |n: &str| t.categorical_names.iter().position(|x| x == n).unwrap();
    assert_eq!(
        t.token_at(1, j("http_user_agent")),
        Some(rows[1][ua].as_str())
    );
    assert_eq!(
        t.token_at(2, j("ssl_subject")),
        Some(rows[2][subj].as_str())
    );
}

#[test]
fn a_truncated_last_line_is_reported_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let csv = synthetic(50, 6);
    let text = String::from_utf8(csv).unwrap();
    let cut = text.trim_end().rfind('\n').unwrap() + 30; // 30 bytes into the last row (line 51)
    let p = write(dir.path(), "t.csv", &text.as_bytes()[..cut]);
    match TonIotTable::load(&p) {
        Err(Error::Row { line, detail, .. }) => {
            assert_eq!(line, 51);
            assert!(detail.contains("expected 44 fields"), "{detail}");
        }
        other => panic!("expected a row error, got {other:?}"),
    }
    // The rows before it are readable in streaming mode.
    let mut r = TonIotReader::open(&p).unwrap();
    let mut n = 0;
    while let Ok(Some(_)) = r.next_row() {
        n += 1;
    }
    assert_eq!(n, 49);
}

#[test]
fn gzip_is_read_transparently_by_magic_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = TonIotGenConfig { rows: 400, seed: 7 };
    let plain = dir.path().join("p.csv");
    let gz = dir.path().join("g.csv.gz");
    write_synthetic(&plain, &cfg).unwrap();
    write_synthetic(&gz, &cfg).unwrap();
    let raw = std::fs::read(&gz).unwrap();
    assert_eq!(&raw[..2], &[0x1f, 0x8b]);
    // Same bytes under a name without .gz: detected by the magic, not the extension.
    let renamed = write(dir.path(), "renamed.dat", &raw);
    let a = TonIotTable::load(&plain).unwrap();
    assert_eq!(a, TonIotTable::load(&gz).unwrap());
    assert_eq!(a, TonIotTable::load(&renamed).unwrap());
    // A corrupt gzip stream is an error, not a panic.
    let mut bad = raw.clone();
    let mid = bad.len() / 2;
    bad.truncate(mid);
    assert!(TonIotTable::load(&write(dir.path(), "bad.gz", &bad)).is_err());
}

#[test]
fn the_46_column_layout_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, mut rows) = records(&synthetic(30, 8));
    h.insert(0, "ts".into());
    h.push("http_referrer".into());
    for (i, r) in rows.iter_mut().enumerate() {
        r.insert(0, format!("{}", 1_556_000_000 + i));
        r.push(if i % 2 == 0 {
            "-".into()
        } else {
            "http://a.b/?x=1,2".into()
        });
    }
    let t = TonIotTable::load(&write(dir.path(), "full.csv", &to_csv(&h, &rows))).unwrap();
    assert_eq!(t.layout, Layout::Full);
    assert_eq!(t.categorical_names.len(), 28);
    assert!(t.categorical_names.contains(&"http_referrer".to_string()));
    // ts without http_referrer: the missing one is named.
    h.pop();
    for r in &mut rows {
        r.pop();
    }
    let err = TonIotReader::open(&write(dir.path(), "half.csv", &to_csv(&h, &rows)))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("http_referrer"), "{err}");
}

#[test]
fn ten_thousand_mutated_rows_never_panic() {
    let csv = synthetic(200, 9);
    let text = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let alphabet = b",\"\n\r-0123456789.eE+x \t\xff;";
    let (mut ok, mut err) = (0, 0);
    for _ in 0..10_000 {
        let mut row = lines[rng.gen_range(1..lines.len())].as_bytes().to_vec();
        for _ in 0..rng.gen_range(1..4) {
            let i = rng.gen_range(0..=row.len());
            match rng.gen_range(0..4) {
                0 if i < row.len() => row[i] = alphabet[rng.gen_range(0..alphabet.len())],
                1 if i < row.len() => {
                    row.remove(i);
                }
                2 => row.insert(i, alphabet[rng.gen_range(0..alphabet.len())]),
                _ => row.truncate(i),
            }
        }
        let mut file = lines[0].as_bytes().to_vec();
        file.push(b'\n');
        file.extend_from_slice(&row);
        let mut r = match TonIotReader::from_reader(file.as_slice(), Path::new("mutated.csv")) {
            Ok(r) => r,
            Err(_) => {
                err += 1;
                continue;
            }
        };
        loop {
            match r.next_row() {
                Ok(Some(_)) => ok += 1,
                Ok(None) => break,
                Err(e) => {
                    assert!(e.to_string().contains("mutated.csv"), "{e}");
                    err += 1;
                    break;
                }
            }
        }
    }
    assert!(ok > 0 && err > 1_000, "ok {ok}, err {err}");
}

#[test]
fn preprocessing_uses_training_statistics_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.csv");
    write_synthetic(
        &p,
        &TonIotGenConfig {
            rows: 2_000,
            seed: 10,
        },
    )
    .unwrap();
    let t = TonIotTable::load(&p).unwrap();
    let (train, test) = stratified_split(&t.class, 0.25, 3).unwrap();
    assert_eq!(train.len() + test.len(), 2_000);
    // Stratified: every class keeps its share (within one row).
    let counts = t.class_counts();
    for (c, &n) in counts.iter().enumerate() {
        let nt = test
            .iter()
            .filter(|&&r| usize::from(t.class[r]) == c)
            .count();
        assert!(
            (nt as f64 - 0.25 * n as f64).abs() <= 1.0,
            "class {c}: {nt} of {n}"
        );
    }
    assert_eq!(
        stratified_split(&t.class, 0.25, 3).unwrap(),
        (train.clone(), test.clone())
    );
    assert_ne!(stratified_split(&t.class, 0.25, 4).unwrap().1, test);
    let pre = Preprocessor::fit(&t, &train, PreprocessConfig { top_n: 5 }).unwrap();
    assert_eq!(pre.numeric.len(), 11);
    assert_eq!(pre.categorical.len(), 27);
    assert!(pre.categorical.iter().all(|c| c.tokens.len() <= 5));
    let dim = pre.dim();
    let x = pre.transform(&t, &train).unwrap();
    assert_eq!(x.len(), train.len() * dim);
    // Numeric slots: mean 0, std 1 on the training rows (independent recomputation).
    for j in 0..11 {
        let v: Vec<f64> = x.chunks(dim).map(|r| f64::from(r[j])).collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let s = (v.iter().map(|a| (a - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        assert!(m.abs() < 1e-4, "{j}: mean {m}");
        assert!((s - 1.0).abs() < 1e-3 || s < 1e-6, "{j}: std {s}");
        // Back to original units.
        let r0 = train[0];
        let want = t.numeric_at(r0, j).unwrap_or(0.0);
        let got = pre.numeric_to_original(j, f64::from(x[j]));
        assert!(
            (got - want).abs() <= 1e-3 * want.abs().max(1.0),
            "{j}: {got} vs {want}"
        );
    }
    // Every one-hot block holds exactly one 1.
    for b in pre.blocks() {
        if let privsplit_data::tabular::FeatureBlock::Categorical { start, len, .. } = b {
            for r in x.chunks(dim) {
                assert_eq!(r[start..start + len].iter().sum::<f32>(), 1.0);
            }
        }
    }
    let json = dir.path().join("pre.json");
    pre.save(&json).unwrap();
    // JSON keeps every token exactly and every statistic to within a few ulps (serde_json's float parser).
    let back = Preprocessor::load(&json).unwrap();
    assert_eq!(back.categorical, pre.categorical);
    assert_eq!(back.dim(), pre.dim());
    for (a, b) in back.numeric.iter().zip(&pre.numeric) {
        assert_eq!(a.name, b.name);
        assert!((a.mean - b.mean).abs() <= 1e-14 * b.mean.abs().max(1.0));
        assert!((a.std - b.std).abs() <= 1e-14 * b.std.abs().max(1.0));
    }
    std::fs::write(&json, b"{\"format\":\"x\"}").unwrap();
    assert!(Preprocessor::load(&json).is_err());
    assert!(Preprocessor::fit(&t, &[], PreprocessConfig::default()).is_err());
    assert!(stratified_split(&t.class, 1.0, 0).is_err());
}
