//! Progress of a running backup or recovery, for hosts that show it.

use serde::{Deserialize, Serialize};

/// How far a backup (files read) or a recovery (files written) has come.
/// Totals are known when the work starts; `bytes_done` can pass
/// `bytes_total` when a file grows while it is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Files finished.
    pub files_done: u64,
    /// Files to do.
    pub files_total: u64,
    /// Bytes read (backup) or written (recovery).
    pub bytes_done: u64,
    /// Bytes to do.
    pub bytes_total: u64,
}

/// Receives [`Progress`] a few times a second while an operation runs, and
/// once more when its work is done. Called from the engine's tasks: keep it
/// quick. Any `Fn(Progress) + Send + Sync` closure is one.
pub trait ProgressSink: Send + Sync {
    /// The current progress.
    fn progress(&self, progress: Progress);
}

impl<F: Fn(Progress) + Send + Sync> ProgressSink for F {
    fn progress(&self, progress: Progress) {
        self(progress)
    }
}
