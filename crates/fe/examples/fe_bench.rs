//! Runs the FE benchmark without the CLI: `cargo run --release -p privsplit-fe --example fe_bench [log2 table]`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bits: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20);
    let t = std::time::Instant::now();
    let table = privsplit_fe::DlogTable::build(1 << bits)?;
    println!("dlog table 2^{bits}: {:.2} s", t.elapsed().as_secs_f64());
    let rows = privsplit_fe::bench::run(&Default::default(), &table, &|l| println!("{l}"))?;
    for r in rows {
        println!(
            "{} | single {:.2} | parallel {:.2} | floor {} | meets {}",
            r.operation,
            r.single_ms,
            r.parallel_ms,
            r.floor,
            r.meets_floor()
        );
    }
    Ok(())
}
