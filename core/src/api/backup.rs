//! `create_backup`: request and result.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{BackupType, EncryptionLevel, Priority, Retention};

/// `POST /api/backups/wedding/{weddingId}/create`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeddingBackupRequest {
    /// The wedding.
    pub wedding_id: String,
    /// What to back up.
    pub source: BackupSource,
    /// `full | incremental | critical_only`.
    #[serde(default = "default_backup_type")]
    pub backup_type: BackupType,
    /// Picks the redundancy profile.
    #[serde(default = "default_priority")]
    pub priority: Priority,
    /// Total shards per pack (distinct locations); the profile's parity count
    /// is kept and the rest are data shards. `None`: the profile's own.
    #[serde(default)]
    pub locations: Option<usize>,
    /// Keep rules applied by prune.
    #[serde(default = "default_retention")]
    pub retention: Retention,
    /// Encryption level.
    #[serde(default = "default_encryption")]
    pub encryption: EncryptionLevel,
}

fn default_backup_type() -> BackupType {
    BackupType::Incremental
}
fn default_priority() -> Priority {
    Priority::Standard
}
fn default_retention() -> Retention {
    Retention::Standard
}
fn default_encryption() -> EncryptionLevel {
    EncryptionLevel::Standard
}

impl WeddingBackupRequest {
    /// An incremental, standard backup of a folder.
    pub fn directory(wedding_id: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        WeddingBackupRequest {
            wedding_id: wedding_id.into(),
            source: BackupSource::Directory { path: path.into() },
            backup_type: default_backup_type(),
            priority: default_priority(),
            locations: None,
            retention: default_retention(),
            encryption: default_encryption(),
        }
    }
}

/// Where a backup's files come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum BackupSource {
    /// Every file under a folder (symlinks are stored as links, not followed).
    Directory {
        /// The folder.
        path: PathBuf,
    },
    /// A list of items handed in by the host.
    Items {
        /// The items; names are relative paths inside the snapshot.
        items: Vec<SourceItem>,
    },
}

/// One item handed in by a host: a name and either a file path or bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceItem {
    /// Relative path inside the snapshot, `/`-separated.
    pub name: String,
    /// A file to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The content itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<u8>>,
}

/// Byte and file counts of one backup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupStats {
    /// Files in the snapshot.
    pub files_total: u64,
    /// Files whose content was read.
    pub files_read: u64,
    /// Files carried over from the parent snapshot without reading.
    pub files_unchanged: u64,
    /// Files left out (unreadable, special files, or outside `critical_only`).
    pub files_skipped: u64,
    /// Logical size of the snapshot.
    pub bytes_total: u64,
    /// Bytes read from the source.
    pub bytes_read: u64,
    /// Bytes of chunks not already in the repository (plaintext).
    pub bytes_new: u64,
    /// Bytes written to locations (shards with headers, and metadata).
    pub bytes_stored: u64,
    /// Chunks in the snapshot's new files.
    pub chunks_total: u64,
    /// Chunks that were new.
    pub chunks_new: u64,
    /// Packs written.
    pub packs_written: u64,
}

/// The result of `create_backup`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupResult {
    /// The snapshot id.
    pub backup_id: String,
    /// The wedding.
    pub wedding_id: String,
    /// `completed`.
    pub status: String,
    /// The type that ran.
    pub backup_type: BackupType,
    /// The priority it ran with.
    pub priority: Priority,
    /// The encryption level.
    pub encryption: EncryptionLevel,
    /// Retention rules it is kept under.
    pub retention: Retention,
    /// The parent snapshot an incremental compared with.
    pub parent_id: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When its snapshot was committed.
    pub completed_at: DateTime<Utc>,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Data shards per pack.
    pub data_shards: usize,
    /// Parity shards per pack (locations that may be lost).
    pub parity_shards: usize,
    /// Ids of the locations that received shards.
    pub locations_used: Vec<String>,
    /// Ids of the locations that hold the snapshot's metadata.
    pub metadata_locations: Vec<String>,
    /// Counts.
    pub stats: BackupStats,
    /// `bytes_total / bytes_new`: the snapshot's logical size over the new bytes it stored (how much
    /// dedup and unchanged files saved); 0 when nothing was new.
    pub dedup_ratio: f64,
}
