//! Scrub and repair figures on a real-sized repository (run in release):
//!
//! ```text
//! python3 ../shared/bench/gen_wedding.py --size 1G --seed 42 --out /tmp/wedding-1g
//! cargo run --release -p heirloom-benches --example scrub -- /tmp/wedding-1g /tmp/scrub-work
//! ```
//!
//! Backs the folder up at critical priority (3+2 over five local-folder
//! locations), then measures a quick verify, a deep verify (default sample
//! of 1 pack in 16 decoded and decrypted), a deep verify decoding every
//! pack, the repair of one wiped location (and checks its byte count), and
//! a recovery drill. Prints what it measured.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use heirloom::api::{Priority, VerifyDepth, WeddingBackupRequest};
use heirloom::provider::local::LocalDirProvider;
use heirloom::{
    DrillSample, Engine, EngineConfig, KdfParams, KeySource, Location, VerifyOptions, VerifyScope,
};

fn folder_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(m) = e.metadata() {
                total += m.len();
            }
        }
    }
    total
}

fn config(work: &Path, state: &str) -> EngineConfig {
    let locations = (0..5)
        .map(|i| {
            let p = LocalDirProvider::new(work.join(format!("loc{i}"))).expect("location folder");
            Location::new(format!("loc{i}"), format!("region-{i}"), Arc::new(p))
        })
        .collect();
    let mut cfg = EngineConfig::new(locations, work.join(state), KeySource::passphrase("bench"));
    cfg.kdf = KdfParams::insecure_for_tests();
    cfg
}

#[tokio::main]
async fn main() -> heirloom::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(src), Some(work)) = (args.next(), args.next()) else {
        eprintln!("usage: scrub <source folder> <work folder>");
        std::process::exit(2);
    };
    let (src, work) = (PathBuf::from(src), PathBuf::from(work));
    let _ = std::fs::remove_dir_all(&work);
    let engine = Engine::open(config(&work, "state")).await?;
    let t = Instant::now();
    let mut req = WeddingBackupRequest::directory("bench", &src);
    req.priority = Priority::Critical;
    let b = engine.create_backup(req).await?;
    println!(
        "backup: {} files, {:.1} MiB source, {:.1} MiB stored in {:.1} s",
        b.stats.files_total,
        b.stats.bytes_total as f64 / 1048576.0,
        b.stats.bytes_stored as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
    let repo_bytes: u64 = (0..5)
        .map(|i| folder_bytes(&work.join(format!("loc{i}"))))
        .sum();
    println!(
        "repository: {:.1} MiB over 5 locations",
        repo_bytes as f64 / 1048576.0
    );

    let q = engine.verify(VerifyScope::All, VerifyDepth::Quick).await?;
    println!(
        "quick verify: {} packs, {} shards in {} ms, {} findings",
        q.packs_total,
        q.shards_checked,
        q.duration_ms,
        q.findings.len()
    );
    for (label, sample) in [
        ("deep verify (1 in 16 decoded)", 16),
        ("deep verify (all decoded)", 1),
    ] {
        let d = engine
            .verify_with(
                VerifyScope::All,
                VerifyDepth::Deep,
                VerifyOptions {
                    sample_one_in: sample,
                    ..Default::default()
                },
            )
            .await?;
        println!(
            "{label}: {} shards, {:.1} MiB read in {:.2} s = {:.0} MB/s; {} packs decoded, {} chunks checked, {} findings",
            d.shards_checked,
            d.bytes_read as f64 / 1048576.0,
            d.duration_ms as f64 / 1000.0,
            d.mb_per_sec,
            d.packs_decoded,
            d.chunks_verified,
            d.findings.len()
        );
    }

    let loc = work.join("loc2");
    let before = folder_bytes(&loc);
    std::fs::remove_dir_all(&loc).map_err(|e| heirloom::Error::Internal(e.to_string()))?;
    std::fs::create_dir_all(&loc).map_err(|e| heirloom::Error::Internal(e.to_string()))?;
    let t = Instant::now();
    let r = engine.repair_all().await?;
    let secs = t.elapsed().as_secs_f64();
    let after = folder_bytes(&loc);
    println!(
        "repair of a wiped location: {} shards + {} metadata objects, {:.1} MiB written in {:.2} s ({:.0} MB/s); bytes before {before}, after {after} ({}), complete: {}",
        r.shards_written,
        r.metadata_copied,
        r.bytes_written as f64 / 1048576.0,
        secs,
        r.bytes_written as f64 / 1e6 / secs,
        if before == after { "equal" } else { "DIFFERENT" },
        r.is_complete()
    );
    let d = engine.drill(DrillSample::Random).await?;
    println!(
        "drill: {} files ({} verified), {:.1} MiB in {:.2} s = {:.0} MB/s, status {}",
        d.files,
        d.files_verified,
        d.bytes as f64 / 1048576.0,
        d.duration_ms as f64 / 1000.0,
        d.mb_per_sec,
        d.status
    );
    Ok(())
}
