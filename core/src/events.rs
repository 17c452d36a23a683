//! Alerts and progress: typed events on a broadcast channel.
//!
//! Every event is sent from the code that observed its cause, at that
//! moment (a location's failure count crossing the threshold, a job
//! finishing), so subscribers get it as soon as their task runs. A
//! subscriber that falls more than [`EVENT_BUFFER`] events behind loses the
//! oldest ones and is told so by `RecvError::Lagged`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::api::Priority;
use crate::schedule::JobId;

/// Events kept for a slow subscriber before the oldest are dropped.
pub const EVENT_BUFFER: usize = 1024;

/// Something that happened. JSON: `{"type": "backupFinished", ...}` with
/// camelCase fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum Event {
    /// A backup job started.
    BackupStarted {
        /// The job.
        job_id: JobId,
        /// The wedding.
        wedding_id: String,
        /// Its class.
        priority: Priority,
        /// When.
        at: DateTime<Utc>,
    },
    /// A backup job committed a snapshot.
    BackupFinished {
        /// The job.
        job_id: JobId,
        /// The wedding.
        wedding_id: String,
        /// The snapshot.
        backup_id: String,
        /// Locations that received shards.
        locations_used: Vec<String>,
        /// Wall time.
        duration_ms: u64,
        /// When.
        at: DateTime<Utc>,
    },
    /// A backup run failed.
    BackupFailed {
        /// The job.
        job_id: JobId,
        /// The wedding.
        wedding_id: String,
        /// Why.
        error: String,
        /// Failed runs so far, this one included.
        attempt: u32,
        /// When it runs again, if it does.
        retry_at: Option<DateTime<Utc>>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A location failed repeatedly and is treated as degraded.
    LocationDegraded {
        /// The location.
        location: String,
        /// Consecutive failed calls.
        failures: u32,
        /// The latest error.
        error: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A degraded location answered again.
    LocationRecovered {
        /// The location.
        location: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A wedding's data has fewer healthy shards than its profile promises.
    RedundancyBelowProfile {
        /// The wedding.
        wedding_id: String,
        /// The location that took shards away.
        location: String,
        /// Packs of the wedding's latest snapshot with a shard there.
        packs_affected: u64,
        /// When.
        at: DateTime<Utc>,
    },
    /// A repair job finished.
    RepairDone {
        /// The job.
        job_id: JobId,
        /// The location it repaired, if one.
        location: Option<String>,
        /// The runner's summary.
        summary: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A recovery drill finished.
    DrillResult {
        /// The job.
        job_id: JobId,
        /// Whether the drill restored everything correctly.
        ok: bool,
        /// The runner's summary.
        summary: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Any job changed state (queued, running, done, failed, yielded).
    JobProgress {
        /// The job.
        job_id: JobId,
        /// `backup` or the maintenance kind.
        kind: String,
        /// The new state, or `yielded`.
        state: String,
        /// When.
        at: DateTime<Utc>,
    },
}

impl Event {
    /// The event's `type` string.
    pub fn name(&self) -> &'static str {
        match self {
            Event::BackupStarted { .. } => "backupStarted",
            Event::BackupFinished { .. } => "backupFinished",
            Event::BackupFailed { .. } => "backupFailed",
            Event::LocationDegraded { .. } => "locationDegraded",
            Event::LocationRecovered { .. } => "locationRecovered",
            Event::RedundancyBelowProfile { .. } => "redundancyBelowProfile",
            Event::RepairDone { .. } => "repairDone",
            Event::DrillResult { .. } => "drillResult",
            Event::JobProgress { .. } => "jobProgress",
        }
    }
}

/// The sending side, shared by everything that emits.
#[derive(Debug, Clone)]
pub(crate) struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            tx: broadcast::channel(EVENT_BUFFER).0,
        }
    }
}

impl EventBus {
    /// Sends to every current subscriber (none is fine).
    pub(crate) fn emit(&self, event: Event) {
        tracing::debug!(event = event.name(), "event");
        let _ = self.tx.send(event);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_tagged_camel_case() {
        let e = Event::LocationDegraded {
            location: "loc1".into(),
            failures: 3,
            error: "down".into(),
            at: DateTime::<Utc>::default(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "locationDegraded");
        assert_eq!(v["type"], e.name());
        assert_eq!(v["failures"], 3);
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
        let f = Event::BackupFinished {
            job_id: 1,
            wedding_id: "w".into(),
            backup_id: "b".into(),
            locations_used: vec![],
            duration_ms: 1,
            at: DateTime::<Utc>::default(),
        };
        let v = serde_json::to_value(&f).unwrap();
        assert!(v.get("locationsUsed").is_some() && v.get("jobId").is_some());
    }
}
