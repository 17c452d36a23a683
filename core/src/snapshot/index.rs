//! Index records: which packs a backup wrote, where their shards are, and
//! which chunks each holds.

use serde::{Deserialize, Serialize};

/// The index object of one backup.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IndexRecord {
    pub version: u32,
    pub packs: Vec<PackRecord>,
    /// Placement generation: 0 for a backup's own index; repair, location
    /// retirement and archival write a new index with their pack records at
    /// a higher generation, and the catalog takes the highest (ties by index
    /// name). Absent in older objects, which therefore read as 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One pack: its erasure layout, shard placement and chunks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PackRecord {
    /// Hex pack id: SHA-256 of the pack's trailer (of all its bytes for
    /// packs written before trailer ids; see `pack::id_matches`).
    pub id: String,
    pub k: usize,
    pub m: usize,
    /// Length of the pack before erasure coding.
    pub pack_len: u64,
    /// Size of each shard object (header + body).
    pub shard_size: u64,
    /// `locations[i]` holds shard i.
    pub locations: Vec<String>,
    pub chunks: Vec<ChunkEntry>,
}

/// A sealed chunk inside a pack.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChunkEntry {
    /// Hex chunk id (keyed BLAKE3 of the plaintext; HMAC-SHA256 in format 1).
    pub id: String,
    /// Offset of the sealed chunk in the pack.
    pub offset: u64,
    /// Length of the sealed chunk.
    pub sealed_len: u32,
    /// Length of the plaintext.
    pub len: u32,
}
