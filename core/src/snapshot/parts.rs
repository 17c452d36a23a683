//! Manifest parts (format 3): a snapshot's manifest stored as a list of
//! small, content-named objects, so that a backup stores only the parts its
//! changes touched and shares the rest with the snapshots before it.
//!
//! Entries (sorted by path) are cut into parts where an entry's path hashes
//! to a boundary (1 in [`PART_AVG`], keyed, so that part sizes say nothing
//! about which paths are there), or after [`PART_MAX`] entries. A boundary
//! depends on its own path only, so adding, editing or removing a file
//! changes its own part and no other. A full manifest of a 3 GB
//! wedding was 630 KB on each of five locations per snapshot; the next day's
//! 28 changed files now rewrite about 25 parts of a few KB each.

use serde::Serialize;

use super::manifest::Entry;
use crate::crypto::aead::SecretKey;

/// Average entries per part (formats 3 and 4).
pub(crate) const PART_AVG: u8 = 4;
/// Average entries per part of a coded manifest (format 5). An edit
/// rewrites its whole part, and the part that holds a random entry tends
/// to be a large one (parts' sizes vary), while the snapshot record lists
/// every part's 32-byte name. On the 3 GB wedding's day 2 (8 new photos,
/// 20 edited documents, 5 deletions; 3 runs each, boundaries are keyed so
/// they differ per repository) the new parts and record took 106–146 KB
/// over five locations at 1 in 4, 104–117 KB at 1 in 2.
pub(crate) const PART_AVG_CODED: u8 = 2;
/// Most entries in one part.
pub(crate) const PART_MAX: usize = 64;

/// One part's plaintext: the same JSON shape as a whole manifest, so one
/// reader parses both.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PartRef<'a> {
    pub version: u32,
    pub entries: &'a [Entry],
}

/// The keys of a key domain's manifest parts, derived from its chunk-id key
/// (BLAKE3 `derive_key`, one context each), so that neither a part's nonce
/// nor a boundary is ever a chunk id.
pub(crate) struct PartKeys {
    /// Derives each part's nonce ([`crate::crypto::aead::seal_deterministic`]).
    pub nonce: SecretKey,
    /// Keys the boundary hash of paths.
    pub boundary: SecretKey,
    /// Average entries per part.
    pub avg: u8,
}

impl PartKeys {
    pub(crate) fn derive(chunk_id: &SecretKey) -> Self {
        PartKeys {
            nonce: SecretKey(blake3::derive_key(
                "heirloom 2026-11-27 manifest part nonce",
                &chunk_id.0,
            )),
            boundary: SecretKey(blake3::derive_key(
                "heirloom 2026-11-27 manifest part boundary",
                &chunk_id.0,
            )),
            avg: PART_AVG,
        }
    }
}

impl PartKeys {
    /// The keys for parts coded with `profile` (format 5): the nonce, and so
    /// the name, depends on k+m as well, so that one part coded two ways is
    /// two objects; and parts are smaller ([`PART_AVG_CODED`]).
    pub(crate) fn for_coding(self, profile: crate::placement::RedundancyProfile) -> Self {
        let coding = format!("{}+{}", profile.data_shards, profile.parity_shards);
        PartKeys {
            nonce: SecretKey(*blake3::keyed_hash(&self.nonce.0, coding.as_bytes()).as_bytes()),
            boundary: self.boundary,
            avg: PART_AVG_CODED,
        }
    }
}

/// Cuts `entries` into parts (at least one, possibly empty) of `avg`
/// entries on average.
pub(crate) fn split<'e>(entries: &'e [Entry], boundary: &SecretKey, avg: u8) -> Vec<&'e [Entry]> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, e) in entries.iter().enumerate() {
        if i + 1 - start >= PART_MAX || ends_part(boundary, &e.path, avg) {
            parts.push(&entries[start..=i]);
            start = i + 1;
        }
    }
    if start < entries.len() || parts.is_empty() {
        parts.push(&entries[start..]);
    }
    parts
}

fn ends_part(boundary: &SecretKey, path: &str, avg: u8) -> bool {
    blake3::keyed_hash(&boundary.0, path.as_bytes()).as_bytes()[0] % avg.max(1) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::manifest::EntryKind;

    fn entry(path: String) -> Entry {
        Entry {
            path,
            kind: EntryKind::Dir,
            size: 0,
            mtime_ns: 0,
            mode: 0,
            inode: 0,
            ctime_ns: 0,
            class: crate::api::FileClass::Other,
            sha256: None,
            blake3: None,
            chunks: Vec::new(),
        }
    }

    const KEY: SecretKey = SecretKey([7; 32]);

    fn listing(n: usize) -> Vec<Entry> {
        let mut v: Vec<Entry> = (0..n)
            .map(|i| entry(format!("photos/IMG_{i:05}.jpg")))
            .collect();
        v.sort_by(|a, b| a.path.cmp(&b.path));
        v
    }

    #[test]
    fn parts_cover_every_entry_in_order_within_bounds() {
        for n in [0, 1, 7, 100, 1000] {
            let all = listing(n);
            let parts = split(&all, &KEY, PART_AVG);
            assert!(!parts.is_empty());
            assert!(parts.iter().all(|p| p.len() <= PART_MAX));
            let joined: Vec<&str> = parts
                .iter()
                .flat_map(|p| p.iter().map(|e| e.path.as_str()))
                .collect();
            let want: Vec<&str> = all.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(joined, want);
        }
        for avg in [PART_AVG, PART_AVG_CODED] {
            let parts = split(&listing(1000), &KEY, avg).len();
            let avg = avg as usize;
            assert!(
                (1000 / (2 * avg)..=1000 * 2 / avg).contains(&parts),
                "{parts} parts for 1000 entries"
            );
        }
    }

    #[test]
    fn one_new_file_changes_only_its_own_part() {
        let before = listing(1000);
        let mut after = before.clone();
        after.push(entry("photos/IMG_00500b.jpg".into()));
        after.sort_by(|a, b| a.path.cmp(&b.path));
        let (a, b) = (
            split(&before, &KEY, PART_AVG),
            split(&after, &KEY, PART_AVG),
        );
        let changed = b.iter().filter(|p| !a.contains(p)).count();
        assert!(changed <= 2, "{changed} parts changed");
        assert!(a.len().abs_diff(b.len()) <= 1);
    }
}
