//! From an integrity report to a repair plan (nothing is written here).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::{RepairAction, RepairPlan, ShardMove, Unfixable};
use crate::engine::Inner;
use crate::error::Result;
use crate::provider::Tier;
use crate::repo::PACK_PREFIX;
use crate::snapshot::PackRecord;
use crate::verify::{FindingKind, IntegrityReport};

/// Locations that cannot take or serve shards now: reported unreachable,
/// or seen down.
pub(crate) fn unusable(inner: &Inner, report: Option<&IntegrityReport>) -> HashSet<String> {
    let mut out: HashSet<String> = report
        .into_iter()
        .flat_map(|r| r.findings.iter())
        .filter(|f| f.kind == FindingKind::Unreachable && f.object == PACK_PREFIX)
        .map(|f| f.location.clone())
        .collect();
    out.extend(
        inner
            .store
            .locations
            .iter()
            .filter(|l| inner.store.is_down(&l.id))
            .map(|l| l.id.clone()),
    );
    out
}

/// True when shards may be written to `loc`.
pub(crate) fn writable(inner: &Inner, loc: &str, unusable: &HashSet<String>) -> bool {
    inner.store.location(loc).is_some() && !inner.store.is_retired(loc) && !unusable.contains(loc)
}

/// A location for shard `index` of `pack` that holds no other shard of it
/// (nor one of `taken`), preferring a region the pack does not use, and
/// restricted to `tier` when given.
pub(crate) fn pick_location(
    inner: &Inner,
    locations: &[String],
    index: usize,
    taken: &[String],
    tier: Option<Tier>,
    unusable: &HashSet<String>,
) -> Option<String> {
    let others: Vec<&String> = locations
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(_, l)| l)
        .collect();
    let used_regions: HashSet<&str> = others
        .iter()
        .filter_map(|l| inner.store.location(l))
        .map(|l| l.region.as_str())
        .collect();
    let free: Vec<_> = inner
        .store
        .active()
        .filter(|l| {
            writable(inner, &l.id, unusable)
                && l.id != locations[index]
                && !others.contains(&&l.id)
                && !taken.contains(&l.id)
                && tier.is_none_or(|t| l.tier == t)
        })
        .collect();
    free.iter()
        .find(|l| !used_regions.contains(l.region.as_str()))
        .or_else(|| free.first())
        .map(|l| l.id.clone())
}

/// Moves for `bad` shards of `pack`: back to their own location when it
/// can take them, else to a spare. `Err` names what cannot be done.
pub(crate) fn moves_for(
    inner: &Inner,
    pack: &PackRecord,
    bad: &BTreeMap<usize, String>,
    unusable: &HashSet<String>,
) -> std::result::Result<Vec<ShardMove>, String> {
    let n = pack.k + pack.m;
    let unavailable = (0..n)
        .filter(|i| !bad.contains_key(i))
        .filter(|&i| {
            let l = &pack.locations[i];
            inner.store.location(l).is_none() || unusable.contains(l)
        })
        .count();
    let good = n - bad.len() - unavailable;
    if good < pack.k {
        return Err(format!(
            "{good} good shard(s) reachable, {} needed ({} damaged, {unavailable} unreachable)",
            pack.k,
            bad.len()
        ));
    }
    let mut taken = Vec::new();
    let mut moves = Vec::new();
    for (&i, reason) in bad {
        let from = pack.locations[i].clone();
        let to = if writable(inner, &from, unusable) {
            from.clone()
        } else {
            pick_location(inner, &pack.locations, i, &taken, None, unusable).ok_or_else(|| {
                format!("shard {i}: location {from} cannot take it and no spare location is left")
            })?
        };
        taken.push(to.clone());
        moves.push(ShardMove {
            index: i,
            from,
            to,
            reason: reason.clone(),
        });
    }
    Ok(moves)
}

/// Plans the repair of everything `report` found.
pub(crate) async fn plan(inner: &Inner, report: &IntegrityReport) -> Result<RepairPlan> {
    let unusable = unusable(inner, Some(report));
    let mut by_pack: BTreeMap<String, BTreeMap<usize, String>> = BTreeMap::new();
    let mut meta: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut out = RepairPlan::default();
    let mut unfixable_packs: Vec<(String, String)> = Vec::new();
    for f in &report.findings {
        if !f.is_damage() {
            out.deferred.push(f.clone());
            continue;
        }
        match (&f.pack_id, f.shard_index) {
            (Some(p), Some(i)) => {
                by_pack
                    .entry(p.clone())
                    .or_default()
                    .insert(i, format!("{:?}: {}", f.kind, f.detail));
            }
            (Some(p), None) => unfixable_packs.push((
                p.clone(),
                format!("the pack decodes to its id but does not open: {}", f.detail),
            )),
            (None, _) => {
                meta.entry(f.object.clone())
                    .or_default()
                    .insert(f.location.clone());
            }
        }
    }
    {
        let cat = inner.catalog.read().await;
        for (pack_id, bad) in &by_pack {
            let Some(pack) = cat.packs.get(pack_id) else {
                tracing::info!(pack = %pack_id, "pack no longer indexed; nothing to repair");
                continue;
            };
            if pack.locations.len() != pack.k + pack.m {
                unfixable_packs.push((pack_id.clone(), "malformed pack record".into()));
                continue;
            }
            match moves_for(inner, pack, bad, &unusable) {
                Ok(shards) => out.actions.push(RepairAction::RebuildShards {
                    pack_id: pack_id.clone(),
                    shards,
                }),
                Err(detail) => unfixable_packs.push((pack_id.clone(), detail)),
            }
        }
    }
    for (object, locs) in meta {
        let to: Vec<String> = locs
            .into_iter()
            .filter(|l| writable(inner, l, &unusable))
            .collect();
        if !to.is_empty() {
            out.actions.push(RepairAction::CopyMetadata { object, to });
        }
    }
    out.unfixable = affected(inner, unfixable_packs).await;
    Ok(out)
}

/// Unfixable packs with the snapshots and weddings that need them.
pub(crate) async fn affected(inner: &Inner, packs: Vec<(String, String)>) -> Vec<Unfixable> {
    if packs.is_empty() {
        return Vec::new();
    }
    let (snaps, chunk_packs) = {
        let cat = inner.catalog.read().await;
        let snaps = cat.snapshot_list();
        (snaps, crate::prune::refs::chunk_packs(&cat))
    };
    let per_snapshot = crate::prune::refs::snapshot_packs(inner, &snaps, &chunk_packs)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot tell which snapshots an unfixable pack affects");
            Vec::new()
        });
    packs
        .into_iter()
        .map(|(pack_id, detail)| {
            let hit: Vec<&String> = per_snapshot
                .iter()
                .filter(|(_, p)| p.contains(&pack_id))
                .map(|(s, _)| s)
                .collect();
            let weddings: BTreeSet<String> = snaps
                .iter()
                .filter(|(id, _)| hit.contains(&id))
                .map(|(_, s)| s.wedding_id.clone())
                .collect();
            tracing::error!(pack = %pack_id, snapshots = hit.len(), %detail, "unfixable pack");
            Unfixable {
                object: format!("pack {pack_id}"),
                pack_id: Some(pack_id),
                detail,
                snapshots: hit.into_iter().cloned().collect(),
                weddings: weddings.into_iter().collect(),
            }
        })
        .collect()
}
