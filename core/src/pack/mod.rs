//! Packs: sealed chunks appended into one blob of a target size, closed by
//! a sealed header that lists them, so that object stores see few, large
//! objects and the index can be rebuilt from the packs themselves.
//!
//! ```text
//! [sealed chunk 0][sealed chunk 1]...[sealed header][header length: u32 LE]
//! ```
//! Each chunk is sealed with its id as associated data; the header is
//! sealed with `"heirloom/pack-header"` as associated data.
//!
//! A pack's id is the SHA-256 of its trailer (the sealed header and its
//! length), not of the whole pack: the header is authenticated and lists
//! every chunk's offset and sealed length, each chunk carries its own tag, and
//! every shard body carries a digest, so hashing the body a second time
//! (on write and again on every read) bought nothing but a third of the
//! backup's CPU. Packs written before this change are named by the SHA-256
//! of all their bytes; [`id_matches`] accepts both.

pub(crate) mod compress;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::aead::{self, SecretKey};
use crate::crypto::CryptoError;
use crate::snapshot::ChunkEntry;
use crate::Context;

const HEADER_AAD: &[u8] = b"heirloom/pack-header";

/// Default target size of a pack before erasure coding: 4 MiB, so a 3+2
/// shard object is 1.4 MiB. A backup keeps a fixed number of packs and
/// shard sets in memory, so the pack size sets its peak: measured on a
/// 1 GiB wedding (caches dropped), 4 MiB packs hold the pipeline at 66 MiB
/// RSS against 100 MiB for 8 MiB packs, at the same speed (3.6–4.0 s).
/// Restores keep the same bytes in flight by reading more packs at once.
pub const DEFAULT_PACK_SIZE: usize = 4 * 1024 * 1024;

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
    /// Hex [`pack_id`] of `bytes`.
    pub id: String,
    pub id_bytes: [u8; 32],
    pub bytes: Vec<u8>,
    pub chunks: Vec<ChunkEntry>,
}

impl PackBuilder {
    /// A builder that fills `buf` (cleared first), reusing its allocation.
    pub(crate) fn from_buffer(mut buf: Vec<u8>) -> Self {
        buf.clear();
        PackBuilder {
            buf,
            chunks: Vec::new(),
        }
    }

    /// Seals `stored` (a chunk of `plain_len` bytes, as it is stored:
    /// plain, or compressed and shorter) under `key`, with `id` as
    /// associated data, straight into the pack: no intermediate buffer, so
    /// a pack buffer is the only place a new chunk's ciphertext lives.
    pub(crate) fn seal_chunk(
        &mut self,
        key: &SecretKey,
        ctx: &Context,
        id: [u8; 32],
        stored: &[u8],
        plain_len: u32,
    ) -> Result<(), CryptoError> {
        let offset = self.buf.len();
        aead::seal_append(key, ctx, &id, stored, &mut self.buf)?;
        self.chunks.push(ChunkEntry {
            id: hex::encode(id),
            offset: offset as u64,
            sealed_len: (self.buf.len() - offset) as u32,
            len: plain_len,
        });
        Ok(())
    }

    /// Bytes so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Seals the header and closes the pack. The header is zstd-compressed
    /// when `compress_header` (repository format 5 on; [`read_header`]
    /// reads both), which keeps its hex chunk ids to about half their size.
    pub(crate) fn finish(
        mut self,
        key: &SecretKey,
        ctx: &Context,
        compress_header: bool,
    ) -> Result<SealedPack, CryptoError> {
        let header = PackHeader {
            chunks: self.chunks,
        };
        let mut plain =
            serde_json::to_vec(&header).map_err(|e| CryptoError::InvalidKey(e.to_string()))?;
        if compress_header {
            plain = compress::compress_meta(&plain)
                .map_err(|e| CryptoError::InvalidKey(format!("compressing a pack header: {e}")))?;
        }
        let sealed = aead::seal(key, ctx, HEADER_AAD, &plain)?;
        self.buf.extend_from_slice(&sealed);
        self.buf
            .extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        let id_bytes = pack_id(&self.buf).ok_or(CryptoError::Truncated)?;
        Ok(SealedPack {
            id: hex::encode(id_bytes),
            id_bytes,
            bytes: self.buf,
            chunks: header.chunks,
        })
    }
}

/// The id of a pack: SHA-256 of its trailer (sealed header and length), or
/// `None` when the trailer's length field does not fit the pack.
pub(crate) fn pack_id(pack: &[u8]) -> Option<[u8; 32]> {
    let len_at = pack.len().checked_sub(4)?;
    let len = u32::from_le_bytes(pack.get(len_at..)?.try_into().ok()?) as usize;
    let start = len_at.checked_sub(len)?;
    Some(Sha256::digest(&pack[start..]).into())
}

/// Whether `pack` is the pack named `id`: by its trailer, or for packs
/// written before trailer ids, by the SHA-256 of all its bytes.
pub(crate) fn id_matches(pack: &[u8], id: &[u8; 32]) -> bool {
    pack_id(pack).as_ref() == Some(id) || <[u8; 32]>::from(Sha256::digest(pack)) == *id
}

/// Rebuilds a pack from its shard objects and checks it is the pack named
/// `id` of `pack_len` bytes: what restore and deep verification both do.
/// `reuse`, when given, says the caller has already checked every shard
/// with [`crate::erasure::open_shard`] (body digests are not computed
/// again) and is the buffer to decode into.
pub(crate) fn decode_verified(
    id: &[u8; 32],
    k: usize,
    m: usize,
    shards: &[Option<bytes::Bytes>],
    pack_len: u64,
    reuse: Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    let d = match reuse {
        Some(buf) => crate::erasure::decode_opened_pack(id, k, m, shards, buf),
        None => crate::erasure::decode_pack(id, k, m, shards),
    }
    .map_err(|e| e.to_string())?;
    if d.data.len() as u64 != pack_len || !id_matches(&d.data, id) {
        return Err("decoded pack does not match its id".to_owned());
    }
    Ok(d.data)
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
    let plain = compress::meta_json(plain).map_err(|_| CryptoError::Authentication)?;
    let header: PackHeader =
        serde_json::from_slice(&plain).map_err(|_| CryptoError::Authentication)?;
    Ok(header.chunks)
}

/// Opens one sealed chunk of a pack: its tag (which binds its id) and its
/// length, inflating a compressed chunk. A restore relies on this and on
/// the whole-file digest.
pub(crate) fn open_chunk(
    pack: &[u8],
    entry: &ChunkEntry,
    key: &SecretKey,
) -> Result<Vec<u8>, CryptoError> {
    let mut plain = Vec::new();
    open_chunk_into(pack, entry, key, &mut plain)?;
    Ok(plain)
}

/// [`open_chunk`] into `out`, reusing its allocation.
pub(crate) fn open_chunk_into(
    pack: &[u8],
    entry: &ChunkEntry,
    key: &SecretKey,
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    let (range, id) = sealed_at(entry)?;
    let sealed = pack.get(range).ok_or(CryptoError::Truncated)?;
    aead::open_into(key, &id, sealed, out)?;
    if out.len() != entry.len as usize {
        // Compressed (shorter), or damaged: it must inflate to the length.
        match compress::chunk_plaintext(std::mem::take(out), entry.len as usize) {
            Some(plain) => *out = plain,
            None => return Err(CryptoError::Authentication),
        }
    }
    Ok(())
}

/// [`open_chunk_into`] without a copy: opens the chunk where it lies in
/// `pack`, overwriting its ciphertext with its plaintext, and returns the
/// plaintext (inflated into `inflated` if it was stored compressed). A
/// chunk whose range overlaps one opened before fails its tag.
pub(crate) fn open_chunk_in_place<'a>(
    pack: &'a mut [u8],
    entry: &ChunkEntry,
    key: &SecretKey,
    inflated: &'a mut Vec<u8>,
) -> Result<&'a [u8], CryptoError> {
    let (range, id) = sealed_at(entry)?;
    let sealed = pack.get_mut(range).ok_or(CryptoError::Truncated)?;
    let plain = aead::open_in_place(key, &id, sealed)?;
    if plain.len() == entry.len as usize {
        return Ok(plain);
    }
    // Compressed (shorter), or damaged: it must inflate to the length.
    match compress::chunk_plaintext(plain.to_vec(), entry.len as usize) {
        Some(p) => {
            *inflated = p;
            Ok(inflated)
        }
        None => Err(CryptoError::Authentication),
    }
}

/// Where a chunk's sealed bytes lie in its pack, and its id (the
/// associated data its tag binds).
fn sealed_at(entry: &ChunkEntry) -> Result<(std::ops::Range<usize>, [u8; 32]), CryptoError> {
    let start = entry.offset as usize;
    let end = start
        .checked_add(entry.sealed_len as usize)
        .ok_or(CryptoError::Truncated)?;
    let mut id = [0u8; 32];
    hex::decode_to_slice(&entry.id, &mut id).map_err(|_| CryptoError::Authentication)?;
    Ok((start..end, id))
}

/// [`open_chunk`], and also checks that the plaintext hashes to its id
/// (deep verification, which has no file hash to fall back on).
pub(crate) fn open_chunk_checked(
    pack: &[u8],
    entry: &ChunkEntry,
    key: &SecretKey,
    id_of: impl Fn(&[u8]) -> [u8; 32],
) -> Result<Vec<u8>, CryptoError> {
    let plain = open_chunk(pack, entry, key)?;
    if hex::encode(id_of(&plain)) != entry.id {
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
        let mut b = PackBuilder::from_buffer(Vec::with_capacity(1024));
        for data in [&b"alpha"[..], b"beta", b""] {
            b.seal_chunk(&key, &ctx, id_of(data), data, data.len() as u32)
                .unwrap();
        }
        let pack = b.finish(&key, &ctx, false).unwrap();
        let chunks = read_header(&pack.bytes, &key).unwrap();
        assert_eq!(chunks.len(), 3);
        assert_eq!(
            open_chunk_checked(&pack.bytes, &chunks[1], &key, id_of).unwrap(),
            b"beta"
        );
        assert_eq!(open_chunk(&pack.bytes, &chunks[0], &key).unwrap(), b"alpha");
        let mut bad = pack.bytes.clone();
        bad[3] ^= 1;
        assert!(open_chunk(&bad, &chunks[0], &key).is_err());
        // A chunk sealed under an id its plaintext does not hash to opens, but fails the check.
        let mut b = PackBuilder::from_buffer(Vec::with_capacity(64));
        let wrong = id_of(b"other");
        b.seal_chunk(&key, &ctx, wrong, b"gamma", 5).unwrap();
        let liar = b.finish(&key, &ctx, false).unwrap();
        assert!(open_chunk(&liar.bytes, &liar.chunks[0], &key).is_ok());
        assert!(open_chunk_checked(&liar.bytes, &liar.chunks[0], &key, id_of).is_err());
        assert!(read_header(&pack.bytes[..2], &key).is_err());
        let other = SecretKey::random(&ctx);
        assert!(read_header(&pack.bytes, &other).is_err());
    }

    #[test]
    fn compressed_headers_are_smaller_and_read_back() {
        let ctx = Context::default();
        let key = SecretKey::random(&ctx);
        let build = |compress: bool| {
            let mut b = PackBuilder::from_buffer(Vec::new());
            for i in 0..100u32 {
                let data = i.to_le_bytes();
                let id: [u8; 32] = Sha256::digest(data).into();
                b.seal_chunk(&key, &ctx, id, &data, 4).unwrap();
            }
            b.finish(&key, &ctx, compress).unwrap()
        };
        let (plain, small) = (build(false), build(true));
        assert!(
            small.bytes.len() * 10 < plain.bytes.len() * 7,
            "{} vs {} bytes",
            small.bytes.len(),
            plain.bytes.len()
        );
        let ids = |c: &[ChunkEntry]| c.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        assert_eq!(
            ids(&read_header(&small.bytes, &key).unwrap()),
            ids(&plain.chunks)
        );
        assert_eq!(
            ids(&read_header(&plain.bytes, &key).unwrap()),
            ids(&plain.chunks)
        );
    }

    #[test]
    fn chunks_open_in_place_as_they_open_by_copy() {
        let ctx = Context::default();
        let key = SecretKey::random(&ctx);
        let text = b"guest list, table plan, guest list, table plan, ".repeat(40);
        let photo: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut zstd = compress::ChunkCompressor::new().unwrap();
        let mut b = PackBuilder::from_buffer(Vec::new());
        for data in [&text[..], &photo[..], b""] {
            let stored = zstd.compress(data).to_vec();
            b.seal_chunk(
                &key,
                &ctx,
                [data.len() as u8; 32],
                &stored,
                data.len() as u32,
            )
            .unwrap();
        }
        let pack = b.finish(&key, &ctx, true).unwrap();
        assert!(
            pack.chunks[0].sealed_len < text.len() as u32,
            "text stored compressed"
        );
        let mut in_place = pack.bytes.clone();
        let mut inflated = Vec::new();
        for (entry, want) in pack.chunks.iter().zip([&text[..], &photo[..], b""]) {
            let by_copy = open_chunk(&pack.bytes, entry, &key).unwrap();
            let opened = open_chunk_in_place(&mut in_place, entry, &key, &mut inflated).unwrap();
            assert_eq!((opened, &by_copy[..]), (want, want));
        }
        // Opened once, a chunk's bytes are plaintext: opening it again (or a
        // crafted entry overlapping it) fails its tag instead of passing.
        let mut again = Vec::new();
        assert!(open_chunk_in_place(&mut in_place, &pack.chunks[1], &key, &mut again).is_err());
        let mut bad = pack.bytes.clone();
        bad[pack.chunks[1].offset as usize + 20] ^= 1;
        assert!(open_chunk_in_place(&mut bad, &pack.chunks[1], &key, &mut again).is_err());
    }

    #[test]
    fn pack_ids_name_the_trailer_and_old_whole_pack_ids_still_match() {
        let ctx = Context::default();
        let key = SecretKey::random(&ctx);
        let mut b = PackBuilder::from_buffer(Vec::with_capacity(64));
        b.seal_chunk(&key, &ctx, [1; 32], b"abc", 3).unwrap();
        let pack = b.finish(&key, &ctx, true).unwrap();
        assert!(id_matches(&pack.bytes, &pack.id_bytes));
        let whole: [u8; 32] = Sha256::digest(&pack.bytes).into();
        assert_ne!(whole, pack.id_bytes);
        assert!(id_matches(&pack.bytes, &whole));
        // A damaged trailer no longer matches; a truncated pack has no id.
        let mut bad = pack.bytes.clone();
        let last = bad.len() - 6;
        bad[last] ^= 1;
        assert!(!id_matches(&bad, &pack.id_bytes));
        assert_eq!(pack_id(&[1, 2]), None);
        assert_eq!(pack_id(&[0, 0, 0, 9]), None);
    }
}
