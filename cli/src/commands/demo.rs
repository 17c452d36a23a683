//! `heirloom demo`: a sample wedding is backed up to five local locations,
//! two of them are deleted, and the wedding is recovered and compared file
//! by file. Exits 0 only when every file came back byte-identical.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use heirloom::api::{
    BackupResult, BackupType, EmergencyRecoveryRequest, Priority, RecoveryResult, Urgency,
    WeddingBackupRequest,
};
use heirloom::config::init_local;
use heirloom::{Context, Error};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::errors::CliError;
use crate::output::{bytes, rate, secs, Output};
use crate::progress::ProgressView;
use crate::sample;

const WEDDING: &str = "ada-and-grace-2026-06-13";
const LOST: [&str; 2] = ["loc-2", "loc-4"];

/// The demo's result, as JSON.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DemoReport {
    directory: PathBuf,
    sample_files: u64,
    sample_bytes: u64,
    lost_locations: Vec<String>,
    backup: BackupResult,
    recovery: RecoveryResult,
    files_compared: u64,
    identical: bool,
    mismatches: Vec<String>,
    total_ms: u64,
}

fn ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |e| {
        Error::Io {
            path: path.to_owned(),
            source: e,
        }
        .into()
    }
}

pub async fn run(dir: Option<PathBuf>, out: &Output) -> Result<(), CliError> {
    let started = Instant::now();
    let (_temp, root) = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d).map_err(io_err(&d))?;
            (None, d)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("heirloom-demo-")
                .tempdir()
                .map_err(io_err(&std::env::temp_dir()))?;
            let p = t.path().to_owned();
            (Some(t), p)
        }
    };
    out.line(format!("heirloom demo in {}", root.display()));

    let t = Instant::now();
    let wedding_dir = root.join("wedding");
    let sample = sample::write_wedding(&wedding_dir).map_err(io_err(&wedding_dir))?;
    out.line(format!(
        "[1/6] sample    {} files, {}: {} photos, {} video, {} documents ({})",
        sample.files,
        bytes(sample.bytes),
        sample.photos,
        sample.videos,
        sample.documents,
        secs(ms(t))
    ));

    let t = Instant::now();
    let config = root.join("heirloom.toml");
    let data = root.join("heirloom-data");
    init_local(&config, &data, 5, true, &Context::default())?;
    let engine = super::open_engine(&config).await?;
    out.line(format!(
        "[2/6] init      5 local locations in {}, generated key file ({})",
        data.display(),
        secs(ms(t))
    ));

    let mut req = WeddingBackupRequest::directory(WEDDING, &wedding_dir);
    req.priority = Priority::Critical;
    req.backup_type = BackupType::Full;
    let view = ProgressView::start(out, "backup");
    let backup = engine.create_backup_with_progress(req, view.sink()).await;
    view.finish();
    let backup = backup?;
    out.line(format!(
        "[3/6] backup    {} in {}, {}: priority critical, {}+{} shards on {} locations, {} stored",
        bytes(backup.stats.bytes_read),
        secs(backup.duration_ms),
        rate(backup.stats.bytes_read, backup.duration_ms),
        backup.data_shards,
        backup.parity_shards,
        backup.locations_used.len(),
        bytes(backup.stats.bytes_stored),
    ));
    drop(engine);

    for loc in LOST {
        let p = data.join(loc);
        std::fs::remove_dir_all(&p).map_err(io_err(&p))?;
    }
    out.line(format!(
        "[4/6] disaster  deleted {} entirely: 2 of 5 locations gone",
        LOST.join(" and ")
    ));

    let t = Instant::now();
    let engine = super::open_engine(&config).await?;
    let mut req = EmergencyRecoveryRequest::to_folder(WEDDING, root.join("recovered"));
    req.urgency = Urgency::WeddingDayCritical;
    let view = ProgressView::start(out, "recover");
    let recovery = engine.recover_with_progress(req, view.sink()).await;
    view.finish();
    let recovery = recovery?;
    let recover_ms = ms(t);
    out.line(format!(
        "[5/6] recover   {} in {}, {} (cold start): urgency wedding_day_critical, read {}, {} of {} packs rebuilt from parity",
        bytes(recovery.recovered_bytes),
        secs(recover_ms),
        rate(recovery.recovered_bytes, recover_ms),
        recovery.locations_read.join(", "),
        recovery.packs_reconstructed,
        recovery.packs_read,
    ));

    let t = Instant::now();
    let (before, after) = (hash_tree(&wedding_dir)?, hash_tree(&recovery.destination)?);
    let mismatches: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let identical = mismatches.is_empty() && !before.is_empty();
    out.line(format!(
        "[6/6] verify    {} of {} files byte-identical by SHA-256 ({})",
        before.len() - mismatches.len().min(before.len()),
        before.len(),
        secs(ms(t)),
    ));

    let report = DemoReport {
        directory: root.clone(),
        sample_files: sample.files,
        sample_bytes: sample.bytes,
        lost_locations: LOST.iter().map(|s| s.to_string()).collect(),
        backup,
        recovery,
        files_compared: before.len() as u64,
        identical,
        mismatches: mismatches.clone(),
        total_ms: ms(started),
    };
    if !identical {
        return Err(CliError::Failed {
            message: format!(
                "the recovered wedding differs from the original: {} file(s): {}",
                mismatches.len(),
                mismatches.join(", ")
            ),
            hint: Some(format!(
                "the demo folder is {}; run with -vv for details",
                root.display()
            )),
        });
    }
    out.result(&report, || {
        format!(
            "\nresult: all {} files recovered byte-identical with 2 of 5 locations lost; total {}\n",
            report.files_compared,
            secs(report.total_ms)
        )
    })
}

/// Relative path → SHA-256 of every file under `root`.
fn hash_tree(root: &Path) -> Result<BTreeMap<String, [u8; 32]>, CliError> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let path = entry.map_err(io_err(&dir))?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let mut f = std::fs::File::open(&path).map_err(io_err(&path))?;
                let mut h = Sha256::new();
                std::io::copy(&mut f, &mut h).map_err(io_err(&path))?;
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, h.finalize().into());
            }
        }
    }
    Ok(out)
}
