//! The in-memory catalog: snapshots, packs and the chunk index, rebuilt on
//! open from the metadata objects every location holds.

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
}

impl Catalog {
    /// Merges one index object.
    pub(crate) fn add_index(&mut self, name: &str, index: IndexRecord) {
        if !self.indexes.insert(name.to_owned()) {
            return;
        }
        for pack in index.packs {
            self.add_pack(pack);
        }
    }

    pub(crate) fn add_pack(&mut self, pack: PackRecord) {
        if self.packs.contains_key(&pack.id) {
            return;
        }
        let pack = Arc::new(pack);
        for (i, c) in pack.chunks.iter().enumerate() {
            let mut id = [0u8; 32];
            if hex::decode_to_slice(&c.id, &mut id).is_ok() {
                self.chunks.entry(id).or_insert(ChunkLoc {
                    pack: pack.clone(),
                    entry: i,
                });
            }
        }
        self.packs.insert(pack.id.clone(), pack);
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
