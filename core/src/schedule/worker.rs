//! The continuous loop behind [`crate::Engine::run`]: calendar → policy →
//! queue → workers, until shutdown.
//!
//! Each turn: queue the calendar's due backups and adjust the real-time
//! watchers; make running maintenance yield when critical work waits or
//! Saturday protection holds; start every due job the limits admit (queue
//! order, see [`super::queue`]); then sleep until a job ends, a job is
//! queued, a watched folder settles, a location degrades, or `tick` passes.
//!
//! Shutdown: nothing new starts, maintenance is cancelled, running jobs get
//! `shutdown_grace` to finish; the rest are cut off and queued again, so the
//! next start resumes them.

use std::collections::HashMap;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::execute::{execute, progress, RunEnd};
use super::job::{JobId, JobInfo, JobRequest, MaintenanceKind};
use super::policy::maintenance_blackout;
use super::realtime::Watchers;
use super::{periodic, WorkerLimits};
use crate::api::Priority;
use crate::error::Result;
use crate::events::Event;
use crate::Engine;

/// A job a worker holds.
struct Running {
    job: JobInfo,
    cancel: CancellationToken,
}

fn is_critical_backup(job: &JobInfo) -> bool {
    !job.kind.is_maintenance() && job.priority >= Priority::Critical
}

/// Whether `job` may start next to `running`.
pub(crate) fn admits(
    limits: &WorkerLimits,
    running: &[&JobInfo],
    job: &JobInfo,
    blackout: bool,
    critical_waiting: bool,
) -> bool {
    let total = running.len();
    if total >= limits.workers {
        return false;
    }
    if !is_critical_backup(job) && total + limits.reserved_critical >= limits.workers {
        return false;
    }
    if job.kind.is_maintenance() {
        let maint = running.iter().filter(|j| j.kind.is_maintenance()).count();
        if maint >= limits.maintenance || critical_waiting || (blackout && job.kind.is_deferrable())
        {
            return false;
        }
    } else {
        let same = running
            .iter()
            .filter(|j| !j.kind.is_maintenance() && j.priority == job.priority)
            .count();
        if same >= limits.per_class[super::queue::rank(job.priority) as usize] {
            return false;
        }
    }
    if let Some(loc) = job.kind.location() {
        let here = running
            .iter()
            .filter(|j| j.kind.location() == Some(loc))
            .count();
        if here >= limits.per_location {
            return false;
        }
    }
    true
}

pub(crate) async fn run(engine: Engine, shutdown: CancellationToken) -> Result<()> {
    let sched = engine.scheduling();
    let cfg = engine.schedule_config().clone();
    let requeued = sched.queue.requeue_in_flight()?;
    if requeued > 0 {
        tracing::info!(
            jobs = requeued,
            "jobs cut off by the last stop are queued again"
        );
    }
    let mut events = engine.events();
    let (settled_tx, mut settled_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut watchers = Watchers::new(settled_tx, cfg.realtime);
    let mut tasks: JoinSet<(JobId, RunEnd)> = JoinSet::new();
    let mut running: HashMap<JobId, Running> = HashMap::new();
    let mut next_probe = tokio::time::Instant::now() + cfg.probe_interval;
    tracing::info!("scheduler started");
    while !shutdown.is_cancelled() {
        let now = engine.context().now();
        let calendar = engine.calendar().list()?;
        calendar_pass(&engine, &calendar, &mut watchers, now)?;
        let blackout = maintenance_blackout(&calendar, cfg.home_time_zone, now);
        let due = sched.queue.due(now, cfg.aging_step.as_millis() as i64)?;
        let critical_waiting = due.iter().any(is_critical_backup);
        for r in running.values() {
            let deferrable_blocked = blackout.is_some() && r.job.kind.is_deferrable();
            if r.job.kind.is_maintenance()
                && (critical_waiting || deferrable_blocked)
                && !r.cancel.is_cancelled()
            {
                tracing::info!(job = r.job.id, why = ?blackout, critical_waiting, "asking maintenance to yield");
                r.cancel.cancel();
            }
        }
        for job in due {
            let held: Vec<&JobInfo> = running.values().map(|r| &r.job).collect();
            if !admits(
                &cfg.limits,
                &held,
                &job,
                blackout.is_some(),
                critical_waiting,
            ) {
                continue;
            }
            if !sched.queue.claim(job.id, engine.context().now())? {
                continue;
            }
            progress(&engine, &job, "running");
            let cancel = shutdown.child_token();
            let (e, j, c) = (engine.clone(), job.clone(), cancel.clone());
            tasks.spawn(async move {
                let id = j.id;
                (id, execute(e, j, c).await)
            });
            running.insert(job.id, Running { job, cancel });
        }
        sched.metrics.set_running(running.len());

        tokio::select! {
            _ = shutdown.cancelled() => {}
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                match done {
                    Ok((id, end)) => { running.remove(&id); tracing::debug!(job = id, ?end, "job ended"); }
                    Err(e) => tracing::error!(error = %e, "a job task failed"),
                }
            }
            _ = sched.wake.notified() => {}
            Some(wedding) = settled_rx.recv() => realtime_backup(&engine, &wedding)?,
            ev = events.recv() => match ev {
                Ok(Event::LocationDegraded { location, .. }) => on_degraded(&engine, &location).await?,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => {}
            },
            _ = tokio::time::sleep_until(next_probe) => {
                next_probe = tokio::time::Instant::now() + cfg.probe_interval;
                engine.probe_locations().await;
            }
            _ = tokio::time::sleep(cfg.tick) => {}
        }
        // Drop finished tasks' slots that completed during the select.
        while let Some(Ok((id, _))) = tasks.try_join_next() {
            running.remove(&id);
        }
    }
    drop(watchers);
    tracing::info!(running = running.len(), "scheduler stopping");
    for r in running.values() {
        r.cancel.cancel();
    }
    let grace = tokio::time::sleep(cfg.shutdown_grace);
    tokio::pin!(grace);
    while !tasks.is_empty() {
        tokio::select! {
            Some(done) = tasks.join_next() => if let Ok((id, _)) = done { running.remove(&id); },
            _ = &mut grace => break,
        }
    }
    tasks.abort_all();
    for id in running.keys() {
        sched.queue.release(*id)?;
    }
    sched.metrics.set_running(0);
    tracing::info!(cut_off = running.len(), "scheduler stopped");
    Ok(())
}

/// Queues the calendar's due backups and points the watchers at the
/// folders of critical weddings in real-time mode.
fn calendar_pass(
    engine: &Engine,
    calendar: &[super::WeddingEvent],
    watchers: &mut Watchers,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let sched = engine.scheduling();
    let cfg = engine.schedule_config();
    let mut watched = HashMap::new();
    for event in calendar {
        let class = cfg.policy.classify(event, now);
        let Some(kind) = periodic::backup_job(event, class) else {
            continue;
        };
        if event.realtime && class >= Priority::Critical {
            if let Some(src) = &event.source {
                watched.insert(event.id.clone(), src.clone());
            }
        }
        let last = periodic::last_queued(&sched.db, &event.id)?;
        if !periodic::is_due(last, cfg.intervals.for_class(class), now)
            || sched.queue.has_pending_backup(&event.id)?
        {
            continue;
        }
        let key = periodic::backup_dedup_key(&event.id);
        if let Some(id) = sched.queue.enqueue(&kind, class, now, now, Some(&key))? {
            sched.metrics.job_enqueued(kind.name(), class);
            tracing::info!(wedding = %event.id, %class, job = id, "calendar backup queued");
        }
        periodic::set_last_queued(&sched.db, &event.id, now)?;
    }
    watchers.sync(watched);
    Ok(())
}

/// A watched folder settled: one backup of it, unless one is already queued.
fn realtime_backup(engine: &Engine, wedding: &str) -> Result<()> {
    let Some(event) = engine.calendar().get(wedding)? else {
        return Ok(());
    };
    let now = engine.context().now();
    let class = engine.schedule_config().policy.classify(&event, now);
    let Some(kind) = periodic::backup_job(&event, class) else {
        return Ok(());
    };
    let sched = engine.scheduling();
    let key = periodic::backup_dedup_key(wedding);
    if let Some(id) = sched.queue.enqueue(&kind, class, now, now, Some(&key))? {
        sched.metrics.job_enqueued(kind.name(), class);
        tracing::info!(wedding, job = id, "real-time backup queued");
    }
    Ok(())
}

/// A location degraded: queue its repair and say whose redundancy dropped.
async fn on_degraded(engine: &Engine, location: &str) -> Result<()> {
    let request = JobRequest::maintenance(MaintenanceKind::Repair, Some(location.to_owned()));
    let kind = request.kind.clone();
    let sched = engine.scheduling();
    let now = engine.context().now();
    let key = format!("repair:{location}");
    if let Some(id) = sched
        .queue
        .enqueue(&kind, Priority::High, now, now, Some(&key))?
    {
        sched.metrics.job_enqueued(kind.name(), Priority::High);
        tracing::warn!(location, job = id, "repair queued for a degraded location");
    }
    for (wedding, packs) in engine.packs_on_location(location).await {
        engine.emit(Event::RedundancyBelowProfile {
            wedding_id: wedding,
            location: location.to_owned(),
            packs_affected: packs,
            at: now,
        });
    }
    sched.wake.notify_one();
    Ok(())
}

#[cfg(test)]
mod tests;
