//! Quick checks from listings: one `list("packs/")` per location instead of
//! a `head` per shard. Every shard the index expects must be listed at its
//! location with the recorded size; listed shards no index places there are
//! strays.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::future::join_all;

use super::report::{Finding, FindingKind};
use crate::engine::store::Store;
use crate::repo::{parse_shard_key, shard_key, PACK_PREFIX};
use crate::snapshot::PackRecord;

/// Location id → its shard objects (key → size), or why it could not be listed.
pub(crate) type Listings = HashMap<String, std::result::Result<HashMap<String, u64>, String>>;

/// Lists `packs/` on every configured location, in parallel.
pub(crate) async fn list_shards(store: &Store) -> Listings {
    let lists = join_all(store.locations.iter().map(|l| async move {
        let r = l.provider.list(PACK_PREFIX).await;
        store.observe(&l.id, &r);
        let r = r
            .map(|objs| objs.into_iter().map(|o| (o.key, o.size)).collect())
            .map_err(|e| e.to_string());
        (l.id.clone(), r)
    }))
    .await;
    lists.into_iter().collect()
}

/// One `unreachable` finding per location that could not be listed.
pub(crate) fn unreachable(listings: &Listings, findings: &mut Vec<Finding>) {
    for (loc, r) in listings {
        if let Err(e) = r {
            findings.push(Finding {
                location: loc.clone(),
                object: PACK_PREFIX.to_owned(),
                kind: FindingKind::Unreachable,
                detail: e.clone(),
                pack_id: None,
                shard_index: None,
            });
        }
    }
}

/// A finding about shard `i` of `pack`.
pub(crate) fn shard_finding(
    pack: &PackRecord,
    i: usize,
    kind: FindingKind,
    detail: impl Into<String>,
) -> Finding {
    Finding {
        location: pack.locations.get(i).cloned().unwrap_or_else(|| "-".into()),
        object: shard_key(&pack.id, i),
        kind,
        detail: detail.into(),
        pack_id: Some(pack.id.clone()),
        shard_index: Some(i),
    }
}

/// Checks every shard of `packs` against the listings; returns the number
/// of shards checked (those on unreachable locations are not).
pub(crate) fn check_shards(
    packs: &[Arc<PackRecord>],
    listings: &Listings,
    findings: &mut Vec<Finding>,
) -> u64 {
    let mut checked = 0;
    for pack in packs {
        if pack.locations.len() != pack.k + pack.m {
            findings.push(shard_finding(
                pack,
                0,
                FindingKind::Corrupt,
                "malformed pack record: locations do not match k + m",
            ));
            continue;
        }
        for (i, loc) in pack.locations.iter().enumerate() {
            let key = shard_key(&pack.id, i);
            match listings.get(loc) {
                None => {
                    checked += 1;
                    findings.push(shard_finding(
                        pack,
                        i,
                        FindingKind::Missing,
                        format!("location {loc} is not configured"),
                    ));
                }
                Some(Err(_)) => {}
                Some(Ok(objects)) => {
                    checked += 1;
                    match objects.get(&key) {
                        None => findings.push(shard_finding(
                            pack,
                            i,
                            FindingKind::Missing,
                            "not listed at its location",
                        )),
                        Some(&size) if size != pack.shard_size => findings.push(shard_finding(
                            pack,
                            i,
                            FindingKind::WrongSize,
                            format!("{size} bytes, the index records {}", pack.shard_size),
                        )),
                        Some(_) => {}
                    }
                }
            }
        }
    }
    checked
}

/// Shards listed at a location where no index places them.
pub(crate) fn strays(
    all_packs: &HashMap<String, Arc<PackRecord>>,
    listings: &Listings,
    findings: &mut Vec<Finding>,
) {
    let mut expected: HashMap<&str, HashSet<String>> = HashMap::new();
    for pack in all_packs.values() {
        for (i, loc) in pack.locations.iter().enumerate() {
            expected
                .entry(loc.as_str())
                .or_default()
                .insert(shard_key(&pack.id, i));
        }
    }
    for (loc, r) in listings {
        let Ok(objects) = r else { continue };
        let here = expected.get(loc.as_str());
        for key in objects.keys() {
            if here.is_some_and(|s| s.contains(key)) {
                continue;
            }
            let pack_id = parse_shard_key(key).map(|(id, _)| id.to_owned());
            let detail = match pack_id.as_deref().and_then(|id| all_packs.get(id)) {
                Some(p) => format!(
                    "the index places this pack's shards at {}",
                    p.locations.join(", ")
                ),
                None => "no index references this pack (an unfinished or pruned backup)".into(),
            };
            findings.push(Finding {
                location: loc.clone(),
                object: key.clone(),
                kind: FindingKind::Stray,
                detail,
                pack_id,
                shard_index: parse_shard_key(key).map(|(_, i)| i),
            });
        }
    }
}
