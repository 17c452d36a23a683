//! Requests and results of the engine's API, with the platform's JSON shape
//! (camelCase fields, RFC 3339 UTC timestamps, contract strings for enums).

mod backup;
pub(crate) mod options;
mod progress;
mod recover;
mod status;

pub use backup::{BackupResult, BackupSource, BackupStats, SourceItem, WeddingBackupRequest};
pub use options::{
    BackupType, DataType, EncryptionLevel, FileClass, Priority, RecoveryCapability,
    RecoveryLocation, Retention, Urgency, VerifyDepth,
};
pub use progress::{Progress, ProgressSink};
pub use recover::{BadShard, EmergencyRecoveryRequest, RecoveryResult, SnapshotInfo};
pub use status::{BackupSystemStatus, HealthCheck, HealthLevel, HealthReport, LocationHealth};
