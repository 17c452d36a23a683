//! Archival migration: the packs used only by snapshots older than a
//! cutoff move their shards from hot to cold locations, one shard per
//! location as always, with the repair machinery (rebuild or copy, write,
//! read back, record the new placement, then delete the old copy).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::plan::{pick_location, unusable};
use super::{execute, RepairAction, RepairPlan, RepairReport, ShardMove};
use crate::engine::Inner;
use crate::error::{Error, Result};
use crate::provider::Tier;
use crate::prune::{MaintenancePolicy, MaintenanceWindow};

/// What to archive.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArchiveOptions {
    /// Snapshots older than this many days are archived.
    pub older_than_days: u32,
    /// When maintenance may run.
    pub window: MaintenancePolicy,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions {
            older_than_days: 365,
            window: MaintenancePolicy::default(),
        }
    }
}

/// Inspectable archival plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchivePlan {
    /// Snapshots before this time are archived.
    pub cutoff: DateTime<Utc>,
    /// Packs used only by archived snapshots.
    pub packs_eligible: u64,
    /// Of those, packs with every shard on cold locations already.
    pub packs_already_cold: u64,
    /// Of those, packs that could not move every hot shard (too few cold locations).
    pub packs_partly_moved: u64,
    /// The moves.
    pub actions: Vec<RepairAction>,
}

/// Plans the migration.
pub(crate) async fn archive_plan(inner: &Inner, opts: &ArchiveOptions) -> Result<ArchivePlan> {
    let now = inner.config.context.now();
    if let Some(reason) = opts.window.blocked(now) {
        return Err(Error::MaintenanceBlocked { reason });
    }
    crate::engine::open::reload_catalog(inner).await?;
    let cutoff = now - Duration::days(i64::from(opts.older_than_days));
    let (snaps, chunk_packs) = {
        let cat = inner.catalog.read().await;
        let snaps = cat.snapshot_list();
        (snaps, crate::prune::refs::chunk_packs(&cat))
    };
    let times: HashMap<&String, DateTime<Utc>> = snaps.iter().map(|(id, s)| (id, s.time)).collect();
    let per = crate::prune::refs::snapshot_packs(inner, &snaps, &chunk_packs).await?;
    let mut recent: HashSet<&String> = HashSet::new();
    let mut old: HashSet<&String> = HashSet::new();
    for (sid, packs) in &per {
        let is_old = times.get(sid).is_some_and(|t| *t < cutoff);
        for p in packs {
            if is_old {
                old.insert(p);
            } else {
                recent.insert(p);
            }
        }
    }
    let unusable = unusable(inner, None);
    let mut plan = ArchivePlan {
        cutoff,
        packs_eligible: 0,
        packs_already_cold: 0,
        packs_partly_moved: 0,
        actions: Vec::new(),
    };
    let cat = inner.catalog.read().await;
    let mut eligible: Vec<&&String> = old.iter().filter(|p| !recent.contains(*p)).collect();
    eligible.sort();
    for pack_id in eligible {
        let Some(pack) = cat.packs.get(*pack_id) else {
            continue;
        };
        plan.packs_eligible += 1;
        let is_cold = |l: &String| {
            inner
                .store
                .location(l)
                .is_some_and(|l| l.tier == Tier::Cold)
        };
        let hot: Vec<usize> = (0..pack.locations.len())
            .filter(|&i| !is_cold(&pack.locations[i]))
            .collect();
        if hot.is_empty() {
            plan.packs_already_cold += 1;
            continue;
        }
        let mut locations = pack.locations.clone();
        let mut shards = Vec::new();
        for i in hot {
            let Some(to) = pick_location(inner, &locations, i, &[], Some(Tier::Cold), &unusable)
            else {
                plan.packs_partly_moved += 1;
                break;
            };
            shards.push(ShardMove {
                index: i,
                from: pack.locations[i].clone(),
                to: to.clone(),
                reason: format!("archive: snapshots before {}", cutoff.format("%Y-%m-%d")),
            });
            locations[i] = to;
        }
        if !shards.is_empty() {
            plan.actions.push(RepairAction::RebuildShards {
                pack_id: pack.id.clone(),
                shards,
            });
        }
    }
    Ok(plan)
}

/// Runs an archival plan (checking the maintenance window again).
pub(crate) async fn archive(
    inner: &Inner,
    plan: ArchivePlan,
    window: &MaintenancePolicy,
) -> Result<RepairReport> {
    if let Some(reason) = window.blocked(inner.config.context.now()) {
        return Err(Error::MaintenanceBlocked { reason });
    }
    execute(
        inner,
        RepairPlan {
            actions: plan.actions,
            ..Default::default()
        },
    )
    .await
}
