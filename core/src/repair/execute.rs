//! Carrying out a repair plan: rebuild, write, read back, record the new
//! placement, then delete the old copies of moved shards.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use futures::future::join_all;
use futures::{stream, StreamExt};
use sha2::{Digest, Sha256};

use super::{RepairAction, RepairFailure, RepairPlan, RepairReport, ShardMove};
use crate::engine::store::seal_json;
use crate::engine::Inner;
use crate::erasure::rebuild_shards;
use crate::error::{Error, Result};
use crate::repo::{shard_key, MetaKind, CONFIG_KEY, INDEX_PREFIX};
use crate::snapshot::{IndexRecord, PackRecord};
use crate::verify::meta::{is_content_addressed, majority};

/// Packs rebuilt at once.
const PACKS_IN_FLIGHT: usize = 4;

/// What rebuilding one pack did.
struct PackDone {
    written: u64,
    relocated: u64,
    bytes: u64,
    /// The record with its new placement, when a shard moved.
    moved: Option<PackRecord>,
    /// Old copies to delete once the new placement is stored.
    old: Vec<(String, String)>,
}

/// Runs a plan. Failures of single steps are reported, not returned.
pub(crate) async fn execute(inner: &Inner, plan: RepairPlan) -> Result<RepairReport> {
    let timer = Instant::now();
    let mut report = RepairReport {
        actions: plan.actions.len() as u64,
        unfixable: plan.unfixable,
        ..Default::default()
    };
    let mut rebuilds = Vec::new();
    let mut copies = Vec::new();
    for a in plan.actions {
        match a {
            RepairAction::RebuildShards { pack_id, shards } => rebuilds.push((pack_id, shards)),
            RepairAction::CopyMetadata { object, to } => copies.push((object, to)),
        }
    }
    // Metadata first: a wiped location gets its config and keys back.
    for (object, to) in copies {
        match copy_metadata(inner, &object, &to).await {
            Ok((n, bytes)) => {
                report.metadata_copied += n;
                report.bytes_written += bytes;
            }
            Err(e) => report.failures.push(RepairFailure {
                object,
                detail: e.to_string(),
            }),
        }
    }
    let done: Vec<(String, Result<PackDone>)> = stream::iter(rebuilds)
        .map(|(pack_id, shards)| async move {
            let r = rebuild_pack(inner, &pack_id, &shards).await;
            (pack_id, r)
        })
        .buffer_unordered(PACKS_IN_FLIGHT)
        .collect()
        .await;
    let mut moved = Vec::new();
    let mut old = Vec::new();
    for (pack_id, r) in done {
        match r {
            Ok(d) => {
                report.shards_written += d.written;
                report.shards_relocated += d.relocated;
                report.bytes_written += d.bytes;
                moved.extend(d.moved);
                old.extend(d.old);
            }
            Err(e) => report.failures.push(RepairFailure {
                object: format!("pack {pack_id}"),
                detail: e.to_string(),
            }),
        }
    }
    if !moved.is_empty() {
        match write_placement(inner, moved).await {
            Ok(name) => report.index_written = Some(name),
            Err(e) => {
                // The new copies are strays until a later repair; the old
                // placement still stands, so nothing is deleted.
                report.failures.push(RepairFailure {
                    object: INDEX_PREFIX.to_owned(),
                    detail: format!("new placement not stored: {e}"),
                });
                old.clear();
            }
        }
    }
    for (loc, key) in old {
        if let Some(l) = inner.store.location(&loc) {
            let r = l.provider.delete(&key).await;
            inner.store.observe(&loc, &r);
            match r {
                Ok(()) => report.old_shards_deleted += 1,
                Err(e) => {
                    tracing::info!(location = %loc, object = %key, error = %e, "old shard copy not deleted; it is a stray now")
                }
            }
        }
    }
    report.duration_ms = timer.elapsed().as_millis() as u64;
    tracing::info!(
        shards = report.shards_written,
        relocated = report.shards_relocated,
        metadata = report.metadata_copied,
        failures = report.failures.len(),
        unfixable = report.unfixable.len(),
        "repair finished"
    );
    Ok(report)
}

/// Rebuilds the shards in `moves` from k good ones of the pack, writes
/// each to its target and reads it back.
async fn rebuild_pack(inner: &Inner, pack_id: &str, moves: &[ShardMove]) -> Result<PackDone> {
    let pack = inner
        .catalog
        .read()
        .await
        .packs
        .get(pack_id)
        .cloned()
        .ok_or_else(|| Error::NotFound(format!("pack {pack_id} is not indexed")))?;
    let n = pack.k + pack.m;
    let mut id = [0u8; 32];
    hex::decode_to_slice(&pack.id, &mut id)
        .map_err(|_| Error::corrupt("-", pack_id, "malformed pack id"))?;
    let reads = (0..n).map(|i| {
        let (loc, key) = (pack.locations[i].clone(), shard_key(&pack.id, i));
        async move {
            let l = inner.store.location(&loc)?;
            let r = l.provider.get(&key, None).await;
            inner.store.observe(&loc, &r);
            r.ok()
        }
    });
    let shards: Vec<Option<Bytes>> = join_all(reads).await;
    let want: Vec<usize> = moves.iter().map(|m| m.index).collect();
    let (k, m) = (pack.k, pack.m);
    let rebuilt = tokio::task::spawn_blocking(move || rebuild_shards(&id, k, m, &shards, &want))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|e| Error::Unrecoverable {
            wedding: "-".into(),
            detail: format!("pack {pack_id}: {e}"),
        })?;
    let mut done = PackDone {
        written: 0,
        relocated: 0,
        bytes: 0,
        moved: None,
        old: Vec::new(),
    };
    let mut locations = pack.locations.clone();
    for ((i, object), mv) in rebuilt.into_iter().zip(moves) {
        let key = shard_key(&pack.id, i);
        write_checked(inner, &mv.to, &key, object.clone()).await?;
        done.written += 1;
        done.bytes += object.len() as u64;
        if mv.to != mv.from {
            done.relocated += 1;
            locations[i] = mv.to.clone();
            done.old.push((mv.from.clone(), key));
        }
    }
    if locations != pack.locations {
        let mut rec = (*pack).clone();
        rec.locations = locations;
        done.moved = Some(rec);
    }
    Ok(done)
}

/// Writes `data` (replacing any copy) and reads it back.
async fn write_checked(inner: &Inner, loc: &str, key: &str, data: Bytes) -> Result<()> {
    let l = inner
        .store
        .location(loc)
        .ok_or_else(|| Error::invalid(format!("location {loc} is not configured")))?;
    let r = l.provider.put(key, data.clone()).await;
    inner.store.observe(loc, &r);
    r.map_err(|e| Error::storage(loc, e))?;
    let back = l
        .provider
        .get(key, None)
        .await
        .map_err(|e| Error::storage(loc, e))?;
    if Sha256::digest(&back) != Sha256::digest(&data) {
        return Err(Error::corrupt(
            loc,
            key,
            "the copy read back differs from what was written",
        ));
    }
    Ok(())
}

/// Records new placements: one new index object at a generation above
/// every current record of these packs.
pub(crate) async fn write_placement(inner: &Inner, records: Vec<PackRecord>) -> Result<String> {
    let generation = {
        let cat = inner.catalog.read().await;
        records
            .iter()
            .filter_map(|r| cat.pack_source.get(&r.id).map(|(g, _)| *g))
            .max()
            .unwrap_or(0)
            + 1
    };
    let index = IndexRecord {
        version: 1,
        packs: records,
        generation,
    };
    let sealed = seal_json(
        &inner.master.metadata,
        &inner.config.context,
        &MetaKind::Index.aad(&inner.repo.repo_id),
        &index,
        inner.repo.compresses(),
    )?;
    let required = inner.store.active().count().clamp(1, 2);
    let (name, _) = inner
        .store
        .put_replicated(INDEX_PREFIX, sealed, required)
        .await?;
    inner.catalog.write().await.add_index(&name, index);
    tracing::info!(index = %name, generation, "new placement recorded");
    Ok(name)
}

/// Copies one metadata object to `to` from a good copy, or rebuilds the
/// missing shards of a coded one; returns objects and bytes written.
async fn copy_metadata(inner: &Inner, object: &str, to: &[String]) -> Result<(u64, u64)> {
    let writes = if is_content_addressed(object) {
        let (_, name) = object
            .rsplit_once('/')
            .ok_or_else(|| Error::invalid(format!("bad object key {object}")))?;
        super::coded::plan_writes(inner, object, name, to).await?
    } else {
        let bytes = verbatim_source(inner, object, to).await?;
        to.iter().map(|l| (l.clone(), bytes.clone())).collect()
    };
    let (mut n, mut written) = (0, 0);
    for (loc, bytes) in writes {
        written += bytes.len() as u64;
        write_checked(inner, &loc, object, bytes).await?;
        n += 1;
    }
    Ok((n, written))
}

/// The majority copy of a non-content-addressed object (config, key slot,
/// wrapped wedding key, location status) among the other active locations.
async fn verbatim_source(inner: &Inner, object: &str, exclude: &[String]) -> Result<Bytes> {
    let sources: Vec<_> = inner
        .store
        .active()
        .filter(|l| !exclude.contains(&l.id))
        .collect();
    let reads = join_all(sources.iter().map(|l| async move {
        let r = l.provider.get(object, None).await;
        inner.store.observe(&l.id, &r);
        (*l, r.ok())
    }))
    .await;
    let copies: Vec<_> = reads
        .into_iter()
        .filter_map(|(l, b)| b.map(|b| (l, b)))
        .collect();
    let digests: Vec<[u8; 32]> = copies
        .iter()
        .map(|(_, b)| <[u8; 32]>::from(Sha256::digest(b)))
        .collect();
    let best = majority(&digests).ok_or_else(|| Error::Unrecoverable {
        wedding: "-".into(),
        detail: format!("{object}: no other location holds a copy"),
    })?;
    let by_digest: HashMap<[u8; 32], &Bytes> = copies
        .iter()
        .map(|(_, b)| (<[u8; 32]>::from(Sha256::digest(b)), b))
        .collect();
    let chosen = by_digest
        .get(&best)
        .map(|b| (*b).clone())
        .ok_or_else(|| Error::Internal("majority copy vanished".into()))?;
    if object == CONFIG_KEY {
        serde_json::from_slice::<crate::repo::RepoConfig>(&chosen)
            .map_err(|e| Error::corrupt("-", CONFIG_KEY, format!("unreadable: {e}")))?;
    }
    Ok(chosen)
}
