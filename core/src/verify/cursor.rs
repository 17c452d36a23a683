//! Resumable progress of a scrub pass, and the byte-rate limit.
//!
//! The cursor (`<state_dir>/scrub-cursor.json`) records the packs done in
//! the current pass with what they showed, so that a deep scrub of a large
//! repository can stop (a byte budget, a crash, a host shutting down) and
//! continue where it was. It is written atomically (temp file + rename)
//! every few packs and removed when the pass completes. Losing it only
//! means the next pass starts over.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::report::{Finding, VerifyScope};
use crate::api::VerifyDepth;
use crate::error::{Error, Result};

/// File name of the cursor in the state folder.
pub(crate) const CURSOR_FILE: &str = "scrub-cursor.json";

/// Progress of one pass.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScrubCursor {
    pub scope: VerifyScope,
    pub depth: VerifyDepth,
    pub started_at: DateTime<Utc>,
    /// Seed of the pack sample, so that a resumed pass samples the same packs.
    pub sample_seed: u64,
    /// Packs done.
    pub done: BTreeSet<String>,
    /// Shard findings of the packs done.
    pub findings: Vec<Finding>,
    pub shards_checked: u64,
    pub packs_decoded: u64,
    pub chunks_verified: u64,
    pub packs_key_domain_skipped: u64,
}

impl ScrubCursor {
    pub(crate) fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(CURSOR_FILE)
    }

    /// The saved cursor, if any and readable (an unreadable one is ignored).
    pub(crate) fn load(state_dir: &Path) -> Option<ScrubCursor> {
        let bytes = std::fs::read(Self::path(state_dir)).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring an unreadable scrub cursor");
                None
            }
        }
    }

    /// Writes the cursor atomically.
    pub(crate) fn save(&self, state_dir: &Path) -> Result<()> {
        let path = Self::path(state_dir);
        let tmp = state_dir.join(format!("{CURSOR_FILE}.tmp"));
        let bytes = serde_json::to_vec(self).map_err(|e| Error::Internal(e.to_string()))?;
        std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }

    /// Removes the cursor: the pass is complete.
    pub(crate) fn clear(state_dir: &Path) -> Result<()> {
        let path = Self::path(state_dir);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path, e)),
            _ => Ok(()),
        }
    }
}

/// Keeps the bytes read per second under a limit by sleeping: after `n`
/// bytes in total, at least `n / rate` seconds have passed.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: Option<u64>,
    start: Instant,
    bytes: Mutex<u64>,
}

impl RateLimiter {
    pub(crate) fn new(rate: Option<u64>) -> Self {
        RateLimiter {
            rate: rate.filter(|r| *r > 0),
            start: Instant::now(),
            bytes: Mutex::new(0),
        }
    }

    /// Accounts for `n` bytes read and waits as long as the limit asks.
    pub(crate) async fn consume(&self, n: u64) {
        let total = {
            let mut b = self.bytes.lock().unwrap_or_else(|p| p.into_inner());
            *b += n;
            *b
        };
        if let Some(wait) = self.wait_for(total, self.start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }

    fn wait_for(&self, total: u64, elapsed: Duration) -> Option<Duration> {
        let rate = self.rate?;
        let due = Duration::from_secs_f64(total as f64 / rate as f64);
        due.checked_sub(elapsed).filter(|d| !d.is_zero())
    }

    /// Bytes accounted so far.
    pub(crate) fn total(&self) -> u64 {
        *self.bytes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_asks_for_the_missing_time() {
        let l = RateLimiter::new(Some(1000));
        assert_eq!(
            l.wait_for(2000, Duration::from_millis(500)),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(l.wait_for(2000, Duration::from_secs(3)), None);
        assert_eq!(
            RateLimiter::new(None).wait_for(1 << 40, Duration::ZERO),
            None
        );
    }

    #[test]
    fn cursor_roundtrips_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ScrubCursor::load(dir.path()).is_none());
        let c = ScrubCursor {
            scope: VerifyScope::All,
            depth: VerifyDepth::Deep,
            started_at: Utc::now(),
            sample_seed: 9,
            done: ["p1".to_owned()].into_iter().collect(),
            findings: vec![],
            shards_checked: 5,
            packs_decoded: 0,
            chunks_verified: 0,
            packs_key_domain_skipped: 0,
        };
        c.save(dir.path()).unwrap();
        let back = ScrubCursor::load(dir.path()).unwrap();
        assert_eq!(back.done.len(), 1);
        assert_eq!(back.sample_seed, 9);
        ScrubCursor::clear(dir.path()).unwrap();
        ScrubCursor::clear(dir.path()).unwrap();
        assert!(ScrubCursor::load(dir.path()).is_none());
    }
}
