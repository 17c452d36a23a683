//! Reporting [`Progress`] to a host's [`ProgressSink`] while work runs.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::api::{Progress, ProgressSink};

/// How often a sink is called while work runs.
const INTERVAL: Duration = Duration::from_millis(100);

/// The sink of one operation, if the host asked for progress.
pub(super) type Sink = Option<Arc<dyn ProgressSink>>;

/// Runs `work`, calling the sink with `current()` every [`INTERVAL`] and
/// once more when `work` is done. Without a sink, just runs `work`.
pub(super) async fn report_while<T>(
    sink: &Sink,
    current: impl Fn() -> Progress,
    work: impl Future<Output = T>,
) -> T {
    let Some(sink) = sink else { return work.await };
    tokio::pin!(work);
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            biased;
            out = &mut work => {
                sink.progress(current());
                return out;
            }
            _ = tick.tick() => sink.progress(current()),
        }
    }
}

/// Files and bytes written by a recovery: a file is done when all of its
/// bytes are written.
pub(super) struct WriteCounters {
    remaining: Vec<AtomicU64>,
    files_done: AtomicU64,
    bytes_done: AtomicU64,
    bytes_total: u64,
}

impl WriteCounters {
    pub(super) fn new(sizes: impl Iterator<Item = u64>) -> Self {
        let remaining: Vec<AtomicU64> = sizes.map(AtomicU64::new).collect();
        let empty = remaining
            .iter()
            .filter(|r| r.load(Ordering::Relaxed) == 0)
            .count();
        WriteCounters {
            bytes_total: remaining.iter().map(|r| r.load(Ordering::Relaxed)).sum(),
            remaining,
            files_done: AtomicU64::new(empty as u64),
            bytes_done: AtomicU64::new(0),
        }
    }

    /// `len` bytes of file `file` were written; true when that completed
    /// the file (exactly one call per file returns true).
    pub(super) fn wrote(&self, file: usize, len: u64) -> bool {
        self.bytes_done.fetch_add(len, Ordering::Relaxed);
        if let Some(r) = self.remaining.get(file) {
            if len > 0 && r.fetch_sub(len, Ordering::AcqRel) == len {
                self.files_done.fetch_add(1, Ordering::Relaxed);
                return true;
            }
        }
        false
    }

    pub(super) fn current(&self) -> Progress {
        Progress {
            files_done: self.files_done.load(Ordering::Relaxed),
            files_total: self.remaining.len() as u64,
            bytes_done: self.bytes_done.load(Ordering::Relaxed),
            bytes_total: self.bytes_total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_done_when_its_last_byte_is_written() {
        let c = WriteCounters::new([10, 0, 5].into_iter());
        assert_eq!(c.current().files_done, 1);
        assert!(!c.wrote(0, 4));
        assert!(c.wrote(2, 5));
        assert!(c.wrote(0, 6));
        let p = c.current();
        assert_eq!((p.files_done, p.files_total), (3, 3));
        assert_eq!((p.bytes_done, p.bytes_total), (15, 15));
    }

    #[tokio::test(start_paused = true)]
    async fn the_sink_hears_the_end() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let sink: Sink = Some(Arc::new(move |p: Progress| s.lock().unwrap().push(p)));
        let done = AtomicU64::new(0);
        let out = report_while(
            &sink,
            || Progress {
                files_done: done.load(Ordering::Relaxed),
                ..Progress::default()
            },
            async {
                tokio::time::sleep(Duration::from_millis(350)).await;
                done.store(7, Ordering::Relaxed);
                42
            },
        )
        .await;
        assert_eq!(out, 42);
        let seen = seen.lock().unwrap();
        assert!(seen.len() >= 3, "{seen:?}");
        assert_eq!(seen.last().unwrap().files_done, 7);
    }
}
