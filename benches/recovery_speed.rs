//! Recovery speed of a critical wedding with two of five locations down
//! and the other three far away.
//!
//! ```text
//! cargo run --release -p heirloom-benches --example recovery_speed -- [--size 2G] [--work DIR] [--pack-size BYTES]
//! ```
//! Backs up a wedding folder (the shared generator, seed 42) with the
//! critical profile (3+2 over five local folders), takes two locations
//! down, gives the other three round trips of 20, 80 and 150 ms, drops the
//! page cache, and recovers with `urgency: wedding_day_critical`. Prints
//! what it measured and the time 100 GB would take at that rate; exits 1
//! when that projection is over five minutes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use heirloom::api::{EmergencyRecoveryRequest, Priority, Urgency, WeddingBackupRequest};
use heirloom::provider::fault::FaultyProvider;
use heirloom::provider::latency::LatencyProvider;
use heirloom::{Engine, EngineConfig, KeySource, StorageProvider};
use heirloom_benches::*;

const LIMIT_SECS: f64 = 300.0;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut size = "2G".to_string();
    let mut work = std::env::temp_dir().join("heirloom-recovery-speed");
    let mut pack_size = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--size" => size = args.next().ok_or("--size needs a value")?,
            "--work" => work = args.next().ok_or("--work needs a value")?.into(),
            "--pack-size" => {
                pack_size = Some(
                    args.next()
                        .ok_or("--pack-size needs a value")?
                        .parse::<usize>()?,
                )
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let src = work.join(format!("wedding-{size}"));
    wedding_folder(&size, 42, &src)?;
    let repo = work.join("repo");
    let _ = std::fs::remove_dir_all(&repo);
    let providers = local_providers(&repo, 5);
    let faulty: Vec<Arc<FaultyProvider>> = providers
        .iter()
        .map(|p| Arc::new(FaultyProvider::new(p.clone())))
        .collect();

    let mut cfg = EngineConfig::new(
        locations(&providers),
        repo.join("state"),
        KeySource::passphrase("bench"),
    );
    if let Some(size) = pack_size {
        cfg.pack_size = size;
    }
    let engine = Engine::open(cfg.clone()).await?;
    let mut req = WeddingBackupRequest::directory("critical-wedding", &src);
    req.priority = Priority::Critical;
    let t = Instant::now();
    let b = engine.create_backup(req).await?;
    println!(
        "backup:   {} files, {:.1} MiB in {:.2} s ({}+{} on 5 locations)",
        b.stats.files_total,
        b.stats.bytes_total as f64 / 1048576.0,
        t.elapsed().as_secs_f64(),
        b.data_shards,
        b.parity_shards
    );
    drop(engine);

    // Two locations down; the other three 20, 80 and 150 ms away.
    faulty[1].set_down(true);
    faulty[3].set_down(true);
    let rtts = [20u64, 0, 80, 0, 150];
    let far: Vec<Arc<dyn StorageProvider>> = faulty
        .iter()
        .zip(rtts)
        .map(|(f, ms)| {
            Arc::new(LatencyProvider::new(f.clone(), Duration::from_millis(ms)))
                as Arc<dyn StorageProvider>
        })
        .collect();
    cfg.locations = locations(&far);
    cfg.state_dir = repo.join("state-recovery");
    let engine = Engine::open(cfg).await?;
    let out = work.join("restored");
    let _ = std::fs::remove_dir_all(&out);
    let dropped = drop_caches();
    let mut rr = EmergencyRecoveryRequest::to_folder("critical-wedding", &out);
    rr.urgency = Urgency::WeddingDayCritical;
    let t = Instant::now();
    let r = engine.recover(rr).await?;
    let secs = t.elapsed().as_secs_f64();
    let mbps = r.recovered_bytes as f64 / 1e6 / secs;
    let projected = 100e9 / (r.recovered_bytes as f64 / secs);
    println!(
        "recovery: {} files, {} bytes ({:.2} GB) in {:.2} s = {:.0} MB/s; read from {:?}; {} packs, {} rebuilt from parity; {} files verified{}",
        r.recovered_files,
        r.recovered_bytes,
        r.recovered_bytes as f64 / 1e9,
        secs,
        mbps,
        r.locations_read,
        r.packs_read,
        r.packs_reconstructed,
        r.files_verified,
        if dropped { "; page cache dropped first" } else { "; page cache NOT dropped (not root)" }
    );
    println!("projected 100 GB recovery at this rate: {projected:.0} s ({:.1} min); limit {LIMIT_SECS:.0} s", projected / 60.0);
    let _ = std::fs::remove_dir_all(&out);
    if projected > LIMIT_SECS {
        println!("FAIL: the projection is over five minutes");
        std::process::exit(1);
    }
    println!("OK: under five minutes");
    Ok(())
}
