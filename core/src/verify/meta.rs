//! Replicated metadata compared across locations.
//!
//! Every active (not retired) location should hold every metadata object.
//! Quick: listings only (a name missing at a location). Deep: every copy
//! read; a content-addressed copy whose bytes do not hash to its name is
//! corrupt, and a verbatim object (config, key slots, wedding keys,
//! location status) whose bytes differ from the majority diverges.

use std::collections::{BTreeMap, HashSet};

use futures::future::join_all;
use futures::{stream, StreamExt};
use sha2::{Digest, Sha256};

use super::report::{Finding, FindingKind};
use crate::engine::store::Store;
use crate::provider::{Location, ProviderError};
use crate::repo::{content_name, CONFIG_KEY, CONTENT_ADDRESSED, VERBATIM};

/// Copies read at once in a deep check.
const READS_IN_FLIGHT: usize = 16;

/// True for keys whose name is the hash of their bytes.
pub(crate) fn is_content_addressed(key: &str) -> bool {
    CONTENT_ADDRESSED.iter().any(|p| key.starts_with(p))
}

/// Every metadata key listed on each active location; `Err` for a location
/// that could not be listed.
pub(crate) async fn list_metadata(
    store: &Store,
) -> Vec<(&Location, std::result::Result<HashSet<String>, String>)> {
    join_all(store.active().map(|l| async move {
        let mut keys = HashSet::new();
        for prefix in CONTENT_ADDRESSED.iter().chain(VERBATIM) {
            let r = l.provider.list(prefix).await;
            store.observe(&l.id, &r);
            match r {
                Ok(objs) => keys.extend(objs.into_iter().map(|o| o.key)),
                Err(e) => return (l, Err(e.to_string())),
            }
        }
        let r = l.provider.head(CONFIG_KEY).await;
        store.observe(&l.id, &r);
        match r {
            Ok(_) => {
                keys.insert(CONFIG_KEY.to_owned());
            }
            Err(ProviderError::NotFound { .. }) => {}
            Err(e) => return (l, Err(e.to_string())),
        }
        (l, Ok(keys))
    }))
    .await
}

fn finding(loc: &str, key: &str, kind: FindingKind, detail: String) -> Finding {
    Finding {
        location: loc.to_owned(),
        object: key.to_owned(),
        kind,
        detail,
        pack_id: None,
        shard_index: None,
    }
}

/// Checks metadata (only the keys in `filter`, when given); returns the
/// number of distinct objects checked.
pub(crate) async fn check(
    store: &Store,
    filter: Option<&HashSet<String>>,
    deep: bool,
    findings: &mut Vec<Finding>,
) -> u64 {
    let listed = list_metadata(store).await;
    let mut reachable: Vec<&Location> = Vec::new();
    let mut holders: BTreeMap<String, Vec<&Location>> = BTreeMap::new();
    for (l, r) in &listed {
        match r {
            Ok(keys) => {
                reachable.push(l);
                for k in keys {
                    if filter.is_none_or(|f| f.contains(k)) {
                        holders.entry(k.clone()).or_default().push(l);
                    }
                }
            }
            Err(e) => findings.push(finding(
                &l.id,
                "metadata",
                FindingKind::Unreachable,
                e.clone(),
            )),
        }
    }
    // A key the caller asked about that no location lists at all.
    if let Some(f) = filter {
        for k in f {
            if !holders.contains_key(k) {
                for l in &reachable {
                    findings.push(finding(
                        &l.id,
                        k,
                        FindingKind::Missing,
                        "no location holds a copy".into(),
                    ));
                }
            }
        }
    }
    for (key, locs) in &holders {
        let have: HashSet<&str> = locs.iter().map(|l| l.id.as_str()).collect();
        for l in &reachable {
            if !have.contains(l.id.as_str()) {
                findings.push(finding(
                    &l.id,
                    key,
                    FindingKind::MetadataDivergence,
                    format!("missing copy ({} other location(s) hold it)", have.len()),
                ));
            }
        }
    }
    if deep {
        deep_compare(store, &holders, findings).await;
    }
    holders.len() as u64
}

/// Reads every copy and checks it.
async fn deep_compare(
    store: &Store,
    holders: &BTreeMap<String, Vec<&Location>>,
    findings: &mut Vec<Finding>,
) {
    let reads: Vec<(String, Location)> = holders
        .iter()
        .flat_map(|(k, locs)| locs.iter().map(|l| (k.clone(), (*l).clone())))
        .collect();
    type Read = (String, String, std::result::Result<[u8; 32], String>, bool);
    let results: Vec<Read> = stream::iter(reads)
        .map(|(key, l)| async move {
            let r = l.provider.get(&key, None).await;
            store.observe(&l.id, &r);
            match r {
                Ok(bytes) => {
                    let name_ok = !is_content_addressed(&key)
                        || key.rsplit('/').next() == Some(content_name(&bytes).as_str());
                    (key, l.id, Ok(Sha256::digest(&bytes).into()), name_ok)
                }
                Err(e) => (key, l.id, Err(e.to_string()), true),
            }
        })
        .buffer_unordered(READS_IN_FLIGHT)
        .collect()
        .await;
    let mut by_key: BTreeMap<String, Vec<(String, [u8; 32])>> = BTreeMap::new();
    for (key, loc, r, name_ok) in results {
        match r {
            Err(e) => findings.push(finding(&loc, &key, FindingKind::Unreachable, e)),
            Ok(_) if !name_ok => findings.push(finding(
                &loc,
                &key,
                FindingKind::Corrupt,
                "the copy's bytes do not hash to its name".into(),
            )),
            Ok(digest) => by_key.entry(key).or_default().push((loc, digest)),
        }
    }
    for (key, copies) in by_key {
        if is_content_addressed(&key) {
            continue;
        }
        let digests: Vec<[u8; 32]> = copies.iter().map(|(_, d)| *d).collect();
        let Some(best) = majority(&digests) else {
            continue;
        };
        let agree = digests.iter().filter(|d| **d == best).count();
        for (loc, d) in &copies {
            if *d != best {
                findings.push(finding(
                    loc,
                    &key,
                    FindingKind::MetadataDivergence,
                    format!("differs from the copy {agree} other location(s) hold"),
                ));
            }
        }
    }
}

/// The digest most copies have; a tie goes to the one listed first.
pub(crate) fn majority(digests: &[[u8; 32]]) -> Option<[u8; 32]> {
    let mut best: Option<([u8; 32], usize)> = None;
    for d in digests {
        let n = digests.iter().filter(|o| *o == d).count();
        if best.is_none_or(|(_, c)| n > c) {
            best = Some((*d, n));
        }
    }
    best.map(|(d, _)| d)
}
