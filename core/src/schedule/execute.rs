//! Running one claimed job: a backup through the engine, maintenance
//! through the [`MaintenanceRunner`]; recording its result (or its retry)
//! in the queue, and telling subscribers.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::job::{JobInfo, JobKind, MaintenanceKind, MaintenanceTask};
use crate::api::WeddingBackupRequest;
use crate::error::Error;
use crate::events::Event;
use crate::Engine;

/// How a run ended, for the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunEnd {
    Done,
    Retry,
    Failed,
    Yielded,
}

pub(crate) async fn execute(engine: Engine, job: JobInfo, cancel: CancellationToken) -> RunEnd {
    let end = match job.kind.clone() {
        JobKind::Backup { request } => backup(&engine, &job, request).await,
        JobKind::Maintenance { task } => maintenance(&engine, &job, &task, cancel).await,
    };
    let sched = engine.scheduling();
    sched
        .metrics
        .job_finished(job.kind.name(), job.priority, end);
    sched.wake.notify_one();
    end
}

async fn backup(engine: &Engine, job: &JobInfo, request: WeddingBackupRequest) -> RunEnd {
    let ctx = engine.context();
    let wedding = request.wedding_id.clone();
    engine.emit(Event::BackupStarted {
        job_id: job.id,
        wedding_id: wedding.clone(),
        priority: job.priority,
        at: ctx.now(),
    });
    let timer = Instant::now();
    match engine.create_backup(request).await {
        Ok(result) => {
            let queue = &engine.scheduling().queue;
            match queue.complete(job.id, &result.backup_id, ctx.now()) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(
                        job = job.id,
                        "job was no longer running when its backup committed"
                    )
                }
                Err(e) => {
                    tracing::error!(job = job.id, error = %e, "could not record a finished job")
                }
            }
            engine
                .scheduling()
                .metrics
                .backup_bytes(result.stats.bytes_stored);
            tracing::info!(job = job.id, wedding = %wedding, snapshot = %result.backup_id, "backup job done");
            engine.emit(Event::BackupFinished {
                job_id: job.id,
                wedding_id: wedding,
                backup_id: result.backup_id,
                locations_used: result.locations_used,
                duration_ms: timer.elapsed().as_millis() as u64,
                at: ctx.now(),
            });
            progress(engine, job, "done");
            RunEnd::Done
        }
        Err(e) => {
            let (end, retry_at) = record_failure(engine, job, &e);
            engine.emit(Event::BackupFailed {
                job_id: job.id,
                wedding_id: wedding,
                error: e.to_string(),
                attempt: job.attempts + 1,
                retry_at,
                at: ctx.now(),
            });
            end
        }
    }
}

async fn maintenance(
    engine: &Engine,
    job: &JobInfo,
    task: &MaintenanceTask,
    cancel: CancellationToken,
) -> RunEnd {
    let ctx = engine.context();
    let queue = &engine.scheduling().queue;
    let Some(runner) = engine.schedule_config().maintenance.clone() else {
        let e = Error::NotImplemented(format!(
            "{} is not available: no MaintenanceRunner is configured",
            task.kind
        ));
        return record_failure(engine, job, &e).0;
    };
    let result = runner.run(task, cancel.clone()).await;
    if cancel.is_cancelled() && result.is_err() {
        if let Err(e) = queue.release(job.id) {
            tracing::error!(job = job.id, error = %e, "could not put a yielded job back");
        }
        tracing::info!(job = job.id, kind = %task.kind, "maintenance yielded");
        progress(engine, job, "yielded");
        return RunEnd::Yielded;
    }
    match result {
        Ok(outcome) => {
            if let Err(e) = queue.complete(job.id, &outcome.result_id, ctx.now()) {
                tracing::error!(job = job.id, error = %e, "could not record a finished job");
            }
            match task.kind {
                MaintenanceKind::Repair => engine.emit(Event::RepairDone {
                    job_id: job.id,
                    location: task.location.clone(),
                    summary: outcome.summary.clone(),
                    at: ctx.now(),
                }),
                MaintenanceKind::RecoveryDrill => engine.emit(Event::DrillResult {
                    job_id: job.id,
                    ok: true,
                    summary: outcome.summary.clone(),
                    at: ctx.now(),
                }),
                _ => {}
            }
            progress(engine, job, "done");
            RunEnd::Done
        }
        Err(e) => {
            if task.kind == MaintenanceKind::RecoveryDrill {
                engine.emit(Event::DrillResult {
                    job_id: job.id,
                    ok: false,
                    summary: e.to_string(),
                    at: ctx.now(),
                });
            }
            record_failure(engine, job, &e).0
        }
    }
}

/// Queues a retry after a transient error (until the attempts run out) or
/// fails the job.
fn record_failure(
    engine: &Engine,
    job: &JobInfo,
    e: &Error,
) -> (RunEnd, Option<chrono::DateTime<chrono::Utc>>) {
    let ctx = engine.context();
    let retry = engine.schedule_config().retry;
    let attempt = job.attempts + 1;
    let now = ctx.now();
    let retry_at = (e.is_transient() && attempt < retry.max_attempts).then(|| {
        let delay = retry.delay(attempt, ctx.random_u64());
        now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
    });
    tracing::warn!(job = job.id, kind = job.kind.name(), attempt, error = %e, retry_at = ?retry_at, "job run failed");
    if let Err(db) = engine
        .scheduling()
        .queue
        .fail(job.id, &e.to_string(), retry_at, now)
    {
        tracing::error!(job = job.id, error = %db, "could not record a failed job");
    }
    match retry_at {
        Some(_) => {
            progress(engine, job, "queued");
            (RunEnd::Retry, retry_at)
        }
        None => {
            progress(engine, job, "failed");
            (RunEnd::Failed, None)
        }
    }
}

pub(crate) fn progress(engine: &Engine, job: &JobInfo, state: &str) {
    engine.emit(Event::JobProgress {
        job_id: job.id,
        kind: job.kind.name().to_owned(),
        state: state.to_owned(),
        at: engine.context().now(),
    });
}
