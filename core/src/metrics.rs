//! Counters and gauges in the Prometheus text format, with
//! `prometheus-client` (the Prometheus project's own Rust client: no global
//! registry, OpenMetrics text output, no protobuf or C dependencies).
//!
//! Counters are kept as events happen; gauges that describe the state
//! (queue depth, storage used, health, locations) are set from the state
//! database and the catalog at each scrape, so they are never stale.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::api::Priority;
use crate::schedule::execute::RunEnd;

type Labels = Vec<(String, String)>;

/// The engine's metrics.
pub(crate) struct Metrics {
    registry: Mutex<Registry>,
    jobs_enqueued: Family<Labels, Counter>,
    jobs_finished: Family<Labels, Counter>,
    backup_bytes: Counter,
    jobs_running: Gauge,
    /// Gauges set at scrape time.
    pub jobs_queued: Family<Labels, Gauge>,
    pub storage_used: Gauge,
    pub health_score: Gauge,
    pub location_up: Family<Labels, Gauge>,
    pub critical_protected: Gauge,
    pub critical_weddings: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("heirloom")),
            jobs_enqueued: Family::default(),
            jobs_finished: Family::default(),
            backup_bytes: Counter::default(),
            jobs_running: Gauge::default(),
            jobs_queued: Family::default(),
            storage_used: Gauge::default(),
            health_score: Gauge::default(),
            location_up: Family::default(),
            critical_protected: Gauge::default(),
            critical_weddings: Gauge::default(),
        };
        {
            let mut r = m.registry.lock().unwrap_or_else(|p| p.into_inner());
            r.register(
                "jobs_enqueued",
                "Jobs queued, by kind and class",
                m.jobs_enqueued.clone(),
            );
            r.register(
                "jobs_finished",
                "Job runs ended, by kind, class and outcome (done, retry, failed, yielded)",
                m.jobs_finished.clone(),
            );
            r.register(
                "backup_stored_bytes",
                "Bytes written to locations by backups (shards and metadata)",
                m.backup_bytes.clone(),
            );
            r.register(
                "jobs_running",
                "Jobs held by workers",
                m.jobs_running.clone(),
            );
            r.register(
                "jobs_queued",
                "Jobs waiting, by class",
                m.jobs_queued.clone(),
            );
            r.register(
                "storage_used_bytes",
                "Bytes stored across all locations, from the catalog",
                m.storage_used.clone(),
            );
            r.register(
                "health_score",
                "Health score, 0 to 100",
                m.health_score.clone(),
            );
            r.register(
                "location_up",
                "1 when the location is neither down nor degraded",
                m.location_up.clone(),
            );
            r.register(
                "critical_weddings_protected",
                "Critical weddings whose latest snapshot has full redundancy",
                m.critical_protected.clone(),
            );
            r.register(
                "critical_weddings",
                "Weddings the policy classes critical or wedding-day urgent",
                m.critical_weddings.clone(),
            );
        }
        m
    }

    pub(crate) fn job_enqueued(&self, kind: &str, class: Priority) {
        self.jobs_enqueued
            .get_or_create(&labels(&[("kind", kind), ("class", class.as_str())]))
            .inc();
    }

    pub(crate) fn job_finished(&self, kind: &str, class: Priority, end: RunEnd) {
        let outcome = match end {
            RunEnd::Done => "done",
            RunEnd::Retry => "retry",
            RunEnd::Failed => "failed",
            RunEnd::Yielded => "yielded",
        };
        self.jobs_finished
            .get_or_create(&labels(&[
                ("kind", kind),
                ("class", class.as_str()),
                ("outcome", outcome),
            ]))
            .inc();
    }

    pub(crate) fn backup_bytes(&self, n: u64) {
        self.backup_bytes.inc_by(n);
    }

    pub(crate) fn set_running(&self, n: usize) {
        self.jobs_running.set(n as i64);
    }

    pub(crate) fn set_queued(&self, class: Priority, n: u64) {
        self.jobs_queued
            .get_or_create(&labels(&[("class", class.as_str())]))
            .set(n as i64);
    }

    pub(crate) fn set_location(&self, location: &str, region: &str, up: bool) {
        self.location_up
            .get_or_create(&labels(&[("location", location), ("region", region)]))
            .set(i64::from(up));
    }

    /// The text exposition.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = encode(&mut out, &r) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_has_the_series() {
        let m = Metrics::new();
        m.job_enqueued("backup", Priority::Critical);
        m.job_finished("backup", Priority::Critical, RunEnd::Done);
        m.backup_bytes(42);
        m.set_queued(Priority::High, 3);
        m.set_location("loc0", "eu", true);
        let text = m.encode();
        for line in [
            "heirloom_jobs_enqueued_total{kind=\"backup\",class=\"critical\"} 1",
            "heirloom_jobs_finished_total{kind=\"backup\",class=\"critical\",outcome=\"done\"} 1",
            "heirloom_backup_stored_bytes_total 42",
            "heirloom_jobs_queued{class=\"high\"} 3",
            "heirloom_location_up{location=\"loc0\",region=\"eu\"} 1",
            "# TYPE heirloom_health_score gauge",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
