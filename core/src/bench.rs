//! Thin entry points into single pipeline stages, for the criterion
//! benchmarks in `benches/` (feature `bench`). Not part of the stable API.

use crate::crypto::aead::{self, SecretKey};
use crate::crypto::wedding::keyed_hash;
use crate::pack::PackBuilder;
use crate::repo::ChunkerParams;
use crate::Context;

/// Chunks `data` with the repository's default parameters; returns the number of chunks.
pub fn chunk_count(data: &[u8]) -> usize {
    let mut chunker = crate::chunk::Chunker::new(data, ChunkerParams::default(), Vec::new());
    let mut n = 0;
    while let Ok(Some(_)) = chunker.next_chunk() {
        n += 1;
    }
    n
}

/// A chunk id as format-1 repositories name chunks: HMAC-SHA256 under `key`.
pub fn chunk_id(key: [u8; 32], data: &[u8]) -> [u8; 32] {
    keyed_hash(&SecretKey(key), data)
}

/// A chunk id as new (format-2) repositories name chunks: keyed BLAKE3.
pub fn chunk_id_blake3(key: [u8; 32], data: &[u8]) -> [u8; 32] {
    crate::crypto::wedding::DomainKeys::repository_from_key(key).chunk_id(data)
}

/// The whole-file hash manifests kept before format 4: SHA-256.
pub fn file_hash(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// The whole-file hash format-4 manifests keep: BLAKE3.
pub fn file_hash_blake3(data: &[u8]) -> [u8; 32] {
    blake3::hash(data).into()
}

/// A shard body's digest as this build writes it (BLAKE3).
pub fn shard_digest(data: &[u8]) -> [u8; 32] {
    crate::erasure::body_digest(crate::erasure::SHARD_FORMAT_VERSION, data)
}

/// Seals one chunk with AES-256-GCM into `out` (cleared first), as the backup does.
pub fn seal(key: [u8; 32], aad: &[u8], data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let _ = aead::seal_append(&SecretKey(key), &Context::default(), aad, data, out);
}

/// Opens a sealed chunk; `None` if it does not authenticate.
pub fn open(key: [u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    aead::open(&SecretKey(key), aad, sealed).ok()
}

/// Seals `chunks` into one pack and returns its bytes.
pub fn pack(key: [u8; 32], chunks: &[Vec<u8>]) -> Vec<u8> {
    let key = SecretKey(key);
    let ctx = Context::default();
    let mut b = PackBuilder::from_buffer(Vec::with_capacity(
        chunks.iter().map(Vec::len).sum::<usize>() + 4096,
    ));
    for c in chunks {
        let id = keyed_hash(&key, c);
        if b.seal_chunk(&key, &ctx, id, c, c.len() as u32).is_err() {
            return Vec::new();
        }
    }
    b.finish(&key, &ctx, true)
        .map(|p| p.bytes)
        .unwrap_or_default()
}

/// Opens every chunk of a pack (header, tags and ids); returns the plaintext bytes seen.
pub fn unpack(key: [u8; 32], pack: &[u8]) -> usize {
    let key = SecretKey(key);
    let Ok(entries) = crate::pack::read_header(pack, &key) else {
        return 0;
    };
    entries
        .iter()
        .filter_map(|e| {
            crate::pack::open_chunk_checked(pack, e, &key, |d| keyed_hash(&key, d)).ok()
        })
        .map(|p| p.len())
        .sum()
}
