//! The state database: one SQLite file in the state folder holding the
//! wedding calendar, the job queue and the periodic-backup bookkeeping.
//!
//! SQLite (bundled, so every host gets the same version) was chosen over an
//! embedded key-value store because the queue is queried (due jobs, counts by
//! state and class, a job's history), because its file format has been stable
//! for two decades (a state folder outlives many releases), and because an
//! operator can open the file with the `sqlite3` shell. The file is in WAL
//! mode with `synchronous = FULL`: a committed transaction survives a killed
//! process and a power cut.
//!
//! Calls are synchronous behind a mutex: every statement touches a handful
//! of rows and commits in about a millisecond, far below the time of the jobs
//! it schedules. One process at a time runs the scheduler on a state folder.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error::{Error, Result};

/// File name of the state database inside the state folder.
pub(crate) const STATE_DB_FILE: &str = "state.sqlite3";

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS weddings (
    id         TEXT PRIMARY KEY,
    event      TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,
    wedding_id    TEXT,
    location      TEXT,
    maintenance   INTEGER NOT NULL,
    priority      INTEGER NOT NULL,
    state         TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    runs          INTEGER NOT NULL DEFAULT 0,
    enqueued_ms   INTEGER NOT NULL,
    not_before_ms INTEGER NOT NULL,
    started_ms    INTEGER,
    finished_ms   INTEGER,
    result_id     TEXT,
    error         TEXT,
    dedup_key     TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, not_before_ms);
CREATE INDEX IF NOT EXISTS jobs_by_dedup ON jobs (dedup_key, state);
CREATE TABLE IF NOT EXISTS periodic (
    wedding_id TEXT PRIMARY KEY,
    last_ms    INTEGER NOT NULL
);
";

/// The open state database.
pub(crate) struct StateDb {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for StateDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDb").finish_non_exhaustive()
    }
}

pub(crate) fn db_err(e: rusqlite::Error) -> Error {
    Error::Internal(format!("state database: {e}"))
}

impl StateDb {
    /// Opens (creating when needed) the database in `state_dir`.
    pub(crate) fn open(state_dir: &Path) -> Result<StateDb> {
        let path = state_dir.join(STATE_DB_FILE);
        let conn = Connection::open(&path).map_err(|e| {
            Error::io(
                &path,
                std::io::Error::other(format!("cannot open the state database: {e}")),
            )
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err)?;
        conn.execute_batch(SCHEMA).map_err(db_err)?;
        let version: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(db_err)?;
        match version.as_deref().map(str::parse::<i64>) {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )
                .map_err(db_err)?;
            }
            Some(Ok(SCHEMA_VERSION)) => {}
            Some(other) => {
                return Err(Error::invalid(format!(
                    "{}: state database schema {other:?} is not supported (expected {SCHEMA_VERSION}); \
                     the state folder may be deleted, no backup is lost",
                    path.display()
                )))
            }
        }
        Ok(StateDb {
            conn: Mutex::new(conn),
        })
    }

    /// The connection, for one short statement or transaction.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_twice_and_keeps_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        StateDb::open(dir.path()).unwrap();
        let db = StateDb::open(dir.path()).unwrap();
        let n: i64 = db
            .conn()
            .query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(dir.path()).unwrap();
        db.conn()
            .execute("UPDATE meta SET value = '99' WHERE key = 'schema'", [])
            .unwrap();
        drop(db);
        let err = StateDb::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("schema"), "{err}");
    }
}
