//! Writing the k+m shards of a pack or of a coded metadata object, one per
//! distinct location, failing over to spare locations.

use std::collections::HashSet;

use bytes::Bytes;
use futures::future::join_all;

use super::store::Store;
use crate::error::{Error, Result};
use crate::placement::{Candidate, PlacementPolicy};
use crate::provider::{Location, ProviderError};

/// Writes shard i of `shards` under `key_of(i)` to the location `placement`
/// picks for it among `targets` (seeded by `seed`, the pack id or object
/// name). Bytes already under the key count as written when they are the
/// shard itself, or when `stands_in(existing)` says they may stand for it
/// (another intact shard of the same coded object, placed there by an
/// earlier write of it). A shard whose write fails, or whose key holds
/// anything else, goes to a spare location the object does not use yet
/// (other regions first) until the spares run out. Returns the index into
/// `targets` of each shard's location.
pub(super) async fn write_shards(
    store: &Store,
    placement: &dyn PlacementPolicy,
    seed: &str,
    targets: &[Location],
    shards: &[Bytes],
    key_of: impl Fn(usize) -> String,
    stands_in: impl Fn(&[u8]) -> bool + Sync,
) -> Result<Vec<usize>> {
    let candidates: Vec<Candidate<'_>> = targets
        .iter()
        .map(|l| Candidate {
            id: &l.id,
            region: &l.region,
        })
        .collect();
    let mut chosen = placement
        .place(seed, shards.len(), &candidates)
        .ok_or_else(|| {
            Error::Internal(format!(
                "placement found fewer than {} locations",
                shards.len()
            ))
        })?;
    let mut pending: Vec<usize> = (0..shards.len()).collect();
    let mut failures: Vec<String> = Vec::new();
    while !pending.is_empty() {
        let writes = pending.iter().map(|&i| {
            let (loc, key, shard) = (&targets[chosen[i]], key_of(i), shards[i].clone());
            let stands_in = &stands_in;
            async move { (i, put_shard(store, loc, &key, shard, stands_in).await) }
        });
        let mut failed = Vec::new();
        for (i, r) in join_all(writes).await {
            if let Err(e) = r {
                failures.push(format!("{}: {e}", targets[chosen[i]].id));
                failed.push(i);
            }
        }
        for &i in &failed {
            let Some(spare) = pick_spare(targets, &chosen, &chosen[i], store) else {
                return Err(Error::Storage {
                    location: targets[chosen[i]].id.clone(),
                    source: ProviderError::Unavailable {
                        detail: format!(
                            "shard {i} of {seed} could not be written and no spare location is left ({})",
                            failures.join("; ")
                        ),
                    },
                });
            };
            tracing::warn!(object = %seed, shard = i, from = %targets[chosen[i]].id, to = %targets[spare].id, "shard write failed over to a spare location");
            chosen[i] = spare;
        }
        pending = failed;
    }
    Ok(chosen)
}

/// Writes `shard` under `key` unless it, or bytes that may stand for it,
/// are there already; other bytes under the key are an error (the caller
/// moves the shard elsewhere rather than overwrite what may be another's).
async fn put_shard(
    store: &Store,
    loc: &Location,
    key: &str,
    shard: Bytes,
    stands_in: &(impl Fn(&[u8]) -> bool + Sync),
) -> std::result::Result<(), ProviderError> {
    let r = loc.provider.put_if_absent(key, shard.clone()).await;
    store.observe(&loc.id, &r);
    match r {
        Err(ProviderError::AlreadyExists { .. }) => {
            let there = loc.provider.get(key, None).await;
            store.observe(&loc.id, &there);
            let there = there?;
            if there == shard || stands_in(&there) {
                Ok(())
            } else {
                Err(ProviderError::Other {
                    detail: format!("{key} already holds other bytes"),
                })
            }
        }
        other => other,
    }
}

/// A location the object does not use yet and that is not known to be
/// down, preferring a region the object does not use either.
fn pick_spare(
    targets: &[Location],
    chosen: &[usize],
    failed: &usize,
    store: &Store,
) -> Option<usize> {
    let used_regions: HashSet<&str> = chosen
        .iter()
        .filter(|&c| c != failed)
        .map(|&c| targets[c].region.as_str())
        .collect();
    let free: Vec<usize> = (0..targets.len())
        .filter(|i| !chosen.contains(i) && !store.is_down(&targets[*i].id))
        .collect();
    free.iter()
        .copied()
        .find(|&i| !used_regions.contains(targets[i].region.as_str()))
        .or_else(|| free.first().copied())
}
