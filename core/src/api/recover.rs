//! `recover` and `snapshots`: requests and results.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    BackupType, DataType, EncryptionLevel, Priority, RecoveryLocation, Retention, Urgency,
};

/// `POST /api/backups/recover`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmergencyRecoveryRequest {
    /// The wedding.
    pub wedding_id: String,
    /// What to restore.
    #[serde(default = "default_data_type")]
    pub data_type: DataType,
    /// Restore the newest snapshot at or before this time; `None`: the newest.
    #[serde(default)]
    pub target_timestamp: Option<DateTime<Utc>>,
    /// A specific snapshot instead of a time.
    #[serde(default)]
    pub snapshot_id: Option<String>,
    /// How hard to push the locations.
    #[serde(default = "default_urgency")]
    pub urgency: Urgency,
    /// Where to write.
    #[serde(default = "default_location")]
    pub recovery_location: RecoveryLocation,
    /// The folder for `alternate`.
    #[serde(default)]
    pub destination: Option<PathBuf>,
    /// Paths (files or folders, `/`-separated) for `specific_items`.
    #[serde(default)]
    pub items: Vec<String>,
}

fn default_data_type() -> DataType {
    DataType::CompleteWedding
}
fn default_urgency() -> Urgency {
    Urgency::Standard
}
fn default_location() -> RecoveryLocation {
    RecoveryLocation::Alternate
}

impl EmergencyRecoveryRequest {
    /// The newest snapshot of a wedding, complete, to `destination`.
    pub fn to_folder(wedding_id: impl Into<String>, destination: impl Into<PathBuf>) -> Self {
        EmergencyRecoveryRequest {
            wedding_id: wedding_id.into(),
            data_type: default_data_type(),
            target_timestamp: None,
            snapshot_id: None,
            urgency: default_urgency(),
            recovery_location: RecoveryLocation::Alternate,
            destination: Some(destination.into()),
            items: Vec::new(),
        }
    }
}

/// A shard that was missing or failed its check during a read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BadShard {
    /// Location id.
    pub location: String,
    /// Object key.
    pub object: String,
    /// What was wrong.
    pub reason: String,
}

/// The result of `recover`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryResult {
    /// The wedding.
    pub wedding_id: String,
    /// `completed`.
    pub status: String,
    /// The snapshot restored.
    pub snapshot_id: String,
    /// Its time.
    pub snapshot_time: DateTime<Utc>,
    /// What was restored.
    pub data_type: DataType,
    /// The urgency it ran with.
    pub urgency: Urgency,
    /// Where it was written.
    pub destination: PathBuf,
    /// Files written.
    pub recovered_files: u64,
    /// Bytes written.
    pub recovered_bytes: u64,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Ids of locations shards were read from.
    pub locations_read: Vec<String>,
    /// Packs read.
    pub packs_read: u64,
    /// Packs rebuilt from parity because a shard was missing or bad.
    pub packs_reconstructed: u64,
    /// Shards that were missing, unreachable or corrupt (worked around with parity).
    pub bad_shards: Vec<BadShard>,
    /// Chunks whose id and authentication tag were checked.
    pub chunks_verified: u64,
    /// Files whose whole-file digest (BLAKE3, or SHA-256 in repositories
    /// before format 4), computed as they were written, matched the manifest.
    pub files_verified: u64,
}

/// One snapshot, as listed by `snapshots`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotInfo {
    /// Snapshot id.
    pub id: String,
    /// The wedding.
    pub wedding_id: String,
    /// When it was taken.
    pub time: DateTime<Utc>,
    /// Its parent.
    pub parent_id: Option<String>,
    /// The type that made it.
    pub backup_type: BackupType,
    /// Its priority.
    pub priority: Priority,
    /// Retention rules.
    pub retention: Retention,
    /// Encryption level.
    pub encryption: EncryptionLevel,
    /// Data shards per pack.
    pub data_shards: usize,
    /// Parity shards per pack.
    pub parity_shards: usize,
    /// Files in it.
    pub files: u64,
    /// Logical bytes in it.
    pub bytes: u64,
    /// The folder it was taken from, if any.
    pub source_path: Option<PathBuf>,
}
