//! What snapshots reference: manifests → chunk ids → the packs holding them.

use std::collections::{HashMap, HashSet};

use futures::{stream, StreamExt, TryStreamExt};

use crate::engine::catalog::Catalog;
use crate::engine::keys::domain_keys;
use crate::engine::recover::load_manifest;
use crate::engine::Inner;
use crate::error::{Error, Result};
use crate::snapshot::SnapshotRecord;

/// Manifests read at once.
const MANIFESTS_IN_FLIGHT: usize = 8;

type ChunkId = [u8; 32];

/// The chunk ids a snapshot's manifest names.
pub(crate) async fn snapshot_chunks(
    inner: &Inner,
    rec: &SnapshotRecord,
) -> Result<HashSet<ChunkId>> {
    let keys = domain_keys(inner, &rec.wedding_id, rec.encryption, None).await?;
    let manifest = load_manifest(inner, rec, &keys).await?;
    let mut out = HashSet::new();
    for e in &manifest.entries {
        for c in &e.chunks {
            let mut id = [0u8; 32];
            hex::decode_to_slice(&c.id, &mut id)
                .map_err(|_| Error::corrupt("-", &e.path, "malformed chunk id in manifest"))?;
            out.insert(id);
        }
    }
    Ok(out)
}

/// Chunk id → every pack holding a copy of it.
pub(crate) fn chunk_packs(cat: &Catalog) -> HashMap<ChunkId, Vec<String>> {
    let mut map: HashMap<ChunkId, Vec<String>> = HashMap::new();
    for p in cat.packs.values() {
        for c in &p.chunks {
            let mut id = [0u8; 32];
            if hex::decode_to_slice(&c.id, &mut id).is_ok() {
                map.entry(id).or_default().push(p.id.clone());
            }
        }
    }
    map
}

/// For each snapshot, the packs holding a chunk its manifest names. Fails
/// when a manifest cannot be read: then nobody knows what it needs.
pub(crate) async fn snapshot_packs(
    inner: &Inner,
    snapshots: &[(String, SnapshotRecord)],
    chunk_packs: &HashMap<ChunkId, Vec<String>>,
) -> Result<Vec<(String, HashSet<String>)>> {
    stream::iter(snapshots.iter().cloned())
        .map(|(id, rec)| async move {
            let chunks = snapshot_chunks(inner, &rec).await?;
            let packs: HashSet<String> = chunks
                .iter()
                .filter_map(|c| chunk_packs.get(c))
                .flatten()
                .cloned()
                .collect();
            Ok::<_, Error>((id, packs))
        })
        .buffer_unordered(MANIFESTS_IN_FLIGHT)
        .try_collect()
        .await
}

/// Every pack some snapshot in `snapshots` references.
pub(crate) async fn referenced_packs(
    inner: &Inner,
    snapshots: &[(String, SnapshotRecord)],
    chunk_packs: &HashMap<ChunkId, Vec<String>>,
) -> Result<HashSet<String>> {
    Ok(snapshot_packs(inner, snapshots, chunk_packs)
        .await?
        .into_iter()
        .flat_map(|(_, p)| p)
        .collect())
}
