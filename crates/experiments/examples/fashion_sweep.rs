//! The Fashion-MNIST sweep without the CLI: trains the small CNN, sweeps every partition point with the
//! three attacks, writes `report.json` and `model.safetensors` into the folder given as first argument
//! (render it with `privsplit sweep merge <folder>/report.json`).
//!
//! `cargo run --release -p privsplit-experiments --example fashion_sweep -- OUT_DIR [DATA_DIR]`

use std::path::PathBuf;

use privsplit_experiments::sweep::{run_sweep, SweepConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .ok_or("usage: fashion_sweep OUT_DIR [DATA_DIR]")?,
    );
    let data = args
        .next()
        .unwrap_or_else(|| privsplit_data::fashion_mnist::DEBIAN_DIR.to_string());
    let split = privsplit_data::fashion_mnist::load(std::path::Path::new(&data))?;
    let cfg = SweepConfig::fashion_mnist();
    let run = run_sweep(&cfg, &split, &mut |s| eprintln!("{s}"))?;
    std::fs::create_dir_all(&out)?;
    privsplit_models::weights::save_model(&run.model, &out.join("model.safetensors"))?;
    privsplit_report::write_json(&out.join("report.json"), &run.report)?;
    eprintln!(
        "test accuracy {:?}, sweep {:.1} s, training {:.1} s, recommendation {:?}",
        run.report.test_accuracy,
        run.report.seconds,
        run.report.train_seconds,
        run.report.recommendation
    );
    Ok(())
}
