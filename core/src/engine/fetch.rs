//! Reading a pack back: the k fastest good shards, in parallel, hedging a
//! slow location with a spare and replacing a missing or corrupt shard with
//! parity.

use std::time::Duration;

use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::StreamExt;

use super::Inner;
use crate::api::BadShard;
use crate::erasure::open_shard;
use crate::error::{Error, Result};
use crate::repo::shard_key;
use crate::snapshot::PackRecord;

/// A pack read back.
pub(super) struct FetchedPack {
    pub data: Vec<u8>,
    /// Shards that were missing, unreachable or failed their check.
    pub bad: Vec<BadShard>,
    /// Locations good shards came from.
    pub read_from: Vec<String>,
    /// True when parity was needed (a data shard was not used).
    pub reconstructed: bool,
}

/// Why a pack could not be read: fewer than k good shards.
pub(super) struct FetchFailed {
    pub bad: Vec<BadShard>,
    pub good: usize,
}

/// Until the first shard of a pack arrives, a spare is started only after
/// this many `hedge_after`s: before then nothing tells a slow location from
/// a busy disk. (A pack of one data shard has no siblings to compare with
/// and hedges after `hedge_after`.)
const HEDGE_BEFORE_ANY_ANSWER: u32 = 8;

/// Reads one pack. Data shards on reachable locations are asked first
/// (they need no decoding); every failure starts the next candidate at
/// once.
///
/// A slow read is hedged against its siblings, not against the clock: once
/// a good shard has arrived, a spare starts if no other arrives within
/// `hedge_after` or within as long again as the pack has waited so far,
/// whichever is longer; after each spare the same wait applies again, so a
/// spare has time to arrive before the next is started. The shards of a
/// pack are asked at the same moment, so a location that lags them is slow;
/// shards that all wait in the same queue (a busy disk, many packs in
/// flight) arrive together and start no spare. A fixed timer hedged most packs of a cold-cache local restore and
/// read up to 5/3 of the data for nothing.
///
/// The pack is decoded into `reuse` (a buffer from an earlier pack, or
/// empty).
pub(super) async fn fetch_pack(
    inner: &Inner,
    pack: &PackRecord,
    hedge_after: Duration,
    reuse: Vec<u8>,
) -> std::result::Result<FetchedPack, FetchFailed> {
    let (k, n) = (pack.k, pack.k + pack.m);
    let mut expected_id = [0u8; 32];
    let mut bad = Vec::new();
    if hex::decode_to_slice(&pack.id, &mut expected_id).is_err() || pack.locations.len() != n {
        bad.push(BadShard {
            location: "-".into(),
            object: pack.id.clone(),
            reason: "malformed pack record".into(),
        });
        return Err(FetchFailed { bad, good: 0 });
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (inner.store.is_down(&pack.locations[i]), i >= k));
    let mut order = order.into_iter();

    let fetch = |i: usize| {
        let loc_id = pack.locations[i].clone();
        let key = shard_key(&pack.id, i);
        async move {
            let r = match inner.store.location(&loc_id) {
                Some(l) => {
                    let r = l.provider.get(&key, None).await;
                    inner.store.observe(&loc_id, &r);
                    r.map_err(|e| e.to_string())
                }
                None => Err("location is not configured".to_owned()),
            };
            (i, loc_id, key, r)
        }
    };
    let mut pending = FuturesUnordered::new();
    for i in order.by_ref().take(k) {
        pending.push(fetch(i));
    }
    let mut shards: Vec<Option<Bytes>> = vec![None; n];
    let mut read_from = Vec::new();
    let mut good = 0;
    let started = tokio::time::Instant::now();
    let next_hedge = || {
        let now = tokio::time::Instant::now();
        now + hedge_after.max(now - started)
    };
    let before_any = match k {
        1 => hedge_after,
        _ => hedge_after * HEDGE_BEFORE_ANY_ANSWER,
    };
    let hedge = tokio::time::sleep(before_any);
    tokio::pin!(hedge);
    while good < k {
        tokio::select! {
            // Arrivals first: a shard that is already here is not hedged.
            biased;
            next = pending.next() => {
                let Some((i, loc, key, r)) = next else {
                    return Err(FetchFailed { bad, good });
                };
                let checked = r.and_then(|bytes| check_shard(&bytes, &expected_id, i, pack).map(|_| bytes));
                match checked {
                    Ok(bytes) => {
                        shards[i] = Some(bytes);
                        read_from.push(loc);
                        good += 1;
                        hedge.as_mut().reset(next_hedge());
                    }
                    Err(reason) => {
                        tracing::warn!(location = %loc, object = %key, %reason, "bad shard, trying another");
                        bad.push(BadShard { location: loc, object: key, reason });
                        if let Some(j) = order.next() {
                            pending.push(fetch(j));
                        }
                    }
                }
            }
            _ = &mut hedge, if order.len() > 0 => {
                if let Some(j) = order.next() {
                    tracing::debug!(pack = %pack.id, shard = j, "hedging a slow read");
                    pending.push(fetch(j));
                }
                hedge.as_mut().reset(next_hedge());
            }
        }
    }
    drop(pending);
    let reconstructed = shards[..k].iter().any(Option::is_none);
    let pack_len = pack.pack_len;
    let decoded = tokio::task::spawn_blocking(move || {
        // Every shard passed `check_shard` (its body digest) on arrival.
        crate::pack::decode_verified(&expected_id, k, n - k, &shards, pack_len, Some(reuse))
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    match decoded {
        Ok(data) => Ok(FetchedPack {
            data,
            bad,
            read_from,
            reconstructed,
        }),
        Err(reason) => {
            bad.push(BadShard {
                location: "-".into(),
                object: pack.id.clone(),
                reason,
            });
            Err(FetchFailed { bad, good })
        }
    }
}

/// Checks a fetched shard object against the pack it should belong to.
fn check_shard(
    bytes: &[u8],
    expected_id: &[u8; 32],
    index: usize,
    pack: &PackRecord,
) -> std::result::Result<(), String> {
    let (header, _) = open_shard(bytes).map_err(|e| e.to_string())?;
    if &header.pack_id != expected_id {
        return Err("shard belongs to another pack".into());
    }
    if header.index as usize != index || header.k as usize != pack.k || header.m as usize != pack.m
    {
        return Err(format!(
            "shard header says index {} of {}+{}, expected {index} of {}+{}",
            header.index, header.k, header.m, pack.k, pack.m
        ));
    }
    Ok(())
}

/// The error for a pack that cannot be rebuilt.
pub(super) fn unrecoverable(
    wedding: &str,
    pack: &PackRecord,
    failed: &FetchFailed,
    files: usize,
) -> Error {
    let why: Vec<String> = failed
        .bad
        .iter()
        .map(|b| format!("{} at {}: {}", b.object, b.location, b.reason))
        .collect();
    Error::Unrecoverable {
        wedding: wedding.to_owned(),
        detail: format!(
            "pack {} has {} good shards, needs {} (it holds data of {files} file(s)); {}",
            pack.id,
            failed.good,
            pack.k,
            why.join("; ")
        ),
    }
}

/// Hex id → bytes, for chunk ids in manifests.
pub(super) fn chunk_id_bytes(hex_id: &str) -> Result<[u8; 32]> {
    let mut id = [0u8; 32];
    hex::decode_to_slice(hex_id, &mut id)
        .map_err(|_| Error::corrupt("-", hex_id, "malformed chunk id in manifest"))?;
    Ok(id)
}
