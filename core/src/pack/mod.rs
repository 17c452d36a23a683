//! Packs: sealed chunks appended into one blob of a target size, closed by
//! a sealed header that lists them, so that object stores see few, large
//! objects and the index can be rebuilt from the packs themselves.
//!
//! ```text
//! [sealed chunk 0][sealed chunk 1]...[sealed header][header length: u32 LE]
//! ```
//! Each chunk is sealed with its id as associated data; the header is
//! sealed with `"heirloom/pack-header"` as associated data.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::aead::{self, SecretKey};
use crate::crypto::CryptoError;
use crate::snapshot::ChunkEntry;
use crate::Context;

const HEADER_AAD: &[u8] = b"heirloom/pack-header";

/// Default target size of a pack before erasure coding.
pub const DEFAULT_PACK_SIZE: usize = 16 * 1024 * 1024;

/// The sealed header's plaintext.
#[derive(Debug, Serialize, Deserialize)]
struct PackHeader {
    chunks: Vec<ChunkEntry>,
}

/// Builds one pack.
#[derive(Debug, Default)]
pub(crate) struct PackBuilder {
    buf: Vec<u8>,
    chunks: Vec<ChunkEntry>,
}

/// A finished pack.
#[derive(Debug)]
pub(crate) struct SealedPack {
    /// Hex SHA-256 of `bytes`.
    pub id: String,
    pub id_bytes: [u8; 32],
    pub bytes: Vec<u8>,
    pub chunks: Vec<ChunkEntry>,
}

impl PackBuilder {
    pub(crate) fn with_capacity(cap: usize) -> Self {
        PackBuilder {
            buf: Vec::with_capacity(cap),
            chunks: Vec::new(),
        }
    }

    /// Appends an already sealed chunk.
    pub(crate) fn push(&mut self, id: [u8; 32], plain_len: u32, sealed: &[u8]) {
        self.chunks.push(ChunkEntry {
            id: hex::encode(id),
            offset: self.buf.len() as u64,
            sealed_len: sealed.len() as u32,
            len: plain_len,
        });
        self.buf.extend_from_slice(sealed);
    }

    /// Bytes so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Seals the header and closes the pack.
    pub(crate) fn finish(
        mut self,
        key: &SecretKey,
        ctx: &Context,
    ) -> Result<SealedPack, CryptoError> {
        let header = PackHeader {
            chunks: self.chunks,
        };
        let plain =
            serde_json::to_vec(&header).map_err(|e| CryptoError::InvalidKey(e.to_string()))?;
        let sealed = aead::seal(key, ctx, HEADER_AAD, &plain)?;
        self.buf.extend_from_slice(&sealed);
        self.buf
            .extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        let id_bytes: [u8; 32] = Sha256::digest(&self.buf).into();
        Ok(SealedPack {
            id: hex::encode(id_bytes),
            id_bytes,
            bytes: self.buf,
            chunks: header.chunks,
        })
    }
}

/// Reads the chunk list back out of a pack (to rebuild a lost index).
/// Used by index rebuilding from packs (repair); tested here.
#[cfg_attr(not(any(test, feature = "bench")), allow(dead_code))]
pub(crate) fn read_header(pack: &[u8], key: &SecretKey) -> Result<Vec<ChunkEntry>, CryptoError> {
    if pack.len() < 4 {
        return Err(CryptoError::Truncated);
    }
    let (body, len) = pack.split_at(pack.len() - 4);
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len > body.len() {
        return Err(CryptoError::Truncated);
    }
    let plain = aead::open(key, HEADER_AAD, &body[body.len() - len..])?;
    let header: PackHeader =
        serde_json::from_slice(&plain).map_err(|_| CryptoError::Authentication)?;
    Ok(header.chunks)
}

/// Opens one sealed chunk of a pack and checks that its plaintext hashes to its id.
pub(crate) fn open_chunk(
    pack: &[u8],
    entry: &ChunkEntry,
    key: &SecretKey,
    id_of: impl Fn(&[u8]) -> [u8; 32],
) -> Result<Vec<u8>, CryptoError> {
    let start = entry.offset as usize;
    let end = start
        .checked_add(entry.sealed_len as usize)
        .ok_or(CryptoError::Truncated)?;
    let sealed = pack.get(start..end).ok_or(CryptoError::Truncated)?;
    let id = hex::decode(&entry.id).map_err(|_| CryptoError::Authentication)?;
    let plain = aead::open(key, &id, sealed)?;
    if id_of(&plain)[..] != id[..] || plain.len() != entry.len as usize {
        return Err(CryptoError::Authentication);
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_roundtrip() {
        let ctx = Context::default();
        let key = SecretKey::random(&ctx);
        let id_of = |d: &[u8]| -> [u8; 32] { Sha256::digest(d).into() };
        let mut b = PackBuilder::with_capacity(1024);
        for data in [&b"alpha"[..], b"beta", b""] {
            let id = id_of(data);
            let sealed = aead::seal(&key, &ctx, &id, data).unwrap();
            b.push(id, data.len() as u32, &sealed);
        }
        let pack = b.finish(&key, &ctx).unwrap();
        let chunks = read_header(&pack.bytes, &key).unwrap();
        assert_eq!(chunks.len(), 3);
        assert_eq!(
            open_chunk(&pack.bytes, &chunks[1], &key, id_of).unwrap(),
            b"beta"
        );
        let mut bad = pack.bytes.clone();
        bad[3] ^= 1;
        assert!(open_chunk(&bad, &chunks[0], &key, id_of).is_err());
        assert!(read_header(&pack.bytes[..2], &key).is_err());
        let other = SecretKey::random(&ctx);
        assert!(read_header(&pack.bytes, &other).is_err());
    }
}
