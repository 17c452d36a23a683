//! Recovery drills: a sampled snapshot restored to a temporary folder,
//! every file hash checked (by `recover`), timed, and the folder removed.
//! The latest report is kept in the state folder (`last-drill.json`) for
//! the health report.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{EmergencyRecoveryRequest, RecoveryLocation, Urgency};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// File name of the latest drill report in the state folder.
const LAST_DRILL_FILE: &str = "last-drill.json";

/// Which snapshot a drill restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "sample", rename_all = "camelCase")]
pub enum DrillSample {
    /// Any snapshot of any wedding, drawn from the engine's random stream.
    Random,
    /// A random snapshot of this wedding.
    #[serde(rename_all = "camelCase")]
    Wedding {
        /// The wedding.
        wedding_id: String,
    },
    /// This snapshot.
    #[serde(rename_all = "camelCase")]
    Snapshot {
        /// Snapshot id.
        snapshot_id: String,
    },
}

/// The result of [`Engine::drill`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillReport {
    /// The wedding restored.
    pub wedding_id: String,
    /// The snapshot restored.
    pub snapshot_id: String,
    /// When the drill started.
    pub started_at: DateTime<Utc>,
    /// `passed` or `failed`.
    pub status: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Files restored.
    pub files: u64,
    /// Files whose whole-file digest matched the manifest.
    pub files_verified: u64,
    /// Chunks decrypted and checked.
    pub chunks_verified: u64,
    /// Bytes restored.
    pub bytes: u64,
    /// Wall time, milliseconds.
    pub duration_ms: u64,
    /// Restored MB (10^6 bytes) per second.
    pub mb_per_sec: f64,
    /// Packs that needed parity.
    pub packs_reconstructed: u64,
    /// Shards found bad while reading.
    pub bad_shards: u64,
}

impl DrillReport {
    /// True when every file came back and matched its hash.
    pub fn passed(&self) -> bool {
        self.status == "passed"
    }
}

/// Runs one drill and stores its report (a failed restore is a report with
/// status `failed`, not an error; an error means no drill could be run).
pub(crate) async fn drill(engine: &Engine, sample: DrillSample) -> Result<DrillReport> {
    let inner = engine.inner();
    let ctx = &inner.config.context;
    let (snapshot_id, wedding_id) = {
        let cat = inner.catalog.read().await;
        let candidates: Vec<(&String, &String)> = cat
            .snapshots_sorted()
            .filter(|(id, s)| match &sample {
                DrillSample::Random => true,
                DrillSample::Wedding { wedding_id } => &s.wedding_id == wedding_id,
                DrillSample::Snapshot { snapshot_id } => *id == snapshot_id,
            })
            .map(|(id, s)| (id, &s.wedding_id))
            .collect();
        if candidates.is_empty() {
            return Err(Error::NotFound(format!(
                "no snapshot to drill for {sample:?}"
            )));
        }
        let pick = (ctx.random_u64() % candidates.len() as u64) as usize;
        let (id, w) = candidates[pick];
        (id.clone(), w.clone())
    };
    let started_at = ctx.now();
    let timer = Instant::now();
    let mut req = EmergencyRecoveryRequest::to_folder(&wedding_id, "");
    req.destination = None;
    req.recovery_location = RecoveryLocation::Temporary;
    req.snapshot_id = Some(snapshot_id.clone());
    req.urgency = Urgency::Standard;
    let result = engine.recover(req).await;
    let secs = timer.elapsed().as_secs_f64();
    let mut report = DrillReport {
        wedding_id,
        snapshot_id,
        started_at,
        status: "passed".into(),
        error: None,
        files: 0,
        files_verified: 0,
        chunks_verified: 0,
        bytes: 0,
        duration_ms: timer.elapsed().as_millis() as u64,
        mb_per_sec: 0.0,
        packs_reconstructed: 0,
        bad_shards: 0,
    };
    match result {
        Ok(r) => {
            if let Err(e) = std::fs::remove_dir_all(&r.destination) {
                tracing::warn!(folder = %r.destination.display(), error = %e, "drill folder not removed");
            }
            report.files = r.recovered_files;
            report.files_verified = r.files_verified;
            report.chunks_verified = r.chunks_verified;
            report.bytes = r.recovered_bytes;
            report.packs_reconstructed = r.packs_reconstructed;
            report.bad_shards = r.bad_shards.len() as u64;
            report.mb_per_sec = if secs > 0.0 {
                r.recovered_bytes as f64 / 1e6 / secs
            } else {
                0.0
            };
            if r.files_verified != r.recovered_files {
                report.status = "failed".into();
                report.error = Some(format!(
                    "{} of {} files verified",
                    r.files_verified, r.recovered_files
                ));
            }
        }
        Err(e) => {
            report.status = "failed".into();
            report.error = Some(e.to_string());
        }
    }
    tracing::info!(wedding = %report.wedding_id, snapshot = %report.snapshot_id, status = %report.status, ms = report.duration_ms, "recovery drill");
    let path = inner.config.state_dir.join(LAST_DRILL_FILE);
    let tmp = inner
        .config
        .state_dir
        .join(format!("{LAST_DRILL_FILE}.tmp"));
    let bytes = serde_json::to_vec_pretty(&report).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    Ok(report)
}

/// The latest drill report, if a drill has run with this state folder.
pub(crate) fn last_drill(state_dir: &std::path::Path) -> Result<Option<DrillReport>> {
    let path = state_dir.join(LAST_DRILL_FILE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::corrupt("-", path.display().to_string(), e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}
