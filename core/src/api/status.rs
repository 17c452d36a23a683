//! `status()` and `health()`: what the platform's dashboard shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::options::string_enum;
use super::RecoveryCapability;

string_enum! {
    /// A health verdict.
    HealthLevel {
        /// Everything as promised.
        Optimal = "optimal",
        /// Something needs attention; every wedding can still be restored.
        Degraded = "degraded",
        /// Data is at risk or the state is unknown where it matters.
        Critical = "critical",
    }
}

/// `GET /api/backups/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupSystemStatus {
    /// Backup jobs running now.
    pub active_backups: u64,
    /// Backup jobs waiting (including those waiting for a retry).
    pub queued_backups: u64,
    /// Backup jobs that failed for good in the last 24 hours.
    pub failed_backups: u64,
    /// Bytes stored across all locations: every pack's shards, plus the
    /// metadata (its shards in format 5; a copy per location before), from
    /// the catalog.
    pub total_storage_used: u64,
    /// The health report's score, 0–100.
    pub health_score: u8,
    /// When the latest backup job finished, or the latest snapshot was
    /// committed, whichever is later.
    pub last_backup_completion: Option<DateTime<Utc>>,
    /// Critical weddings whose latest snapshot has full redundancy: every
    /// shard of every pack it uses is on a location that is neither down
    /// nor degraded.
    pub critical_weddings_protected: u64,
    /// Weddings the policy classes `critical` or `wedding_day_urgent` now.
    pub critical_weddings: u64,
    /// From shard availability: `optimal` (all shards reachable),
    /// `degraded` (some missing, every pack has k), `critical` (a pack has
    /// fewer than k).
    pub recovery_capability: RecoveryCapability,
    /// Locations neither down nor degraded.
    pub healthy_locations: u64,
    /// Configured locations.
    pub total_locations: u64,
    /// When this status was taken.
    pub generated_at: DateTime<Utc>,
}

/// One of the five checks of a health report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// `completeness`, `integrity`, `storage`, `recovery`, `geography`.
    pub name: String,
    /// 0–100.
    pub score: u8,
    /// The check's verdict.
    pub level: HealthLevel,
    /// Its weight in the overall score (weights add up to 100).
    pub weight: u8,
    /// What was measured, in a sentence.
    pub detail: String,
}

/// One location as the engine sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationHealth {
    /// Location id.
    pub id: String,
    /// Region.
    pub region: String,
    /// The latest call failed with a transient error.
    pub down: bool,
    /// Failed repeatedly (see `degradedAfterFailures`).
    pub degraded: bool,
    /// Shards the catalog places there.
    pub shards: u64,
}

/// `engine.health()`: five checks folded into one score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// Weighted mean of the checks, 0–100.
    pub score: u8,
    /// The overall verdict.
    pub level: HealthLevel,
    /// Completeness, integrity, storage, recovery, geography.
    pub checks: Vec<HealthCheck>,
    /// Per location.
    pub locations: Vec<LocationHealth>,
    /// Shard availability.
    pub recovery_capability: RecoveryCapability,
    /// When it was taken.
    pub generated_at: DateTime<Utc>,
}
