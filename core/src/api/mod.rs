//! Requests and results of the engine's API, with the platform's JSON shape
//! (camelCase fields, RFC 3339 UTC timestamps, contract strings for enums).

mod backup;
mod options;
mod recover;

pub use backup::{BackupResult, BackupSource, BackupStats, SourceItem, WeddingBackupRequest};
pub use options::{
    BackupType, DataType, EncryptionLevel, FileClass, Priority, RecoveryCapability,
    RecoveryLocation, Retention, Urgency, VerifyDepth,
};
pub use recover::{BadShard, EmergencyRecoveryRequest, RecoveryResult, SnapshotInfo};
