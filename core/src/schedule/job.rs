//! Jobs: what the host or the scheduler asks to be done, and what became of it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::api::options::string_enum;
use crate::api::{Priority, WeddingBackupRequest};
use crate::error::Result;

/// A job's id in the queue.
pub type JobId = i64;

string_enum! {
    /// Work the scheduler hands to the [`MaintenanceRunner`].
    MaintenanceKind {
        /// Rebuild missing or corrupt shards (of one location, or everywhere).
        Repair = "repair",
        /// Forget snapshots by retention and delete unreferenced data.
        Prune = "prune",
        /// Move old packs to a colder tier.
        ArchivalMigration = "archival_migration",
        /// Move shards to restore the placement policy's spread.
        Rebalance = "rebalance",
        /// Read and hash every shard.
        DeepScrub = "deep_scrub",
        /// A timed test restore of sampled snapshots.
        RecoveryDrill = "recovery_drill",
    }
}

impl MaintenanceKind {
    /// True for the kinds that Saturday protection holds back. Repair is not
    /// among them: it restores the redundancy that protects the weekend.
    pub fn is_deferrable(self) -> bool {
        !matches!(self, MaintenanceKind::Repair)
    }
}

/// One maintenance task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaintenanceTask {
    /// What to do.
    pub kind: MaintenanceKind,
    /// The location it concerns, when it concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// What a job does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum JobKind {
    /// A wedding backup.
    Backup {
        /// The request, as `create_backup` takes it.
        request: WeddingBackupRequest,
    },
    /// A maintenance task, run by the configured [`MaintenanceRunner`].
    Maintenance {
        /// The task.
        task: MaintenanceTask,
    },
}

impl JobKind {
    /// `backup` or the maintenance kind's string.
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::Backup { .. } => "backup",
            JobKind::Maintenance { task } => task.kind.as_str(),
        }
    }

    pub(crate) fn wedding_id(&self) -> Option<&str> {
        match self {
            JobKind::Backup { request } => Some(&request.wedding_id),
            JobKind::Maintenance { .. } => None,
        }
    }

    pub(crate) fn location(&self) -> Option<&str> {
        match self {
            JobKind::Backup { .. } => None,
            JobKind::Maintenance { task } => task.location.as_deref(),
        }
    }

    /// True for maintenance that Saturday protection holds back.
    pub(crate) fn is_deferrable(&self) -> bool {
        matches!(self, JobKind::Maintenance { task } if task.kind.is_deferrable())
    }

    pub(crate) fn is_maintenance(&self) -> bool {
        matches!(self, JobKind::Maintenance { .. })
    }
}

/// A job to put on the queue with [`crate::Engine::enqueue`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobRequest {
    /// What to do.
    pub kind: JobKind,
    /// The class it is queued in. `None`: a backup of a wedding on the
    /// calendar gets the policy's class, any other backup its request's
    /// priority, a repair `high`, other maintenance `standard`. A backup's
    /// request priority (its redundancy profile) is raised to the class.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Do not start before this instant.
    #[serde(default)]
    pub not_before: Option<DateTime<Utc>>,
}

impl JobRequest {
    /// A backup job.
    pub fn backup(request: WeddingBackupRequest) -> Self {
        JobRequest {
            kind: JobKind::Backup { request },
            priority: None,
            not_before: None,
        }
    }

    /// A maintenance job.
    pub fn maintenance(kind: MaintenanceKind, location: Option<String>) -> Self {
        JobRequest {
            kind: JobKind::Maintenance {
                task: MaintenanceTask { kind, location },
            },
            priority: None,
            not_before: None,
        }
    }

    /// The same request in class `priority`.
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }
}

string_enum! {
    /// Where a job is in its life.
    JobState {
        /// Waiting for a worker (or for its retry time).
        Queued = "queued",
        /// A worker has it.
        Running = "running",
        /// Finished; `result_id` says what it produced.
        Done = "done",
        /// Gave up; `error` says why.
        Failed = "failed",
    }
}

/// A job as the queue holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobInfo {
    /// Its id.
    pub id: JobId,
    /// What it does.
    pub kind: JobKind,
    /// Its class.
    pub priority: Priority,
    /// Its state.
    pub state: JobState,
    /// Failed runs so far.
    pub attempts: u32,
    /// Times a worker started it (a restart or a yield may add one).
    pub runs: u32,
    /// When it was queued.
    pub enqueued_at: DateTime<Utc>,
    /// Not started before this.
    pub not_before: DateTime<Utc>,
    /// When its latest run started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// The snapshot id (backup) or the runner's result id (maintenance).
    pub result_id: Option<String>,
    /// The last error.
    pub error: Option<String>,
}

/// What a maintenance task produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceOutcome {
    /// An id for the result (a report id, a plan hash...), stored with the job.
    pub result_id: String,
    /// One line for logs and events.
    pub summary: String,
}

/// Runs maintenance tasks; the host (or a later engine module) provides it
/// in [`crate::ScheduleConfig::maintenance`]. Without one, maintenance jobs
/// fail with "not available".
///
/// A runner must watch `cancel` and return within a few seconds once it is
/// cancelled (critical work arrived or Saturday protection began); the
/// scheduler then puts the task back on the queue. Returning `Ok` after a
/// cancellation counts as done.
#[async_trait]
pub trait MaintenanceRunner: Send + Sync + std::fmt::Debug {
    /// Runs one task.
    async fn run(
        &self,
        task: &MaintenanceTask,
        cancel: CancellationToken,
    ) -> Result<MaintenanceOutcome>;
}
