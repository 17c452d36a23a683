//! Real-time mode: the folder of a critical wedding is watched (`notify`:
//! inotify, FSEvents, ReadDirectoryChangesW), and a burst of changes becomes
//! one backup once the folder has been quiet for `quiet`, or `max_delay`
//! after the burst's first change, whichever comes first. A burst of 500
//! photos copied in is therefore a handful of snapshots, not 500; a change
//! made while a backup runs queues the next one (see the dedup key in
//! [`super::periodic`]), so nothing written is left out.

use std::collections::HashMap;
use std::path::PathBuf;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::RealtimeConfig;

/// One watched folder: the OS watcher and the task that debounces it.
struct Watch {
    path: PathBuf,
    _watcher: notify::RecommendedWatcher,
    debounce: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.debounce.abort();
    }
}

/// The set of watched folders; sends a wedding id when its folder settles.
pub(crate) struct Watchers {
    settled: mpsc::UnboundedSender<String>,
    config: RealtimeConfig,
    watches: HashMap<String, Watch>,
}

impl Watchers {
    pub(crate) fn new(settled: mpsc::UnboundedSender<String>, config: RealtimeConfig) -> Self {
        Watchers {
            settled,
            config,
            watches: HashMap::new(),
        }
    }

    /// Watches exactly `wanted` (wedding → folder): starts new watches,
    /// drops the ones no longer wanted or whose folder changed.
    pub(crate) fn sync(&mut self, wanted: HashMap<String, PathBuf>) {
        self.watches
            .retain(|w, watch| wanted.get(w).is_some_and(|p| *p == watch.path));
        for (wedding, path) in wanted {
            if self.watches.contains_key(&wedding) {
                continue;
            }
            match self.start(&wedding, &path) {
                Ok(watch) => {
                    tracing::info!(wedding = %wedding, folder = %path.display(), "real-time mode on");
                    self.watches.insert(wedding, watch);
                }
                Err(e) => {
                    tracing::warn!(wedding = %wedding, folder = %path.display(), error = %e, "cannot watch the folder; periodic backups only")
                }
            }
        }
    }

    /// Weddings being watched.
    #[cfg(test)]
    pub(crate) fn watched(&self) -> Vec<String> {
        let mut v: Vec<_> = self.watches.keys().cloned().collect();
        v.sort();
        v
    }

    fn start(&self, wedding: &str, path: &std::path::Path) -> notify::Result<Watch> {
        let (tx, rx) = mpsc::unbounded_channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(ev) if !ev.kind.is_access() => {
                    let _ = tx.send(());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "folder watch error"),
            })?;
        watcher.watch(path, RecursiveMode::Recursive)?;
        let debounce = tokio::spawn(debounce(
            wedding.to_owned(),
            rx,
            self.settled.clone(),
            self.config,
        ));
        Ok(Watch {
            path: path.to_owned(),
            _watcher: watcher,
            debounce,
        })
    }
}

/// Turns a stream of change signals into one `settled` message per burst.
pub(crate) async fn debounce(
    wedding: String,
    mut changes: mpsc::UnboundedReceiver<()>,
    settled: mpsc::UnboundedSender<String>,
    config: RealtimeConfig,
) {
    while changes.recv().await.is_some() {
        let first = Instant::now();
        let deadline = first + config.max_delay;
        loop {
            let quiet_end = (Instant::now() + config.quiet).min(deadline);
            match tokio::time::timeout_at(quiet_end, changes.recv()).await {
                Ok(Some(())) if Instant::now() < deadline => continue,
                Ok(None) => return,
                _ => break,
            }
        }
        tracing::debug!(wedding = %wedding, waited_ms = first.elapsed().as_millis() as u64, "folder settled");
        if settled.send(wedding.clone()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg() -> RealtimeConfig {
        RealtimeConfig {
            quiet: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_becomes_one_signal_after_the_quiet_time() {
        let (tx, rx) = mpsc::unbounded_channel();
        let (stx, mut srx) = mpsc::unbounded_channel();
        tokio::spawn(debounce("w".into(), rx, stx, cfg()));
        let start = Instant::now();
        for _ in 0..500 {
            tx.send(()).unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(srx.recv().await.as_deref(), Some("w"));
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(1400) && took < Duration::from_millis(1700),
            "{took:?}"
        );
        assert!(srx.try_recv().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_trickle_is_cut_at_the_max_delay() {
        let (tx, rx) = mpsc::unbounded_channel();
        let (stx, mut srx) = mpsc::unbounded_channel();
        tokio::spawn(debounce("w".into(), rx, stx, cfg()));
        let start = Instant::now();
        let feeder = tokio::spawn(async move {
            for _ in 0..60 {
                let _ = tx.send(());
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        srx.recv().await.unwrap();
        assert!(
            start.elapsed() <= Duration::from_millis(5100),
            "{:?}",
            start.elapsed()
        );
        srx.recv().await.unwrap();
        assert!(start.elapsed() <= Duration::from_millis(10600));
        feeder.abort();
    }

    #[tokio::test]
    async fn watches_follow_the_wanted_set() {
        let dir = tempfile::tempdir().unwrap();
        let (stx, mut srx) = mpsc::unbounded_channel();
        let mut w = Watchers::new(
            stx,
            RealtimeConfig {
                quiet: Duration::from_millis(200),
                max_delay: Duration::from_secs(2),
            },
        );
        let mut wanted = HashMap::new();
        wanted.insert("a".to_owned(), dir.path().to_owned());
        wanted.insert("missing".to_owned(), dir.path().join("nope"));
        w.sync(wanted);
        assert_eq!(w.watched(), ["a"]);
        std::fs::write(dir.path().join("x.jpg"), b"x").unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), srx.recv()).await;
        assert_eq!(got.unwrap().as_deref(), Some("a"));
        w.sync(HashMap::new());
        assert!(w.watched().is_empty());
    }
}
