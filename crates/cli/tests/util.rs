//! Running the built `privsplit` binary.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `privsplit args` in `cwd` (the environment is inherited: under `CI`, missing data fails).
pub fn privsplit(args: &[&str], cwd: &Path) -> Output {
    privsplit_env(args, cwd, &[])
}

/// Runs `privsplit args` in `cwd` with extra environment variables.
pub fn privsplit_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_privsplit"));
    c.args(args).current_dir(cwd).env("RUST_LOG", "warn");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the privsplit binary runs")
}

/// Standard output and standard error together, for failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The finished run folders under `out` (hidden partial folders left out; none when `out` is missing).
pub fn run_folders(out: &Path) -> Vec<std::path::PathBuf> {
    if !out.exists() {
        return Vec::new();
    }
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect()
}

/// Whether Fashion-MNIST is installed (Debian package); without it the caller skips and says so, except
/// under CI, where this fails naming the install step.
pub fn fashion_mnist_installed() -> bool {
    let data = Path::new(privsplit_data::fashion_mnist::DEBIAN_DIR);
    privsplit_data::installed_or_skip("Fashion-MNIST", &[&data.join("train-images-idx3-ubyte.gz")])
}

/// A service process, killed when the test ends (pass or fail).
pub struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback address (bound, then released).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Starts `privsplit args` (a service) in `cwd` and waits until it listens on `addr` (60 s at most).
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

/// Runs `privsplit args` in `cwd`, asserts success, returns its output text.
pub fn run_ok(args: &[&str], cwd: &Path) -> String {
    let out = privsplit(args, cwd);
    let t = text(&out);
    assert!(out.status.success(), "privsplit {args:?}:\n{t}");
    t
}

/// Both services of `model` (`--model ... --weights ... --partition k`) on loopback in `cwd`, over a
/// pinned Noise_KK link (keys made with `serve keygen`), the trusted one with insecure-dev evidence (no
/// TEE here: NO SECURITY); returns the trusted service's address (for `privsplit infer --endpoint`) and
/// the services, stopped when dropped.
pub fn serve_split(model: &[&str], cwd: &Path) -> (String, [Service; 2]) {
    run_ok(&["serve", "keygen", "--out", "u.key"], cwd);
    run_ok(&["serve", "keygen", "--out", "t.key"], cwd);
    let (ua, ta) = (free_port(), free_port());
    let (us, ts) = (ua.to_string(), ta.to_string());
    let mut u = vec!["serve", "untrusted", "--listen", &us];
    u.extend(model);
    u.extend(["--link-key", "u.key", "--peer-key", "t.key.pub"]);
    let untrusted = serve(&u, cwd, ua);
    let mut t = vec!["serve", "trusted", "--listen", &ts, "--untrusted", &us];
    t.extend(model);
    t.extend([
        "--attester",
        "insecure-dev",
        "--link-key",
        "t.key",
        "--peer-key",
        "u.key.pub",
    ]);
    let trusted = serve(&t, cwd, ta);
    (ts, [untrusted, trusted])
}
