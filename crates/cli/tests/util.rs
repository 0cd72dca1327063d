//! Running the built `privsplit` binary.

use std::path::Path;
use std::process::{Command, Output};

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
