//! The prune plan: which snapshots are forgotten and why, which packs are
//! marked now, and which packs of expired markers are deleted now.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::gc::{load_markers, newer_index_lists};
use super::refs::{chunk_packs, referenced_packs};
use super::rules::{decide, Candidate};
use super::PruneOptions;
use crate::api::Retention;
use crate::engine::open::reload_catalog;
use crate::engine::Inner;
use crate::error::{Error, Result};
use crate::provider::ProviderError;

/// A snapshot the plan forgets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForgetSnapshot {
    /// Snapshot id.
    pub snapshot_id: String,
    /// Its wedding.
    pub wedding_id: String,
    /// When it was taken.
    pub time: DateTime<Utc>,
    /// Its retention class.
    pub retention: Retention,
    /// The rule that dropped it, or "asked by id".
    pub reason: String,
}

/// A marker whose deadline has not passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingMarker {
    /// Marker object name.
    pub name: String,
    /// When its packs may be deleted.
    pub deadline: DateTime<Utc>,
    /// Packs it lists.
    pub packs: u64,
}

/// Inspectable prune plan, from [`crate::Engine::prune_plan`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrunePlan {
    /// The clock when planned.
    pub now: DateTime<Utc>,
    /// Grace for the marker written by this run.
    pub grace_secs: u64,
    /// Snapshots forgotten by this run.
    pub forget: Vec<ForgetSnapshot>,
    /// Snapshots kept.
    pub kept: u64,
    /// Packs no kept snapshot references, not yet marked: marked now.
    pub mark: Vec<String>,
    /// Manifests of forgotten snapshots (deleted with the marker's packs).
    pub forget_manifests: Vec<String>,
    /// Packs of expired markers, still unreferenced: deleted now.
    pub delete: Vec<String>,
    /// Shard bytes `delete` frees.
    pub delete_bytes: u64,
    /// Packs of expired markers that are referenced again: kept.
    pub spared: Vec<String>,
    /// Expired markers, removed by this run.
    pub due_markers: Vec<String>,
    /// Markers still in their grace period.
    pub pending_markers: Vec<PendingMarker>,
}

/// What [`crate::Engine::prune`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneReport {
    /// Snapshot records deleted.
    pub snapshots_forgotten: u64,
    /// The marker written, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker_written: Option<String>,
    /// Packs marked.
    pub packs_marked: u64,
    /// Packs deleted.
    pub packs_deleted: u64,
    /// Packs of expired markers found referenced at sweep time and kept.
    pub packs_spared: u64,
    /// Shard objects deleted.
    pub shards_deleted: u64,
    /// Shard bytes freed.
    pub bytes_freed: u64,
    /// Index objects rewritten without deleted packs.
    pub indexes_rewritten: u64,
    /// Manifests deleted.
    pub manifests_deleted: u64,
    /// Markers removed.
    pub markers_removed: u64,
    /// Wall time, milliseconds.
    pub duration_ms: u64,
}

/// Fails unless every active location answers: a deletion that misses a
/// location would come back with the next metadata repair.
pub(crate) async fn require_all_reachable(inner: &Inner) -> Result<()> {
    let reachable: HashSet<String> = inner
        .store
        .probe(crate::engine::store::BACKUP_PROBE_TIMEOUT)
        .await
        .into_iter()
        .map(|l| l.id.clone())
        .collect();
    let down: Vec<&str> = inner
        .store
        .active()
        .filter(|l| !reachable.contains(&l.id))
        .map(|l| l.id.as_str())
        .collect();
    if !down.is_empty() {
        return Err(Error::Storage {
            location: down.join(", "),
            source: ProviderError::Unavailable {
                detail: "prune needs every active location reachable".into(),
            },
        });
    }
    Ok(())
}

/// Fails while a snapshot record could not be read for a reason a retry
/// or a repair may fix (rot, a location that did not answer): prune would
/// take what it references for garbage. A settled one (fewer than k shards
/// on locations that all answered: a dead backup's leftover) does not
/// stop it; what only it referenced is marked like any unreferenced pack,
/// with the same grace period.
pub(crate) fn require_records_read(cat: &crate::engine::catalog::Catalog) -> Result<()> {
    let open: Vec<String> = cat
        .unreadable
        .iter()
        .filter(|(k, u)| k.starts_with(crate::repo::SNAPSHOT_PREFIX) && !u.settled)
        .map(|(k, u)| format!("{k}: {}", u.why))
        .collect();
    if open.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "prune refused: {} snapshot record(s) could not be read, and what they reference \
         would look unreferenced; verify and repair first ({})",
        open.len(),
        open.join("; ")
    )))
}

/// Plans a prune (reads only).
pub(crate) async fn prune_plan(inner: &Inner, opts: &PruneOptions) -> Result<PrunePlan> {
    let now = inner.config.context.now();
    opts.check(now)?;
    require_all_reachable(inner).await?;
    reload_catalog(inner).await?;
    let (snaps, chunk_map, index_names) = {
        let cat = inner.catalog.read().await;
        require_records_read(&cat)?;
        let snaps = cat.snapshot_list();
        (snaps, chunk_packs(&cat), cat.index_packs.clone())
    };
    let mut forget: BTreeMap<String, String> = BTreeMap::new();
    if opts.apply_retention {
        let mut by_wedding: BTreeMap<&str, Vec<Candidate>> = BTreeMap::new();
        for (id, s) in &snaps {
            by_wedding
                .entry(&s.wedding_id)
                .or_default()
                .push(Candidate {
                    id: id.clone(),
                    time: s.time,
                    retention: s.retention,
                });
        }
        for (_, c) in by_wedding {
            for d in decide(c) {
                if d.kept_by.is_empty() {
                    forget.insert(d.id, d.reason);
                }
            }
        }
    }
    for want in &opts.forget_ids {
        let hits: Vec<&String> = snaps
            .iter()
            .map(|(id, _)| id)
            .filter(|id| id.starts_with(want.as_str()))
            .collect();
        match hits.as_slice() {
            [one] => {
                forget.insert((*one).clone(), "asked by id".into());
            }
            [] => return Err(Error::NotFound(format!("snapshot {want}"))),
            _ => return Err(Error::invalid(format!("snapshot id {want:?} is ambiguous"))),
        }
    }
    let kept: Vec<_> = snaps
        .iter()
        .filter(|(id, _)| !forget.contains_key(id))
        .cloned()
        .collect();
    let referenced = referenced_packs(inner, &kept, &chunk_map).await?;
    let markers = load_markers(inner).await?;
    let cat = inner.catalog.read().await;
    let unreferenced: BTreeSet<&String> = cat
        .packs
        .keys()
        .filter(|p| !referenced.contains(*p))
        .collect();
    let mut plan = PrunePlan {
        now,
        grace_secs: opts.grace_secs,
        forget: Vec::new(),
        kept: kept.len() as u64,
        mark: Vec::new(),
        forget_manifests: Vec::new(),
        delete: Vec::new(),
        delete_bytes: 0,
        spared: Vec::new(),
        due_markers: Vec::new(),
        pending_markers: Vec::new(),
    };
    let mut marked: HashSet<&String> = HashSet::new();
    for (name, m) in &markers {
        marked.extend(m.packs.iter());
        if now < m.deadline {
            plan.pending_markers.push(PendingMarker {
                name: name.clone(),
                deadline: m.deadline,
                packs: m.packs.len() as u64,
            });
            continue;
        }
        plan.due_markers.push(name.clone());
        for p in &m.packs {
            let Some(rec) = cat.packs.get(p) else {
                continue;
            };
            if unreferenced.contains(p) && !newer_index_lists(&index_names, &m.indexes_seen, p) {
                plan.delete.push(p.clone());
                plan.delete_bytes += rec.shard_size * rec.locations.len() as u64;
            } else {
                plan.spared.push(p.clone());
            }
        }
    }
    plan.delete.sort();
    plan.delete.dedup();
    plan.mark = unreferenced
        .iter()
        .filter(|p| !marked.contains(**p))
        .map(|p| (*p).clone())
        .collect();
    for (id, reason) in forget {
        if let Some((_, s)) = snaps.iter().find(|(i, _)| *i == id) {
            plan.forget_manifests.extend(s.manifest_names().cloned());
            plan.forget.push(ForgetSnapshot {
                snapshot_id: id,
                wedding_id: s.wedding_id.clone(),
                time: s.time,
                retention: s.retention,
                reason,
            });
        }
    }
    Ok(plan)
}
