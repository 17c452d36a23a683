//! The persistent job queue, a table in the state database.
//!
//! States: `queued → running → done | failed`, and `running → queued` for a
//! retry (after a backoff) or a yield. A job is marked done in the same
//! statement that records its result id, so a job is either done with a
//! result or will run again; jobs found `running` when a scheduler starts
//! were cut off by a crash and are queued again (a re-run backup is
//! idempotent: content-addressed data is not stored twice).
//!
//! ## Order and aging
//! Each queued job has a virtual time `enqueued − rank(class) · aging_step`,
//! rank 0 for `standard` up to 3 for `wedding_day_urgent`; the due job with
//! the smallest virtual time goes first (ties by id). A fresh job of a
//! higher class therefore passes a waiting lower one only while the lower
//! one has waited less than the rank difference times `aging_step`.
//!
//! **Bound**: a job of class c is passed by no job queued more than
//! `(3 − rank(c)) · aging_step` after it. So while higher-class work
//! arrives no faster than the workers finish it, a job waits at most
//! `(3 − rank(c)) · aging_step` plus the time to run the jobs already ahead
//! of it; with the default step of 15 minutes, 45 minutes for `standard`,
//! 30 for `high`, 15 for `critical`. Worker limits (reserved critical share,
//! per-class and per-location caps, Saturday protection) only skip jobs
//! that may not start now; they never reorder the others.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, OptionalExtension, Row};

use super::job::{JobId, JobInfo, JobKind};
use crate::api::Priority;
use crate::error::{Error, Result};
use crate::state::{db_err, StateDb};

/// Rank of a class in the aging formula.
pub(crate) fn rank(p: Priority) -> i64 {
    match p {
        Priority::Standard => 0,
        Priority::High => 1,
        Priority::Critical => 2,
        Priority::WeddingDayUrgent => 3,
    }
}

fn from_rank(r: i64) -> Priority {
    match r {
        0 => Priority::Standard,
        1 => Priority::High,
        2 => Priority::Critical,
        _ => Priority::WeddingDayUrgent,
    }
}

/// The ordering key: smaller goes first.
pub(crate) fn virtual_time(enqueued_ms: i64, priority: Priority, aging_step_ms: i64) -> i64 {
    enqueued_ms.saturating_sub(rank(priority).saturating_mul(aging_step_ms))
}

pub(crate) fn ms_to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Counts of jobs, for status and metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct QueueCounts {
    /// Indexed by rank.
    pub queued: [u64; 4],
    pub running: [u64; 4],
    pub queued_backups: u64,
    pub running_backups: u64,
    pub failed_backups_since: u64,
    pub done_total: u64,
    pub failed_total: u64,
    pub last_backup_done: Option<DateTime<Utc>>,
}

/// The queue over the state database.
#[derive(Debug, Clone)]
pub(crate) struct JobQueue {
    db: Arc<StateDb>,
}

const COLUMNS: &str = "id, kind, priority, state, attempts, runs, enqueued_ms, not_before_ms, \
                       started_ms, finished_ms, result_id, error";

/// A row before its JSON column is parsed.
struct RawJob {
    id: JobId,
    kind: String,
    priority: i64,
    state: String,
    attempts: u32,
    runs: u32,
    enqueued_ms: i64,
    not_before_ms: i64,
    started_ms: Option<i64>,
    finished_ms: Option<i64>,
    result_id: Option<String>,
    error: Option<String>,
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<RawJob> {
    Ok(RawJob {
        id: r.get(0)?,
        kind: r.get(1)?,
        priority: r.get(2)?,
        state: r.get(3)?,
        attempts: r.get(4)?,
        runs: r.get(5)?,
        enqueued_ms: r.get(6)?,
        not_before_ms: r.get(7)?,
        started_ms: r.get(8)?,
        finished_ms: r.get(9)?,
        result_id: r.get(10)?,
        error: r.get(11)?,
    })
}

impl RawJob {
    fn parse(self) -> Result<JobInfo> {
        let object = || format!("job {}", self.id);
        let kind = serde_json::from_str(&self.kind)
            .map_err(|e| Error::corrupt("state", object(), format!("unreadable: {e}")))?;
        let state = self.state.parse().map_err(|_| {
            Error::corrupt("state", object(), format!("unknown state {:?}", self.state))
        })?;
        Ok(JobInfo {
            id: self.id,
            kind,
            priority: from_rank(self.priority),
            state,
            attempts: self.attempts,
            runs: self.runs,
            enqueued_at: ms_to_time(self.enqueued_ms),
            not_before: ms_to_time(self.not_before_ms),
            started_at: self.started_ms.map(ms_to_time),
            finished_at: self.finished_ms.map(ms_to_time),
            result_id: self.result_id,
            error: self.error,
        })
    }
}

impl JobQueue {
    pub(crate) fn new(db: Arc<StateDb>) -> Self {
        JobQueue { db }
    }

    /// Queues a job. With a `dedup_key`, nothing is queued (and `None` is
    /// returned) while a queued job with the same key exists.
    pub(crate) fn enqueue(
        &self,
        kind: &JobKind,
        priority: Priority,
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
        dedup_key: Option<&str>,
    ) -> Result<Option<JobId>> {
        let json = serde_json::to_string(kind)
            .map_err(|e| Error::Internal(format!("serialize job: {e}")))?;
        let mut conn = self.db.conn();
        let tx = conn.transaction().map_err(db_err)?;
        if let Some(key) = dedup_key {
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM jobs WHERE dedup_key = ?1 AND state = 'queued' LIMIT 1",
                    [key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            if existing.is_some() {
                return Ok(None);
            }
        }
        tx.execute(
            "INSERT INTO jobs (kind, wedding_id, location, maintenance, priority, state, \
             enqueued_ms, not_before_ms, dedup_key) VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?8)",
            params![
                json,
                kind.wedding_id(),
                kind.location(),
                kind.is_maintenance(),
                rank(priority),
                now.timestamp_millis(),
                not_before.timestamp_millis(),
                dedup_key
            ],
        )
        .map_err(db_err)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(db_err)?;
        Ok(Some(id))
    }

    /// Puts jobs left `running` by a previous process back on the queue.
    pub(crate) fn requeue_in_flight(&self) -> Result<usize> {
        self.db
            .conn()
            .execute(
                "UPDATE jobs SET state = 'queued', started_ms = NULL WHERE state = 'running'",
                [],
            )
            .map_err(db_err)
    }

    /// Queued jobs due at `now`, in queue order (see the module docs).
    pub(crate) fn due(&self, now: DateTime<Utc>, aging_step_ms: i64) -> Result<Vec<JobInfo>> {
        let mut jobs = self.select(
            "WHERE state = 'queued' AND not_before_ms <= ?1",
            params![now.timestamp_millis()],
        )?;
        jobs.sort_by_key(|j| {
            (
                virtual_time(j.enqueued_at.timestamp_millis(), j.priority, aging_step_ms),
                j.id,
            )
        });
        Ok(jobs)
    }

    /// `queued → running`; false when someone else took it first.
    pub(crate) fn claim(&self, id: JobId, now: DateTime<Utc>) -> Result<bool> {
        let n = self
            .db
            .conn()
            .execute(
                "UPDATE jobs SET state = 'running', runs = runs + 1, started_ms = ?2 \
                 WHERE id = ?1 AND state = 'queued'",
                params![id, now.timestamp_millis()],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    /// `running → done`, recording the result, in one statement.
    pub(crate) fn complete(&self, id: JobId, result_id: &str, now: DateTime<Utc>) -> Result<bool> {
        let n = self
            .db
            .conn()
            .execute(
                "UPDATE jobs SET state = 'done', result_id = ?2, finished_ms = ?3, error = NULL \
                 WHERE id = ?1 AND state = 'running'",
                params![id, result_id, now.timestamp_millis()],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    /// A failed run: queued again at `retry_at`, or failed for good.
    pub(crate) fn fail(
        &self,
        id: JobId,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let conn = self.db.conn();
        match retry_at {
            Some(at) => conn.execute(
                "UPDATE jobs SET state = 'queued', attempts = attempts + 1, error = ?2, \
                 not_before_ms = ?3 WHERE id = ?1 AND state = 'running'",
                params![id, error, at.timestamp_millis()],
            ),
            None => conn.execute(
                "UPDATE jobs SET state = 'failed', attempts = attempts + 1, error = ?2, \
                 finished_ms = ?3 WHERE id = ?1 AND state = 'running'",
                params![id, error, now.timestamp_millis()],
            ),
        }
        .map_err(db_err)?;
        Ok(())
    }

    /// `running → queued` without counting a failure (a yield or shutdown).
    pub(crate) fn release(&self, id: JobId) -> Result<()> {
        self.db
            .conn()
            .execute(
                "UPDATE jobs SET state = 'queued', started_ms = NULL WHERE id = ?1 AND state = 'running'",
                [id],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// One job.
    pub(crate) fn get(&self, id: JobId) -> Result<Option<JobInfo>> {
        Ok(self
            .select("WHERE id = ?1", params![id])?
            .into_iter()
            .next())
    }

    /// Every job, by id.
    pub(crate) fn list(&self) -> Result<Vec<JobInfo>> {
        self.select("", params![])
    }

    /// True when a backup of `wedding` is queued or running.
    pub(crate) fn has_pending_backup(&self, wedding: &str) -> Result<bool> {
        let n: i64 = self
            .db
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM jobs WHERE wedding_id = ?1 AND maintenance = 0 \
                 AND state IN ('queued', 'running')",
                [wedding],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        Ok(n > 0)
    }

    /// Counts by state and class; failed backups counted since `since`.
    pub(crate) fn counts(&self, since: DateTime<Utc>) -> Result<QueueCounts> {
        let conn = self.db.conn();
        let mut stmt = conn
            .prepare(
                "SELECT state, priority, maintenance, COUNT(*), MAX(finished_ms), \
                 SUM(CASE WHEN finished_ms >= ?1 THEN 1 ELSE 0 END) \
                 FROM jobs GROUP BY state, priority, maintenance",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map([since.timestamp_millis()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, i64>(3)? as u64,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<i64>>(5)?.unwrap_or(0) as u64,
                ))
            })
            .map_err(db_err)?;
        let mut c = QueueCounts::default();
        for row in rows {
            let (state, rank, maintenance, n, last, recent) = row.map_err(db_err)?;
            let slot = rank.clamp(0, 3) as usize;
            match state.as_str() {
                "queued" => {
                    c.queued[slot] += n;
                    if !maintenance {
                        c.queued_backups += n;
                    }
                }
                "running" => {
                    c.running[slot] += n;
                    if !maintenance {
                        c.running_backups += n;
                    }
                }
                "done" => {
                    c.done_total += n;
                    if !maintenance {
                        let last = last.map(ms_to_time);
                        c.last_backup_done = c.last_backup_done.max(last);
                    }
                }
                "failed" => {
                    c.failed_total += n;
                    if !maintenance {
                        c.failed_backups_since += recent;
                    }
                }
                _ => {}
            }
        }
        Ok(c)
    }

    fn select(&self, filter: &str, args: impl rusqlite::Params) -> Result<Vec<JobInfo>> {
        let conn = self.db.conn();
        let mut stmt = conn
            .prepare(&format!("SELECT {COLUMNS} FROM jobs {filter} ORDER BY id"))
            .map_err(db_err)?;
        let rows = stmt.query_map(args, read_row).map_err(db_err)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(db_err)?.parse()?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
