//! The TON_IoT workload end to end through the binary at a small size: generate SYNTHETIC rows, train the
//! intrusion-detection MLP, sweep two partition points of it, serve it split across the two services and
//! classify one row with `privsplit infer --csv`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use privsplit_data::tabular::CLASSES;
use privsplit_models::tabular::{csv_rows, load_tabular, predict_rows, preprocess_path};
use privsplit_models::zoo::ArchConfig;

use crate::util::{privsplit, text};

/// A service process, killed when the test ends (pass or fail).
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn serve(args: &[&str], cwd: &Path, addr: SocketAddr) -> Service {
    let mut s = Service(
        Command::new(env!("CARGO_BIN_EXE_privsplit"))
            .args(args)
            .current_dir(cwd)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        if let Some(status) = s.0.try_wait().unwrap() {
            panic!("privsplit {args:?} exited early: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{args:?} never listened"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    s
}

fn run_ok(args: &[&str], cwd: &Path) -> String {
    let out = privsplit(args, cwd);
    let t = text(&out);
    assert!(out.status.success(), "privsplit {args:?}:\n{t}");
    t
}

#[test]
fn generate_train_sweep_serve_and_classify_a_row() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 1. SYNTHETIC rows in the real file's layout, said loudly.
    let t = run_ok(
        &[
            "data", "ton-iot", "--rows", "2000", "--seed", "3", "--out", "rows.csv",
        ],
        dir,
    );
    assert!(t.contains("SYNTHETIC"), "{t}");
    let csv = std::fs::read_to_string(dir.join("rows.csv")).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("src_ip,src_port,dst_ip") && header.ends_with(",label,type"));
    assert_eq!(lines.count(), 2000);

    // 2. Train on the same generated rows (same seed), 10-class `type`.
    let t = run_ok(
        &[
            "tabular",
            "train",
            "--synthetic-rows",
            "2000",
            "--seed",
            "3",
            "--target",
            "type",
            "--epochs",
            "4",
            "--out",
            "model",
        ],
        dir,
    );
    assert!(t.contains("macro-F1") && t.contains("SYNTHETIC"), "{t}");
    let weights = dir.join("model/model.safetensors");
    let pre = preprocess_path(&weights);
    assert!(weights.is_file() && pre.is_file() && dir.join("model/train.json").is_file());

    // 3. Sweep two partition points of that model.
    let t = run_ok(
        &[
            "tabular",
            "sweep",
            "--synthetic-rows",
            "2000",
            "--seed",
            "3",
            "--model",
            "model",
            "--preset",
            "tiny",
            "--points",
            "0,3",
            "--out",
            "runs",
        ],
        dir,
    );
    assert!(t.contains("SYNTHETIC") && t.contains("run folder"), "{t}");
    let run = std::fs::read_dir(dir.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("SYNTHETIC") && md.contains("macro-F1"), "{md}");
    let points = std::fs::read_to_string(run.join("points.csv")).unwrap();
    assert_eq!(points.lines().count(), 1 + 2 * 3, "{points}");

    // 4. Serve it split at k = 2 over a pinned Noise link; classify the first row.
    run_ok(&["serve", "keygen", "--out", "u.key"], dir);
    run_ok(&["serve", "keygen", "--out", "t.key"], dir);
    let (ua, ta) = (free_port(), free_port());
    let (us, ts) = (ua.to_string(), ta.to_string());
    let w = weights.to_str().unwrap();
    let model = ["--model", "tabular-mlp", "--weights", w, "--partition", "2"];
    let mut u = vec!["serve", "untrusted", "--listen", &us];
    u.extend(model);
    u.extend(["--link-key", "u.key", "--peer-key", "t.key.pub"]);
    let _untrusted = serve(&u, dir, ua);
    let mut tr = vec!["serve", "trusted", "--listen", &ts, "--untrusted", &us];
    tr.extend(model);
    tr.extend([
        "--attester",
        "insecure-dev",
        "--link-key",
        "t.key",
        "--peer-key",
        "u.key.pub",
    ]);
    let _trusted = serve(&tr, dir, ta);
    let one: String = csv.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("one.csv"), one).unwrap();
    let p = pre.to_str().unwrap();
    let t = run_ok(
        &[
            "infer",
            "--endpoint",
            &ts,
            "--allow-insecure-dev",
            "--csv",
            "one.csv",
            "--preprocess",
            p,
        ],
        dir,
    );
    let got = t
        .lines()
        .find_map(|l| l.strip_prefix("row 0: type "))
        .unwrap_or_else(|| panic!("no predicted type:\n{t}"))
        .trim()
        .to_string();
    assert!(CLASSES.contains(&got.as_str()), "{got:?}");
    // The same prediction as the whole model in this process.
    let x = csv_rows(&dir.join("one.csv"), &pre).unwrap();
    let arch = ArchConfig::tabular_mlp(x.cols, 10);
    let (m, _) = load_tabular(&arch, &weights, &burn_device()).unwrap();
    assert_eq!(got, CLASSES[predict_rows(&m, &x).unwrap()[0]]);

    // A CSV without the model's preprocessing is a usage error.
    let out = privsplit(&["infer", "--endpoint", &ts, "--csv", "one.csv"], dir);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

fn burn_device() -> privsplit_tee::model::Device {
    privsplit_tee::model::Device::flex()
}
