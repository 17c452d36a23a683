//! `engine.health()`: the five checks of [`super::score`] over live facts.

use std::collections::HashSet;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::score::{self, DrillSummary, ScrubSummary};
use super::{LAST_DRILL_FILE, LAST_SCRUB_FILE};
use crate::api::HealthReport;
use crate::error::Result;
use crate::Engine;

/// Reads a summary file; missing or unreadable is `None` ("unknown").
pub(crate) fn read_summary<T: DeserializeOwned>(dir: &Path, name: &str) -> Option<T> {
    let path = dir.join(name);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read; counted as unknown");
            return None;
        }
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| tracing::warn!(file = %path.display(), error = %e, "unreadable; counted as unknown"))
        .ok()
}

pub(crate) async fn health(engine: &Engine) -> Result<HealthReport> {
    let now = engine.context().now();
    let facts = engine.catalog_facts().await;
    let cfg = engine.schedule_config();

    // Completeness: calendar weddings with a folder, backed up recently enough.
    let mut fresh = 0;
    let mut total = 0;
    for event in engine.calendar().list()? {
        if event.source.is_none() {
            continue;
        }
        total += 1;
        let class = cfg.policy.classify(&event, now);
        let limit = chrono::Duration::from_std(cfg.intervals.for_class(class) * 2)
            .unwrap_or(chrono::Duration::MAX);
        if facts
            .latest
            .get(&event.id)
            .is_some_and(|(_, t)| now - *t <= limit)
        {
            fresh += 1;
        }
    }
    let completeness = score::check(
        "completeness",
        score::completeness(fresh, total),
        format!("{fresh} of {total} calendar weddings with a folder backed up within twice their interval"),
    );

    let scrub: Option<ScrubSummary> = read_summary(engine.state_dir(), LAST_SCRUB_FILE);
    let integrity = score::check(
        "integrity",
        score::integrity(scrub.as_ref(), now),
        match &scrub {
            Some(s) => format!(
                "latest scrub {}: {} shards checked, {} findings, {} unfixable",
                s.finished_at.to_rfc3339(),
                s.shards_checked,
                s.findings,
                s.unfixable
            ),
            None => format!("unknown: no readable {LAST_SCRUB_FILE}"),
        },
    );

    let healthy: Vec<_> = facts
        .locations
        .iter()
        .filter(|l| !l.down && !l.degraded)
        .collect();
    let storage = score::check(
        "storage",
        score::storage(healthy.len(), facts.locations.len()),
        format!(
            "{} of {} locations reachable and not degraded",
            healthy.len(),
            facts.locations.len()
        ),
    );

    let drill: Option<DrillSummary> =
        read_summary::<crate::verify::DrillReport>(engine.state_dir(), LAST_DRILL_FILE)
            .map(|d| DrillSummary::from(&d));
    let recovery = score::check(
        "recovery",
        score::recovery(drill.as_ref(), facts.capability, now),
        match &drill {
            Some(d) => format!(
                "latest drill {} {} ({} bytes in {} ms); shard availability {}",
                d.finished_at.to_rfc3339(),
                if d.ok { "passed" } else { "failed" },
                d.bytes,
                d.duration_ms,
                facts.capability
            ),
            None => format!(
                "no readable {LAST_DRILL_FILE} (unknown); shard availability {}",
                facts.capability
            ),
        },
    );

    let regions: HashSet<&str> = healthy.iter().map(|l| l.region.as_str()).collect();
    let (k, m) = engine.critical_profile();
    let needed = score::regions_needed(k + m, m);
    let geography = score::check(
        "geography",
        score::geography(regions.len(), needed),
        format!(
            "{} distinct regions among healthy locations; {needed} needed for {k}+{m} to survive a region",
            regions.len()
        ),
    );

    let checks = vec![completeness, integrity, storage, recovery, geography];
    let (score, level) = score::overall(&checks);
    Ok(HealthReport {
        score,
        level,
        checks,
        locations: facts.locations,
        recovery_capability: facts.capability,
        generated_at: now,
    })
}
