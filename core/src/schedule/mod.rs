//! Wedding-aware scheduling: the calendar feeds a priority policy, which
//! orders a persistent job queue that workers drain.
//!
//! - [`calendar`]: weddings, in the state database.
//! - [`policy`]: the class of a wedding's work, and Saturday protection.
//! - [`queue`]: the persistent queue, its order and aging bound.
//! - [`periodic`]: calendar-driven backups at a per-class interval.
//! - [`worker`]: the continuous loop: limits, retries, yields, shutdown.
//! - [`realtime`]: watched folders of critical weddings.

pub(crate) mod calendar;
pub(crate) mod execute;
pub(crate) mod job;
pub(crate) mod periodic;
pub(crate) mod policy;
pub(crate) mod queue;
pub(crate) mod realtime;
pub(crate) mod worker;

use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;

pub use calendar::{Calendar, WeddingEvent};
pub use job::{
    JobId, JobInfo, JobKind, JobRequest, JobState, MaintenanceKind, MaintenanceOutcome,
    MaintenanceRunner, MaintenanceTask,
};
pub use policy::{PriorityPolicy, WeddingAwarePolicy};

use crate::api::Priority;

/// How many jobs run at once.
///
/// A job starts only when all of these allow it: fewer than `workers` jobs
/// run; a job that is not a `critical` or `wedding_day_urgent` backup leaves
/// `reserved_critical` workers free; its class has fewer than its cap
/// running; maintenance has fewer than `maintenance` running; a job that
/// names a location has fewer than `per_location` running on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerLimits {
    /// Jobs at once.
    pub workers: usize,
    /// Workers only critical and wedding-day backups may take.
    pub reserved_critical: usize,
    /// Cap per class, indexed standard, high, critical, wedding_day_urgent.
    pub per_class: [usize; 4],
    /// Maintenance jobs at once.
    pub maintenance: usize,
    /// Jobs naming the same location at once.
    pub per_location: usize,
}

impl Default for WorkerLimits {
    fn default() -> Self {
        WorkerLimits {
            workers: 4,
            reserved_critical: 1,
            per_class: [2, 2, 4, 4],
            maintenance: 1,
            per_location: 1,
        }
    }
}

/// How often the calendar backs up a wedding with a registered folder, by
/// its current class. Defaults: `wedding_day_urgent` 5 min, `critical`
/// 15 min, `high` 4 h, `standard` 24 h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupIntervals {
    /// Indexed standard, high, critical, wedding_day_urgent.
    pub per_class: [Duration; 4],
}

impl Default for BackupIntervals {
    fn default() -> Self {
        BackupIntervals {
            per_class: [
                Duration::from_secs(24 * 3600),
                Duration::from_secs(4 * 3600),
                Duration::from_secs(15 * 60),
                Duration::from_secs(5 * 60),
            ],
        }
    }
}

impl BackupIntervals {
    /// The interval for a class.
    pub fn for_class(&self, p: Priority) -> Duration {
        self.per_class[queue::rank(p) as usize]
    }
}

/// Retries of a failed job: only transient errors are retried, up to
/// `max_attempts` runs in all, after `min(base · 2^(n−1), max)` with equal
/// jitter (half fixed, half random from the engine's context).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Runs in all, the first included.
    pub max_attempts: u32,
    /// Delay after the first failure (before jitter).
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(2),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The delay after `attempt` failed runs (1 = the first), jittered by `random`.
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        let exp = self
            .base
            .saturating_mul(
                1u32.checked_shl(attempt.saturating_sub(1))
                    .unwrap_or(u32::MAX),
            )
            .min(self.max);
        let half = exp / 2;
        let span = half.as_millis().max(1) as u64;
        half + Duration::from_millis(random % span)
    }
}

/// Real-time mode: a change in a watched folder is backed up once the
/// folder has been quiet for `quiet`, and at the latest `max_delay` after
/// the first change of a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealtimeConfig {
    /// Quiet time that ends a burst.
    pub quiet: Duration,
    /// Longest wait from the first change to the backup.
    pub max_delay: Duration,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        RealtimeConfig {
            quiet: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// The scheduler's settings, in [`crate::EngineConfig::schedule`].
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    /// Classifies calendar weddings.
    pub policy: Arc<dyn PriorityPolicy>,
    /// Concurrency.
    pub limits: WorkerLimits,
    /// Waiting this long lifts a job by one class in the queue order.
    pub aging_step: Duration,
    /// Calendar-driven backup intervals.
    pub intervals: BackupIntervals,
    /// Retries.
    pub retry: RetryPolicy,
    /// How often the loop looks at the calendar and the clock when nothing
    /// else wakes it.
    pub tick: Duration,
    /// How often the loop probes every location.
    pub probe_interval: Duration,
    /// Real-time mode.
    pub realtime: RealtimeConfig,
    /// Consecutive transient failures that make a location degraded.
    pub degraded_after_failures: u32,
    /// Saturday protection also follows this zone (besides every venue's).
    pub home_time_zone: Tz,
    /// Runs repair, prune, scrub...; `None`: those jobs fail as not available.
    pub maintenance: Option<Arc<dyn MaintenanceRunner>>,
    /// How long shutdown waits for running jobs before cutting them off
    /// (they are queued again for the next start).
    pub shutdown_grace: Duration,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            policy: Arc::new(WeddingAwarePolicy::default()),
            limits: WorkerLimits::default(),
            aging_step: Duration::from_secs(15 * 60),
            intervals: BackupIntervals::default(),
            retry: RetryPolicy::default(),
            tick: Duration::from_secs(1),
            probe_interval: Duration::from_secs(30),
            realtime: RealtimeConfig::default(),
            degraded_after_failures: 3,
            home_time_zone: chrono_tz::UTC,
            maintenance: None,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// The scheduler's shared runtime state, held by the engine.
#[derive(Debug)]
pub(crate) struct Scheduling {
    pub db: Arc<crate::state::StateDb>,
    pub queue: queue::JobQueue,
    /// Wakes the loop: a job was queued, the calendar changed.
    pub wake: Arc<tokio::sync::Notify>,
    pub metrics: crate::metrics::Metrics,
    /// Snapshot id → ids of the packs its files use (snapshots never change).
    pub snapshot_packs: std::sync::Mutex<std::collections::HashMap<String, Arc<Vec<String>>>>,
}

impl Scheduling {
    pub(crate) fn open(state_dir: &std::path::Path) -> crate::Result<Scheduling> {
        let db = Arc::new(crate::state::StateDb::open(state_dir)?);
        Ok(Scheduling {
            queue: queue::JobQueue::new(db.clone()),
            db,
            wake: Default::default(),
            metrics: crate::metrics::Metrics::new(),
            snapshot_packs: Default::default(),
        })
    }
}

/// `Engine::enqueue`: resolves the class, queues, wakes the loop.
pub(crate) fn enqueue(engine: &crate::Engine, request: JobRequest) -> crate::Result<JobId> {
    if let JobKind::Backup { request: r } = &request.kind {
        crate::engine::check_wedding_id(&r.wedding_id)?;
    }
    let class = match (&request.priority, &request.kind) {
        (Some(p), _) => *p,
        (None, JobKind::Backup { request: r }) => {
            engine.classify(&r.wedding_id)?.unwrap_or(r.priority)
        }
        (None, JobKind::Maintenance { task }) if task.kind == MaintenanceKind::Repair => {
            Priority::High
        }
        (None, JobKind::Maintenance { .. }) => Priority::Standard,
    };
    // A backup queued as critical is also stored as critical (3+2 on five
    // locations): the class never lowers the request's own priority.
    let mut request = request;
    if let JobKind::Backup { request: r } = &mut request.kind {
        r.priority = r.priority.max(class);
    }
    let now = engine.context().now();
    let not_before = request.not_before.unwrap_or(now).max(now);
    let sched = engine.scheduling();
    let id = sched
        .queue
        .enqueue(&request.kind, class, now, not_before, None)?
        .ok_or_else(|| crate::Error::Internal("a job without a dedup key was not queued".into()))?;
    sched.metrics.job_enqueued(request.kind.name(), class);
    tracing::info!(job = id, kind = request.kind.name(), %class, "job queued");
    engine.emit(crate::events::Event::JobProgress {
        job_id: id,
        kind: request.kind.name().to_owned(),
        state: "queued".into(),
        at: now,
    });
    sched.wake.notify_one();
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_equal_jitter_and_a_cap() {
        let r = RetryPolicy::default();
        assert_eq!(r.delay(1, 0), Duration::from_secs(1));
        assert_eq!(r.delay(1, 999), Duration::from_millis(1999));
        assert_eq!(r.delay(3, 0), Duration::from_secs(4));
        assert!(r.delay(3, u64::MAX) < Duration::from_secs(8));
        assert_eq!(r.delay(40, 0), Duration::from_secs(150));
        assert!(r.delay(40, u64::MAX) <= Duration::from_secs(300));
    }
}
