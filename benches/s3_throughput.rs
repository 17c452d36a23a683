//! Backup and restore throughput of a wedding to five S3 buckets on a local
//! moto server, beside the same to five local folders (3+2, priority
//! Critical). Prints each run and the median.
//!
//! ```sh
//! source .ci/s3-env.sh
//! cargo run --release -p heirloom-benches --bin s3_throughput -- [MiB] [runs]
//! ```
//!
//! Defaults: 1024 MiB, 3 runs. Each S3 run starts its own `moto_server`
//! (`HEIRLOOM_TEST_MOTO_SERVER`) and kills it afterwards, since moto keeps
//! every object in memory.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use heirloom::api::{EmergencyRecoveryRequest, Priority, WeddingBackupRequest};
use heirloom::provider::local::LocalDirProvider;
use heirloom::provider::s3::S3Provider;
use heirloom::testing::s3::{create_bucket, test_config, MotoServer, MOTO_SERVER_VAR};
use heirloom::{Engine, EngineConfig, KdfParams, KeySource, Location, StorageProvider};

const FILE_SIZE: usize = 16 * 1024 * 1024;

/// `mib` MiB of incompressible photo-like files.
fn dataset(root: &Path, mib: usize) -> u64 {
    let files = (mib * 1024 * 1024).div_ceil(FILE_SIZE);
    let mut total = 0;
    for i in 0..files {
        let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut data = b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00".to_vec();
        data.reserve(FILE_SIZE);
        while data.len() < FILE_SIZE {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        data.truncate(FILE_SIZE);
        let dir = root.join(format!("photos/{:02}", i / 16));
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join(format!("IMG_{i:04}.jpg")), &data).expect("write");
        total += data.len() as u64;
    }
    total
}

/// Seconds for the backup and for the restore.
async fn run(locations: Vec<Location>, src: &Path, work: &Path) -> (f64, f64) {
    let mut cfg = EngineConfig::new(
        locations,
        work.join("state"),
        KeySource::passphrase("bench: rice and confetti"),
    );
    cfg.kdf = KdfParams::insecure_for_tests();
    let engine = Engine::open(cfg).await.expect("open");
    let mut req = WeddingBackupRequest::directory("w-bench", src);
    req.priority = Priority::Critical;
    let t = Instant::now();
    let b = engine.create_backup(req).await.expect("backup");
    let backup = t.elapsed().as_secs_f64();
    assert_eq!((b.data_shards, b.parity_shards), (3, 2));
    let t = Instant::now();
    engine
        .recover(EmergencyRecoveryRequest::to_folder(
            "w-bench",
            work.join("out"),
        ))
        .await
        .expect("recover");
    (backup, t.elapsed().as_secs_f64())
}

fn location(i: usize, provider: Arc<dyn StorageProvider>) -> Location {
    Location::new(format!("loc-{i}"), format!("region-{i}"), provider)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().map_or(1024, |a| a.parse().expect("MiB"));
    let runs: usize = args.next().map_or(3, |a| a.parse().expect("runs"));
    let moto = std::env::var(MOTO_SERVER_VAR)
        .unwrap_or_else(|_| panic!("{MOTO_SERVER_VAR} is not set: source .ci/s3-env.sh"));

    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    let bytes = dataset(&src, mib);
    let mb = bytes as f64 / 1e6;
    println!(
        "dataset: {mb:.0} MB in {} files, 3+2 over 5 locations",
        bytes as usize / FILE_SIZE
    );

    let mut results: Vec<(&str, Vec<f64>, Vec<f64>)> = Vec::new();
    for kind in ["local folders", "S3 (moto)"] {
        let (mut backups, mut restores) = (Vec::new(), Vec::new());
        for r in 0..runs {
            let work = tmp
                .path()
                .join(format!("run-{}-{r}", backups.len() + results.len() * runs));
            let mut server = None;
            let locations: Vec<Location> = if kind == "local folders" {
                (0..5)
                    .map(|i| {
                        let p = LocalDirProvider::new(work.join(format!("loc{i}"))).expect("dir");
                        location(i, Arc::new(p))
                    })
                    .collect()
            } else {
                let s = MotoServer::spawn(&moto, &[]).expect("moto_server");
                let mut locs = Vec::new();
                for i in 0..5 {
                    let bucket = format!("bench-{r}-{i}");
                    create_bucket(s.endpoint(), &bucket).await.expect("bucket");
                    let p = S3Provider::new(test_config(s.endpoint(), &bucket)).expect("s3");
                    locs.push(location(i, Arc::new(p)));
                }
                server = Some(s);
                locs
            };
            let (b, rs) = run(locations, &src, &work).await;
            drop(server);
            let _ = fs::remove_dir_all(&work);
            println!(
                "{kind} run {}: backup {:.1} s ({:.0} MB/s), restore {:.1} s ({:.0} MB/s)",
                r + 1,
                b,
                mb / b,
                rs,
                mb / rs
            );
            backups.push(mb / b);
            restores.push(mb / rs);
        }
        results.push((kind, backups, restores));
    }
    println!("median of {runs} (MB/s of source data):");
    for (kind, b, r) in results {
        println!(
            "  {kind:14} backup {:6.0}   restore {:6.0}",
            median(b),
            median(r)
        );
    }
}
