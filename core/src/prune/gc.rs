//! Executing a prune: forget, mark, and sweep expired markers.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde::{Deserialize, Serialize};

use super::plan::{require_all_reachable, PrunePlan, PruneReport};
use super::refs::{chunk_packs, referenced_packs};
use super::PruneOptions;
use crate::engine::open::reload_catalog;
use crate::engine::Inner;
use crate::error::{Error, Result};
use crate::repair::write_placement;
use crate::repo::{shard_key, INDEX_PREFIX, MANIFEST_PREFIX, PRUNE_PREFIX, SNAPSHOT_PREFIX};

/// The `prune/<sha256>` object (plaintext JSON; it names only content hashes).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PruneMarker {
    pub version: u32,
    pub created_at: DateTime<Utc>,
    /// Packs may be deleted from this time on.
    pub deadline: DateTime<Utc>,
    /// Packs no kept snapshot referenced when the marker was written.
    pub packs: Vec<String>,
    /// Manifests of the snapshots forgotten with this marker.
    #[serde(default)]
    pub manifests: Vec<String>,
    /// Every index object known when the marker was written: a pack listed
    /// by any other (newer) index is spared.
    pub indexes_seen: Vec<String>,
}

/// Every marker in the repository.
pub(crate) async fn load_markers(inner: &Inner) -> Result<Vec<(String, PruneMarker)>> {
    let names = inner.store.list_union(PRUNE_PREFIX).await?;
    let mut out = Vec::new();
    for name in names {
        let bytes = inner.store.get_metadata(PRUNE_PREFIX, &name).await?;
        let m: PruneMarker = serde_json::from_slice(&bytes).map_err(|e| {
            Error::corrupt(
                "-",
                format!("{PRUNE_PREFIX}{name}"),
                format!("unreadable: {e}"),
            )
        })?;
        out.push((name, m));
    }
    out.sort_by(|a, b| a.1.created_at.cmp(&b.1.created_at).then(a.0.cmp(&b.0)));
    Ok(out)
}

/// True when an index object not in `seen` lists `pack`.
pub(crate) fn newer_index_lists(
    index_packs: &HashMap<String, Vec<String>>,
    seen: &[String],
    pack: &str,
) -> bool {
    index_packs
        .iter()
        .any(|(name, packs)| !seen.contains(name) && packs.iter().any(|p| p == pack))
}

/// Deletes `key` from every configured location; true when all answered.
async fn delete_everywhere(inner: &Inner, key: &str) -> bool {
    let r = join_all(inner.store.locations.iter().map(|l| async move {
        let r = l.provider.delete(key).await;
        inner.store.observe(&l.id, &r);
        if let Err(e) = &r {
            tracing::warn!(location = %l.id, object = key, error = %e, "delete failed");
        }
        r.is_ok()
    }))
    .await;
    r.into_iter().all(|ok| ok)
}

/// Executes a plan.
pub(crate) async fn prune(
    inner: &Inner,
    plan: PrunePlan,
    opts: &PruneOptions,
) -> Result<PruneReport> {
    let timer = Instant::now();
    let now = inner.config.context.now();
    opts.check(now)?;
    require_all_reachable(inner).await?;
    let mut report = PruneReport::default();

    // Phase 1: forget, then mark.
    for f in &plan.forget {
        delete_everywhere(inner, &format!("{SNAPSHOT_PREFIX}{}", f.snapshot_id)).await;
        inner.catalog.write().await.snapshots.remove(&f.snapshot_id);
        report.snapshots_forgotten += 1;
        tracing::info!(snapshot = %f.snapshot_id, wedding = %f.wedding_id, reason = %f.reason, "snapshot forgotten");
    }
    if !plan.mark.is_empty() || !plan.forget_manifests.is_empty() {
        let indexes_seen: Vec<String> = {
            let cat = inner.catalog.read().await;
            let mut v: Vec<String> = cat.indexes.iter().cloned().collect();
            v.sort();
            v
        };
        let marker = PruneMarker {
            version: 1,
            created_at: now,
            deadline: now + chrono::Duration::seconds(plan.grace_secs.min(i64::MAX as u64) as i64),
            packs: plan.mark.clone(),
            manifests: plan.forget_manifests.clone(),
            indexes_seen,
        };
        let bytes = serde_json::to_vec(&marker).map_err(|e| Error::Internal(e.to_string()))?;
        let required = inner.store.active().count().max(1);
        let (name, _) = inner
            .store
            .put_replicated(PRUNE_PREFIX, bytes, required)
            .await?;
        let mut cat = inner.catalog.write().await;
        for p in &plan.mark {
            cat.park_pack(p);
        }
        report.packs_marked = plan.mark.len() as u64;
        tracing::info!(marker = %name, packs = plan.mark.len(), deadline = %marker.deadline, "prune marker written");
        report.marker_written = Some(name);
    }
    if plan.due_markers.is_empty() {
        report.duration_ms = timer.elapsed().as_millis() as u64;
        return Ok(report);
    }

    // Phase 2: sweep, with this engine's backups held off.
    let _exclusive = inner.maintenance.write().await;
    reload_catalog(inner).await?;
    let markers: HashMap<String, super::gc::PruneMarker> = load_markers(inner)
        .await?
        .into_iter()
        .filter(|(n, _)| plan.due_markers.contains(n))
        .collect();
    let (snaps, chunk_map, index_packs) = {
        let cat = inner.catalog.read().await;
        super::plan::require_records_read(&cat)?;
        let snaps = cat.snapshot_list();
        (snaps, chunk_packs(&cat), cat.index_packs.clone())
    };
    // References now, including snapshots committed since the plan.
    let referenced = referenced_packs(inner, &snaps, &chunk_map).await?;
    let mut delete: BTreeSet<String> = BTreeSet::new();
    for p in &plan.delete {
        let still_newer = markers
            .values()
            .filter(|m| m.packs.contains(p))
            .any(|m| newer_index_lists(&index_packs, &m.indexes_seen, p));
        if referenced.contains(p) || still_newer {
            report.packs_spared += 1;
            tracing::info!(pack = %p, "marked pack is referenced again; kept");
        } else {
            delete.insert(p.clone());
        }
    }
    report.packs_spared += plan.spared.len() as u64;

    // Index objects listing deleted packs: rewritten without them, the new
    // object stored before the old one is removed.
    let affected: Vec<(String, Vec<String>)> = index_packs
        .iter()
        .filter(|(_, packs)| packs.iter().any(|p| delete.contains(p)))
        .map(|(n, p)| (n.clone(), p.clone()))
        .collect();
    for (name, packs) in affected {
        let records = {
            let cat = inner.catalog.read().await;
            let recs: Vec<_> = packs
                .iter()
                .filter(|p| !delete.contains(*p))
                .filter(|p| cat.pack_source.get(*p).is_some_and(|(_, src)| *src == name))
                .filter_map(|p| cat.packs.get(p).map(|r| (**r).clone()))
                .collect();
            recs
        };
        if !records.is_empty() {
            write_placement(inner, records).await?;
        }
        delete_everywhere(inner, &format!("{INDEX_PREFIX}{name}")).await;
        report.indexes_rewritten += 1;
    }
    for p in &delete {
        let rec = inner.catalog.read().await.packs.get(p).cloned();
        let Some(rec) = rec else { continue };
        for (i, loc) in rec.locations.iter().enumerate() {
            if let Some(l) = inner.store.location(loc) {
                let r = l.provider.delete(&shard_key(p, i)).await;
                inner.store.observe(loc, &r);
                if r.is_ok() {
                    report.shards_deleted += 1;
                    report.bytes_freed += rec.shard_size;
                }
            }
        }
        inner.catalog.write().await.remove_pack(p);
        report.packs_deleted += 1;
    }
    // Parts are shared: one is deleted only when no snapshot left names it.
    let live_manifests: HashSet<&String> =
        snaps.iter().flat_map(|(_, s)| s.manifest_names()).collect();
    for m in markers.values() {
        for man in &m.manifests {
            if !live_manifests.contains(man) {
                delete_everywhere(inner, &format!("{MANIFEST_PREFIX}{man}")).await;
                report.manifests_deleted += 1;
            }
        }
    }
    for name in markers.keys() {
        if delete_everywhere(inner, &format!("{PRUNE_PREFIX}{name}")).await {
            report.markers_removed += 1;
        }
    }
    reload_catalog(inner).await?;
    report.duration_ms = timer.elapsed().as_millis() as u64;
    tracing::info!(
        deleted = report.packs_deleted,
        spared = report.packs_spared,
        bytes = report.bytes_freed,
        "prune sweep finished"
    );
    Ok(report)
}
