//! The snapshot record: written last, it commits a backup.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{BackupStats, BackupType, EncryptionLevel, Priority, Retention, SnapshotInfo};

/// One committed backup of one wedding.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SnapshotRecord {
    pub version: u32,
    pub wedding_id: String,
    pub time: DateTime<Utc>,
    pub parent: Option<String>,
    pub backup_type: BackupType,
    pub priority: Priority,
    pub retention: Retention,
    pub encryption: EncryptionLevel,
    pub data_shards: usize,
    pub parity_shards: usize,
    pub source_path: Option<PathBuf>,
    /// Name (content hash) of the manifest object, for snapshots written
    /// whole (before format 3); empty when the manifest is in parts.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    /// Names of the manifest's parts, in order (format 3; see
    /// [`super::parts`]). Parts are shared between snapshots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifest_parts: Vec<String>,
    /// Names of the index objects this backup wrote (may be empty).
    pub indexes: Vec<String>,
    pub stats: BackupStats,
}

impl SnapshotRecord {
    /// Names of every manifest object this snapshot needs.
    pub(crate) fn manifest_names(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.manifest)
            .filter(|m| !m.is_empty())
            .chain(&self.manifest_parts)
    }

    /// The public listing form.
    pub(crate) fn info(&self, id: &str) -> SnapshotInfo {
        SnapshotInfo {
            id: id.to_owned(),
            wedding_id: self.wedding_id.clone(),
            time: self.time,
            parent_id: self.parent.clone(),
            backup_type: self.backup_type,
            priority: self.priority,
            retention: self.retention,
            encryption: self.encryption,
            data_shards: self.data_shards,
            parity_shards: self.parity_shards,
            files: self.stats.files_total,
            bytes: self.stats.bytes_total,
            source_path: self.source_path.clone(),
        }
    }
}
