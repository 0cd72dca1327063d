//! Times the TON_IoT loader on a file of the real size (211,043 rows).
//!
//! `cargo run --release -p privsplit-data --example ton_iot_load [FILE]`: with FILE (e.g. the real
//! `train_test_network.csv`, plain or gzipped) it loads that file; without, it first writes a SYNTHETIC
//! 211,043-row file in the real layout to a temporary folder. Prints rows, class counts and seconds.

use std::time::Instant;

use privsplit_data::tabular::{write_synthetic, TonIotGenConfig, TonIotTable, CLASSES};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("privsplit-ton-iot-{}", std::process::id()));
    let path = match std::env::args().nth(1) {
        Some(p) => std::path::PathBuf::from(p),
        None => {
            std::fs::create_dir_all(&dir)?;
            let p = dir.join("ton_iot_synthetic_211043.csv");
            let t = Instant::now();
            write_synthetic(
                &p,
                &TonIotGenConfig {
                    rows: 211_043,
                    seed: 1,
                },
            )?;
            println!(
                "wrote SYNTHETIC {} ({} bytes) in {:.2} s",
                p.display(),
                std::fs::metadata(&p)?.len(),
                t.elapsed().as_secs_f64()
            );
            p
        }
    };
    let t = Instant::now();
    let table = TonIotTable::load(&path)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "loaded {} rows ({:?} layout) in {secs:.2} s",
        table.rows, table.layout
    );
    for (c, n) in CLASSES.iter().zip(table.class_counts()) {
        println!("  {c:<11} {n}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
