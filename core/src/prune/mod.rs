//! Retention and garbage collection, safe against concurrent backups.
//!
//! `prune_plan` applies the retention rules ([`rules`]) and finds packs no
//! kept snapshot references; `prune` executes in two phases:
//!
//! 1. **Mark** (this run): forgotten snapshot records are deleted, and a
//!    replicated `prune/<sha256>` marker lists the packs now unreferenced,
//!    the forgotten manifests, every index object known at that moment, and a
//!    deadline `now + grace` (default 48 h, longer than any backup may take).
//! 2. **Sweep** (a later run, after the deadline): with backups of this
//!    engine held off (the in-process maintenance lock) and the catalog
//!    reloaded, a marked pack is deleted only if no snapshot references it
//!    now (one committed meanwhile by a backup that deduplicated against it
//!    spares it) and no index object newer than the marker lists it.
//!    Index objects listing deleted packs are rewritten without them first.
//!
//! Backups (every process) treat packs under a marker as gone: they do not
//! deduplicate against them, so a backup that starts after a marker never
//! needs its packs; one that started before must commit before the deadline.

mod gc;
mod plan;
pub(crate) mod refs;
pub(crate) mod rules;

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};

pub(crate) use gc::{load_markers, prune};
pub(crate) use plan::prune_plan;
pub use plan::{ForgetSnapshot, PendingMarker, PrunePlan, PruneReport};
pub use rules::KeepRules;

use crate::engine::Inner;
use crate::error::Result;

/// Default grace between marking a pack and deleting it: 48 hours.
pub const DEFAULT_GRACE_SECS: u64 = 48 * 3600;

/// Decides when maintenance (prune, archival migration) may run. The
/// scheduler's wedding calendar implements it to block wedding days.
pub trait MaintenanceWindow: Send + Sync + std::fmt::Debug {
    /// Why maintenance may not run at `now`; `None` when it may.
    fn blocked(&self, now: DateTime<Utc>) -> Option<String>;
}

/// The built-in window: never on Saturday, nor on the listed days, in the
/// platform's local time (`utc_offset_minutes`; UTC by default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MaintenancePolicy {
    /// Offset of the local time that decides what day it is, in minutes east of UTC.
    pub utc_offset_minutes: i32,
    /// Allow Saturdays (off by default: weddings happen on Saturdays).
    pub allow_saturday: bool,
    /// Further blocked local dates (wedding days, from the calendar).
    pub blocked_days: Vec<NaiveDate>,
}

impl MaintenanceWindow for MaintenancePolicy {
    fn blocked(&self, now: DateTime<Utc>) -> Option<String> {
        let local = now + chrono::Duration::minutes(i64::from(self.utc_offset_minutes));
        let date = local.date_naive();
        let offset = format!(
            "UTC{}{:02}:{:02}",
            if self.utc_offset_minutes < 0 {
                '-'
            } else {
                '+'
            },
            self.utc_offset_minutes.abs() / 60,
            self.utc_offset_minutes.abs() % 60
        );
        if !self.allow_saturday && date.weekday() == Weekday::Sat {
            return Some(format!("Saturday {date} ({offset}): weddings come first"));
        }
        if self.blocked_days.contains(&date) {
            return Some(format!(
                "{date} ({offset}) is a blocked day (a wedding day)"
            ));
        }
        None
    }
}

/// What prune may do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PruneOptions {
    /// Apply the retention rules of each snapshot's `retention`.
    pub apply_retention: bool,
    /// Snapshots to forget whatever the rules say (full ids or unique
    /// prefixes); the only way to forget a wedding's last snapshot.
    pub forget_ids: Vec<String>,
    /// Seconds between marking a pack and deleting it.
    pub grace_secs: u64,
    /// Saturday and blocked days.
    pub window: MaintenancePolicy,
    /// A further window, e.g. the scheduler's wedding calendar.
    #[serde(skip)]
    pub calendar: Option<Arc<dyn MaintenanceWindow>>,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            apply_retention: true,
            forget_ids: Vec::new(),
            grace_secs: DEFAULT_GRACE_SECS,
            window: MaintenancePolicy::default(),
            calendar: None,
        }
    }
}

impl PruneOptions {
    /// Fails with [`crate::Error::MaintenanceBlocked`] when maintenance may not run at `now`.
    pub(crate) fn check(&self, now: DateTime<Utc>) -> Result<()> {
        let reason = self
            .window
            .blocked(now)
            .or_else(|| self.calendar.as_ref().and_then(|c| c.blocked(now)));
        match reason {
            Some(reason) => {
                tracing::info!(%reason, "maintenance refused");
                Err(crate::Error::MaintenanceBlocked { reason })
            }
            None => Ok(()),
        }
    }
}

/// Called at the start of every backup: refreshes the retired locations,
/// reloads a catalog a sweep made stale, and stops deduplication against
/// packs under a prune marker.
pub(crate) async fn prepare_backup(inner: &Inner) -> Result<()> {
    crate::repair::refresh_retired(&inner.store).await;
    // A sweep (in any process) removes the index objects of the packs it
    // deletes: a catalog that still lists one is stale and must not be
    // deduplicated against.
    // A prune (in any process) deletes forgotten snapshot records first: a
    // catalog that still lists one would offer it as the parent, whose
    // manifest parts a backup does not write again. Both listings at once.
    let (listed, snapshots) = tokio::try_join!(
        inner.store.list_union(crate::repo::INDEX_PREFIX),
        inner.store.list_union(crate::repo::SNAPSHOT_PREFIX),
    )?;
    let stale = {
        let cat = inner.catalog.read().await;
        cat.indexes.iter().any(|n| !listed.contains(n))
            || cat.snapshots.keys().any(|s| !snapshots.contains(s))
    };
    if stale {
        tracing::info!("objects were removed by a prune; reloading the catalog");
        crate::engine::open::reload_catalog(inner).await?;
    }
    let markers = load_markers(inner).await?;
    let mut cat = inner.catalog.write().await;
    cat.parked_manifests = markers
        .iter()
        .flat_map(|(_, m)| m.manifests.iter().cloned())
        .collect();
    for (_, m) in &markers {
        for p in &m.packs {
            cat.park_pack(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn saturday_and_blocked_days_are_refused_in_local_time() {
        let p = MaintenancePolicy::default();
        let sat = Utc.with_ymd_and_hms(2025, 6, 14, 12, 0, 0).unwrap();
        assert!(p.blocked(sat).unwrap().contains("Saturday"));
        let fri_late = Utc.with_ymd_and_hms(2025, 6, 13, 23, 30, 0).unwrap();
        assert!(p.blocked(fri_late).is_none());
        let east = MaintenancePolicy {
            utc_offset_minutes: 60,
            ..Default::default()
        };
        assert!(
            east.blocked(fri_late).is_some(),
            "already Saturday at UTC+1"
        );
        let wed = Utc.with_ymd_and_hms(2025, 6, 18, 9, 0, 0).unwrap();
        let cal = MaintenancePolicy {
            blocked_days: vec![wed.date_naive()],
            ..Default::default()
        };
        assert!(cal.blocked(wed).unwrap().contains("wedding day"));
        let opts = PruneOptions::default();
        assert!(matches!(
            opts.check(sat),
            Err(crate::Error::MaintenanceBlocked { .. })
        ));
    }
}
