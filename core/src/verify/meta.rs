//! Metadata compared across locations.
//!
//! Every active (not retired) location should hold every replicated
//! metadata object; a coded one (format 5: a snapshot record, its manifest
//! parts and index objects, see [`crate::engine::coded`]) should be listed
//! by k+m of them. Quick: listings only (a name missing at a location, or
//! a coded object listed by too few). Deep: every copy read; a
//! content-addressed copy that is neither the whole object (bytes hashing
//! to its name) nor an intact shard of it is corrupt, and a verbatim object
//! (config, key slots, wedding keys, location status) whose bytes differ
//! from the majority diverges.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::future::join_all;
use futures::{stream, StreamExt};
use sha2::{Digest, Sha256};

use super::report::{Finding, FindingKind};
use crate::engine::catalog::Catalog;
use crate::engine::coded::{classify, MetaCopy};
use crate::engine::store::Store;
use crate::provider::{Location, ProviderError};
use crate::repo::{
    CONFIG_KEY, CONTENT_ADDRESSED, INDEX_PREFIX, MANIFEST_PREFIX, SNAPSHOT_PREFIX, VERBATIM,
};

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

/// Where a metadata object should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// A whole copy on every active location.
    Everywhere,
    /// A shard on each of this many locations (k+m).
    Shards(usize),
    /// Not known: a coded object the catalog does not reference (left by
    /// an interrupted backup until prune removes it, or one it could not
    /// load, reported on its own). Its copies are still checked when read.
    Unknown,
}

/// What [`check`] expects of each metadata key.
#[derive(Debug, Default)]
pub(crate) struct Expectations {
    coded_repo: bool,
    keys: HashMap<String, Expect>,
}

impl Expectations {
    /// For a repository that codes its metadata (format 5): a snapshot's
    /// record, manifest parts and index objects are coded with its own
    /// k+m (a part is named after its coding too, so two snapshots never
    /// disagree); an index object is expected as the catalog read it
    /// (coded, or whole: a repair's placement). Older repositories keep
    /// every object everywhere.
    pub(crate) fn new(coded_repo: bool, cat: &Catalog) -> Self {
        let mut keys = HashMap::new();
        if coded_repo {
            // Index objects as read: coded (a backup's, even one no
            // snapshot names) or whole (a repair's placement).
            for name in &cat.indexes {
                let e = cat
                    .coded_indexes
                    .get(name)
                    .map_or(Expect::Everywhere, |n| Expect::Shards(*n));
                keys.insert(format!("{INDEX_PREFIX}{name}"), e);
            }
            for (id, s) in &cat.snapshots {
                let n = Expect::Shards(s.data_shards + s.parity_shards);
                keys.insert(format!("{SNAPSHOT_PREFIX}{id}"), n);
                for m in s.manifest_names() {
                    keys.insert(format!("{MANIFEST_PREFIX}{m}"), n);
                }
                for i in &s.indexes {
                    keys.insert(format!("{INDEX_PREFIX}{i}"), n);
                }
            }
            for key in cat.unreadable.keys() {
                keys.insert(key.clone(), Expect::Unknown);
            }
        }
        Expectations { coded_repo, keys }
    }

    /// The coded objects and their shard counts.
    pub(crate) fn coded(&self) -> impl Iterator<Item = (&String, usize)> {
        self.keys.iter().filter_map(|(k, e)| match e {
            Expect::Shards(n) => Some((k, *n)),
            _ => None,
        })
    }

    fn of(&self, key: &str) -> Expect {
        if !self.coded_repo {
            return Expect::Everywhere;
        }
        self.keys.get(key).copied().unwrap_or(
            if [INDEX_PREFIX, MANIFEST_PREFIX, SNAPSHOT_PREFIX]
                .iter()
                .any(|p| key.starts_with(p))
            {
                Expect::Unknown
            } else {
                Expect::Everywhere
            },
        )
    }
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

/// Checks metadata (only the keys in `filter`, when given) against what
/// `expect` says of each key. Returns the number of distinct objects
/// checked.
pub(crate) async fn check(
    store: &Store,
    filter: Option<&HashSet<String>>,
    expect: &Expectations,
    deep: bool,
    findings: &mut Vec<Finding>,
) -> u64 {
    let listed = list_metadata(store).await;
    let unlisted = listed.iter().filter(|(_, r)| r.is_err()).count();
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
        let detail = match expect.of(key) {
            Expect::Unknown => continue,
            // Shards may sit on locations that could not be listed.
            Expect::Shards(n) if have.len() + unlisted >= n => continue,
            Expect::Shards(n) => format!(
                "{} of the {n} locations of this coded object hold a shard",
                have.len()
            ),
            Expect::Everywhere => {
                format!("missing copy ({} other location(s) hold it)", have.len())
            }
        };
        for l in reachable.iter().filter(|l| !have.contains(l.id.as_str())) {
            findings.push(finding(
                &l.id,
                key,
                FindingKind::MetadataDivergence,
                detail.clone(),
            ));
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
    /// Key, location, digest of the copy, and what it is.
    type Read = (
        String,
        String,
        std::result::Result<[u8; 32], String>,
        Option<MetaCopy>,
    );
    let results: Vec<Read> = stream::iter(reads)
        .map(|(key, l)| async move {
            let r = l.provider.get(&key, None).await;
            store.observe(&l.id, &r);
            match r {
                Ok(bytes) => {
                    // A content-addressed copy must be the whole object or
                    // an intact shard of it.
                    let what = match key.rsplit_once('/') {
                        Some((_, name)) if is_content_addressed(&key) => {
                            Some(classify(name, &bytes))
                        }
                        _ => None,
                    };
                    (key, l.id, Ok(Sha256::digest(&bytes).into()), what)
                }
                Err(e) => (key, l.id, Err(e.to_string()), None),
            }
        })
        .buffer_unordered(READS_IN_FLIGHT)
        .collect()
        .await;
    let mut by_key: BTreeMap<String, Vec<(String, [u8; 32])>> = BTreeMap::new();
    // Coded objects: k+m, and the locations holding each shard index.
    let mut coded: BTreeMap<String, (usize, BTreeMap<u8, Vec<String>>)> = BTreeMap::new();
    for (key, loc, r, what) in results {
        match (r, what) {
            (Err(e), _) => findings.push(finding(&loc, &key, FindingKind::Unreachable, e)),
            (Ok(_), Some(MetaCopy::Bad(why))) => {
                findings.push(finding(&loc, &key, FindingKind::Corrupt, why))
            }
            (Ok(digest), what) => {
                if let Some(MetaCopy::Shard(h)) = what {
                    let n = usize::from(h.k) + usize::from(h.m);
                    let entry = coded.entry(key.clone()).or_insert((n, BTreeMap::new()));
                    entry.1.entry(h.index).or_default().push(loc.clone());
                }
                by_key.entry(key).or_default().push((loc, digest));
            }
        }
    }
    // Two locations holding the same shard index leave another index
    // missing: the second holder is where repair rebuilds it.
    for (key, (n, by_index)) in &coded {
        if by_index.len() >= *n {
            continue;
        }
        for locs in by_index.values() {
            let mut locs = locs.clone();
            locs.sort();
            for loc in locs.iter().skip(1) {
                findings.push(finding(
                    loc,
                    key,
                    FindingKind::MetadataDivergence,
                    format!(
                        "holds a shard another location holds too; {} of {n} distinct shards exist",
                        by_index.len()
                    ),
                ));
            }
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
