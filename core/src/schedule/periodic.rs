//! Calendar-driven backups: every wedding with a registered folder is backed
//! up at the interval of its current class (see
//! [`super::BackupIntervals`]). A wedding is due when its last calendar
//! backup was queued at least one interval ago and none of its backups is
//! queued or running; the time it was queued is kept in the state database,
//! so a restart neither repeats nor skips a period.

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use super::calendar::WeddingEvent;
use super::job::JobKind;
use super::queue::ms_to_time;
use crate::api::{Priority, WeddingBackupRequest};
use crate::error::Result;
use crate::state::{db_err, StateDb};

/// The dedup key shared by calendar and real-time backups of a wedding:
/// one queued backup of a wedding covers every change made before it starts.
pub(crate) fn backup_dedup_key(wedding: &str) -> String {
    format!("backup:{wedding}")
}

/// The backup job for a calendar wedding in class `class`.
pub(crate) fn backup_job(event: &WeddingEvent, class: Priority) -> Option<JobKind> {
    let source = event.source.as_ref()?;
    let mut request = WeddingBackupRequest::directory(&event.id, source);
    request.priority = class;
    Some(JobKind::Backup { request })
}

/// When the calendar last queued a backup of `wedding`.
pub(crate) fn last_queued(db: &StateDb, wedding: &str) -> Result<Option<DateTime<Utc>>> {
    let ms: Option<i64> = db
        .conn()
        .query_row(
            "SELECT last_ms FROM periodic WHERE wedding_id = ?1",
            [wedding],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    Ok(ms.map(ms_to_time))
}

/// Records that the calendar queued a backup of `wedding` at `at`.
pub(crate) fn set_last_queued(db: &StateDb, wedding: &str, at: DateTime<Utc>) -> Result<()> {
    db.conn()
        .execute(
            "INSERT INTO periodic (wedding_id, last_ms) VALUES (?1, ?2) \
             ON CONFLICT (wedding_id) DO UPDATE SET last_ms = excluded.last_ms",
            rusqlite::params![wedding, at.timestamp_millis()],
        )
        .map_err(db_err)?;
    Ok(())
}

/// True when a wedding last queued at `last` is due at `now`.
pub(crate) fn is_due(
    last: Option<DateTime<Utc>>,
    interval: std::time::Duration,
    now: DateTime<Utc>,
) -> bool {
    match last {
        None => true,
        Some(last) => {
            let interval = chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
            now - last >= interval
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    #[test]
    fn due_after_one_interval_and_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(dir.path()).unwrap();
        let t = Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap();
        let every = Duration::from_secs(900);
        assert!(is_due(last_queued(&db, "w").unwrap(), every, t));
        set_last_queued(&db, "w", t).unwrap();
        let last = last_queued(&db, "w").unwrap();
        assert_eq!(last, Some(t));
        assert!(!is_due(last, every, t + chrono::Duration::seconds(899)));
        assert!(is_due(last, every, t + chrono::Duration::seconds(900)));
    }
}
