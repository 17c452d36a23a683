//! Repairing a content-addressed metadata object: a whole copy copied to
//! the locations that lack it, or the missing shards of a coded one
//! ([`crate::engine::coded`]) rebuilt from k intact ones.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use futures::future::join_all;

use super::plan::{unusable, writable};
use crate::engine::coded::{classify, object_id, MetaCopy, ShardSet};
use crate::engine::Inner;
use crate::erasure::rebuild_shards;
use crate::error::{Error, Result};

/// What every active location holds under `object`.
struct Copies {
    whole: Option<Bytes>,
    shards: ShardSet,
    /// Location → index of the intact shard it holds.
    holds: HashMap<String, usize>,
}

async fn read_copies(inner: &Inner, object: &str, name: &str) -> Copies {
    let reads = join_all(inner.store.active().map(|l| async move {
        let r = l.provider.get(object, None).await;
        inner.store.observe(&l.id, &r);
        (l.id.clone(), r.ok())
    }))
    .await;
    let mut copies = Copies {
        whole: None,
        shards: ShardSet::default(),
        holds: HashMap::new(),
    };
    for (loc, bytes) in reads {
        let Some(bytes) = bytes else { continue };
        match classify(name, &bytes) {
            MetaCopy::Whole => copies.whole = Some(bytes),
            MetaCopy::Shard(h) => {
                copies.holds.insert(loc, usize::from(h.index));
                copies.shards.add(&h, bytes);
            }
            MetaCopy::Bad(_) => {}
        }
    }
    copies
}

/// The data to write to each location for `object` (`prefix/name`): a
/// whole copy for each of `to`, or, for a coded object, each missing
/// shard for one location that holds no intact shard of it, or a
/// duplicate one (`to` first, then any other writable active location).
/// Shards that find no location are left missing, with a warning.
pub(super) async fn plan_writes(
    inner: &Inner,
    object: &str,
    name: &str,
    to: &[String],
) -> Result<Vec<(String, Bytes)>> {
    let copies = read_copies(inner, object, name).await;
    let Some((k, m, shards)) = copies.shards.best() else {
        let whole = copies.whole.ok_or_else(|| Error::Corrupt {
            location: "all".into(),
            object: object.to_owned(),
            detail: "no active location holds an intact copy".into(),
        })?;
        return Ok(to.iter().map(|l| (l.clone(), whole.clone())).collect());
    };
    let present = shards.iter().filter(|s| s.is_some()).count();
    if present < k {
        return Err(Error::Unrecoverable {
            wedding: "-".into(),
            detail: format!("{object}: {present} intact shard(s), {k} needed"),
        });
    }
    let missing: Vec<usize> = (0..k + m).filter(|&i| shards[i].is_none()).collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    // A location may take a rebuilt shard when it holds no intact shard of
    // the object, or only one an earlier location (by id) holds as well.
    let mut holders: Vec<(&String, &usize)> = copies.holds.iter().collect();
    holders.sort();
    let mut seen = BTreeSet::new();
    let duplicates: BTreeSet<&str> = holders
        .into_iter()
        .filter(|(_, i)| !seen.insert(**i))
        .map(|(l, _)| l.as_str())
        .collect();
    let unusable = unusable(inner, None);
    let mut targets: BTreeSet<&str> = BTreeSet::new();
    let mut order: Vec<String> = Vec::new();
    for loc in to
        .iter()
        .map(String::as_str)
        .chain(inner.store.active().map(|l| l.id.as_str()))
    {
        let free = !copies.holds.contains_key(loc) || duplicates.contains(loc);
        if free && writable(inner, loc, &unusable) && targets.insert(loc) {
            order.push(loc.to_owned());
        }
    }
    if order.len() < missing.len() {
        tracing::warn!(
            object,
            missing = missing.len(),
            locations = order.len(),
            "not every missing metadata shard has a location to go to"
        );
    }
    let want: Vec<usize> = missing.into_iter().take(order.len()).collect();
    let id = object_id(name).ok_or_else(|| Error::corrupt("-", object, "malformed name"))?;
    let rebuilt = rebuild_shards(&id, k, m, shards, &want).map_err(|e| Error::Unrecoverable {
        wedding: "-".into(),
        detail: format!("{object}: {e}"),
    })?;
    Ok(order
        .into_iter()
        .zip(rebuilt)
        .map(|(loc, (_, shard))| (loc, shard))
        .collect())
}
