//! `engine.status()` and the scrape-time metrics.

use crate::api::{BackupSystemStatus, Priority};
use crate::error::Result;
use crate::Engine;

pub(crate) async fn status(engine: &Engine) -> Result<BackupSystemStatus> {
    let now = engine.context().now();
    let counts = engine
        .scheduling()
        .queue
        .counts(now - chrono::Duration::hours(24))?;
    let facts = engine.catalog_facts().await;
    let health = super::report::health(engine).await?;
    let policy = &engine.schedule_config().policy;
    let mut critical = 0;
    let mut protected = 0;
    for event in engine.calendar().list()? {
        if policy.classify(&event, now) < Priority::Critical {
            continue;
        }
        critical += 1;
        let Some((snapshot, _)) = facts.latest.get(&event.id) else {
            continue;
        };
        match engine.fully_redundant(snapshot).await {
            Ok(true) => protected += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(wedding = %event.id, error = %e, "cannot check the redundancy of a snapshot")
            }
        }
    }
    let last_snapshot = facts.latest.values().map(|(_, t)| *t).max();
    let healthy = facts
        .locations
        .iter()
        .filter(|l| !l.down && !l.degraded)
        .count();
    Ok(BackupSystemStatus {
        active_backups: counts.running_backups,
        queued_backups: counts.queued_backups,
        failed_backups: counts.failed_backups_since,
        total_storage_used: facts.storage_used,
        health_score: health.score,
        last_backup_completion: counts.last_backup_done.max(last_snapshot),
        critical_weddings_protected: protected,
        critical_weddings: critical,
        recovery_capability: facts.capability,
        healthy_locations: healthy as u64,
        total_locations: facts.locations.len() as u64,
        generated_at: now,
    })
}

/// Sets the state gauges before a scrape.
pub(crate) async fn refresh_metrics(engine: &Engine) {
    let metrics = &engine.scheduling().metrics;
    let now = engine.context().now();
    match engine.scheduling().queue.counts(now) {
        Ok(c) => {
            for p in Priority::ALL {
                metrics.set_queued(*p, c.queued[crate::schedule::queue::rank(*p) as usize]);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count the queue"),
    }
    match status(engine).await {
        Ok(s) => {
            metrics.storage_used.set(s.total_storage_used as i64);
            metrics.health_score.set(i64::from(s.health_score));
            metrics
                .critical_protected
                .set(s.critical_weddings_protected as i64);
            metrics.critical_weddings.set(s.critical_weddings as i64);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot compute the status"),
    }
    for l in engine.catalog_facts().await.locations {
        metrics.set_location(&l.id, &l.region, !l.down && !l.degraded);
    }
}
