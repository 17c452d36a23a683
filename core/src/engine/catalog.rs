//! The in-memory catalog: snapshots, packs and the chunk index, rebuilt on
//! open from the repository's index and snapshot objects.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::snapshot::{IndexRecord, PackRecord, SnapshotRecord};

/// Where one chunk is stored.
#[derive(Debug, Clone)]
pub(crate) struct ChunkLoc {
    pub pack: Arc<PackRecord>,
    /// Index into `pack.chunks`.
    pub entry: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Catalog {
    /// Snapshot id → record.
    pub snapshots: BTreeMap<String, SnapshotRecord>,
    /// Pack id → record.
    pub packs: HashMap<String, Arc<PackRecord>>,
    /// Chunk id → location.
    pub chunks: HashMap<[u8; 32], ChunkLoc>,
    /// Index objects already merged.
    pub indexes: HashSet<String>,
    /// Pack id → (generation, index name) of the record in `packs`.
    pub pack_source: HashMap<String, (u64, String)>,
    /// Index name → ids of the packs it lists.
    pub index_packs: HashMap<String, Vec<String>>,
    /// Chunks of packs under a prune marker: still restorable, no longer
    /// deduplication targets (backups only look at `chunks`).
    pub parked: HashMap<[u8; 32], ChunkLoc>,
    /// Manifest objects a prune marker names: a sweep (in any process) may
    /// delete them before a running backup commits, so a backup never
    /// relies on one existing (see `store_manifest_parts`).
    pub parked_manifests: HashSet<String>,
    /// Index and snapshot objects listed but not read, by key: left out
    /// of the catalog so that one of them does not lock every wedding out;
    /// verify reports them and prune will not run past an undecided one.
    pub unreadable: BTreeMap<String, Unreadable>,
    /// Index objects read from shards (format 5), with their k+m; the
    /// others are whole copies.
    pub coded_indexes: HashMap<String, usize>,
}

/// Why a listed metadata object was not read.
#[derive(Debug, Clone)]
pub(crate) struct Unreadable {
    /// The reader's error.
    pub why: String,
    /// Every location answered and none holds a damaged copy, yet fewer
    /// than k shards exist: left by an interrupted backup (or more shards
    /// lost than it survives). It will never be read; `false` means rot or
    /// an unreachable location, which a repair or a retry may fix.
    pub settled: bool,
}

impl Catalog {
    /// Merges one index object.
    pub(crate) fn add_index(&mut self, name: &str, index: IndexRecord) {
        if !self.indexes.insert(name.to_owned()) {
            return;
        }
        let ids = index.packs.iter().map(|p| p.id.clone()).collect();
        self.index_packs.insert(name.to_owned(), ids);
        for pack in index.packs {
            self.add_pack(pack, index.generation, name);
        }
    }

    /// Adds a pack record from index `source` at `generation`; of several
    /// records of one pack the newer wins (higher generation, then the
    /// greater index name), whatever order they are merged in.
    pub(crate) fn add_pack(&mut self, pack: PackRecord, generation: u64, source: &str) {
        if let Some((g, s)) = self.pack_source.get(&pack.id) {
            if (generation, source) <= (*g, s.as_str()) {
                return;
            }
        }
        let pack = Arc::new(pack);
        for (i, c) in pack.chunks.iter().enumerate() {
            let mut id = [0u8; 32];
            if hex::decode_to_slice(&c.id, &mut id).is_ok() {
                let loc = ChunkLoc {
                    pack: pack.clone(),
                    entry: i,
                };
                match self.chunks.entry(id) {
                    Entry::Vacant(v) => {
                        v.insert(loc);
                    }
                    Entry::Occupied(mut o) if o.get().pack.id == pack.id => {
                        o.insert(loc);
                    }
                    Entry::Occupied(_) => {}
                }
            }
        }
        self.pack_source
            .insert(pack.id.clone(), (generation, source.to_owned()));
        self.packs.insert(pack.id.clone(), pack);
    }

    /// Forgets a pack deleted by prune.
    pub(crate) fn remove_pack(&mut self, id: &str) {
        if self.packs.remove(id).is_some() {
            self.chunks.retain(|_, loc| loc.pack.id != id);
            self.parked.retain(|_, loc| loc.pack.id != id);
            self.pack_source.remove(id);
        }
    }

    /// Stops deduplication against a pack under a prune marker; its chunks
    /// stay restorable through [`Catalog::locate`].
    pub(crate) fn park_pack(&mut self, id: &str) {
        let Some(pack) = self.packs.get(id).cloned() else {
            return;
        };
        for c in &pack.chunks {
            let mut cid = [0u8; 32];
            if hex::decode_to_slice(&c.id, &mut cid).is_err() {
                continue;
            }
            if self.chunks.get(&cid).is_some_and(|l| l.pack.id == id) {
                if let Some(loc) = self.chunks.remove(&cid) {
                    self.parked.insert(cid, loc);
                }
            }
        }
    }

    /// Where a chunk is stored, for reading (parked chunks included).
    pub(crate) fn locate(&self, id: &[u8; 32]) -> Option<&ChunkLoc> {
        self.chunks.get(id).or_else(|| self.parked.get(id))
    }

    /// Every snapshot, copied out so the lock can be released.
    pub(crate) fn snapshot_list(&self) -> Vec<(String, SnapshotRecord)> {
        self.snapshots
            .iter()
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect()
    }

    /// Snapshots by time, oldest first (ties by id).
    pub(crate) fn snapshots_sorted(&self) -> impl Iterator<Item = (&String, &SnapshotRecord)> {
        let mut v: Vec<_> = self.snapshots.iter().collect();
        v.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(b.0)));
        v.into_iter()
    }

    /// The newest snapshot of a wedding at or before `at`.
    pub(crate) fn latest(
        &self,
        wedding: &str,
        at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Option<(&String, &SnapshotRecord)> {
        self.snapshots_sorted()
            .filter(|(_, s)| s.wedding_id == wedding && at.is_none_or(|t| s.time <= t))
            .last()
    }
}
