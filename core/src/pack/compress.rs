//! zstd compression of chunks and metadata (repository format 3).
//!
//! A chunk is stored compressed only when that makes it smaller, so a
//! chunk's pack entry says which it is without a flag: the sealed plaintext
//! is shorter than the chunk's length exactly when it is compressed (entries
//! written before format 3 always have the two equal). Photos and videos are
//! already compressed; one level-3 pass over a 64 KiB sample turns them away
//! for about 6 % of a full pass, while documents (contracts, timelines,
//! guest lists) shrink to a third.
//!
//! Metadata (index, manifest, snapshot records) is JSON; compressed, its
//! plaintext is a zstd frame, whose magic number no JSON text starts with,
//! so a reader tells the two apart by the first bytes.

use std::io;

use zstd::bulk::Compressor;

/// zstd's default level: about 300 MB/s per core on documents.
const LEVEL: i32 = 3;
/// Bytes compressed first to decide whether a chunk is worth compressing.
const SAMPLE: usize = 64 * 1024;
/// A chunk is stored compressed only if that saves at least 1/32 of it.
const MIN_SAVING_SHIFT: u32 = 5;
/// The first bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// The largest metadata object a reader inflates (a manifest of millions of
/// files is well below this).
const MAX_META: usize = 1 << 30;

/// Compresses chunks into a buffer it keeps from chunk to chunk.
pub(crate) struct ChunkCompressor {
    zstd: Compressor<'static>,
    buf: Vec<u8>,
}

impl ChunkCompressor {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(ChunkCompressor {
            zstd: Compressor::new(LEVEL)?,
            buf: Vec::new(),
        })
    }

    /// The bytes to store for `plain`: its compressed form when that is
    /// enough smaller, else `plain` itself. A compressed result is always
    /// strictly shorter than `plain` (see the module doc).
    pub(crate) fn compress<'a>(&'a mut self, plain: &'a [u8]) -> &'a [u8] {
        if plain.len() < 64 {
            return plain;
        }
        if plain.len() > 2 * SAMPLE && !self.shrinks(&plain[..SAMPLE]) {
            return plain;
        }
        if self.shrinks(plain) {
            &self.buf
        } else {
            plain
        }
    }

    /// Compresses `data` into the buffer; whether it saved enough.
    fn shrinks(&mut self, data: &[u8]) -> bool {
        self.buf.clear();
        self.buf
            .reserve(zstd::zstd_safe::compress_bound(data.len()));
        match self.zstd.compress_to_buffer(data, &mut self.buf) {
            Ok(n) => n <= data.len() - (data.len() >> MIN_SAVING_SHIFT) && n < data.len(),
            Err(e) => {
                tracing::debug!(error = %e, "zstd could not compress a chunk; storing it as is");
                false
            }
        }
    }
}

/// A chunk's plaintext from what was stored for it: `stored` itself when it
/// is `len` bytes long, else `stored` inflated to exactly `len` bytes.
/// `None` when that fails (the stored bytes are not a zstd frame of `len`
/// bytes; they were authenticated, so only a writer's bug gets here).
pub(crate) fn chunk_plaintext(stored: Vec<u8>, len: usize) -> Option<Vec<u8>> {
    use std::cmp::Ordering::*;
    match stored.len().cmp(&len) {
        Equal => Some(stored),
        Greater => None,
        Less => zstd::bulk::decompress(&stored, len)
            .ok()
            .filter(|plain| plain.len() == len),
    }
}

/// Metadata plaintext to seal: `json` compressed.
pub(crate) fn compress_meta(json: &[u8]) -> io::Result<Vec<u8>> {
    zstd::bulk::compress(json, LEVEL)
}

/// Metadata plaintext as JSON: inflated if it is a zstd frame, else as is.
pub(crate) fn meta_json(plain: Vec<u8>) -> io::Result<Vec<u8>> {
    if !plain.starts_with(&ZSTD_MAGIC) {
        return Ok(plain);
    }
    let mut out = Vec::new();
    let mut decoder = zstd::stream::read::Decoder::new(&plain[..])?;
    let read = io::copy(
        &mut io::Read::take(&mut decoder, MAX_META as u64 + 1),
        &mut out,
    )?;
    if read > MAX_META as u64 {
        return Err(io::Error::other("metadata object inflates past 1 GiB"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> Vec<u8> {
        b"The couple signs the photography contract; deposit due before the venue walk-through. "
            .iter()
            .copied()
            .cycle()
            .take(n)
            .collect()
    }

    fn noise(n: usize) -> Vec<u8> {
        crate::test_data::noise(n, 0x9E37_79B9_7F4A_7C15)
    }

    #[test]
    fn documents_shrink_and_come_back_exactly() {
        let mut c = ChunkCompressor::new().unwrap();
        for n in [300, 1000, 200_000, 1 << 20] {
            let doc = text(n);
            let stored = c.compress(&doc).to_vec();
            assert!(stored.len() < doc.len(), "{n}: {}", stored.len());
            if n >= 1000 {
                assert!(stored.len() < doc.len() / 4, "{n}: {}", stored.len());
            }
            assert_eq!(chunk_plaintext(stored, n).unwrap(), doc);
        }
    }

    #[test]
    fn photos_and_tiny_chunks_are_stored_as_they_are() {
        let mut c = ChunkCompressor::new().unwrap();
        for n in [0, 10, 63, 5000, 300_000] {
            let photo = noise(n);
            assert_eq!(c.compress(&photo), &photo[..]);
            assert_eq!(chunk_plaintext(photo.clone(), n).unwrap(), photo);
        }
        // The first 64 KiB decide: noise there keeps the chunk plain...
        let mut mixed = noise(SAMPLE);
        mixed.extend(text(1 << 20));
        assert_eq!(c.compress(&mixed), &mixed[..]);
        // ...text there has the whole chunk tried, and kept compressed when
        // that saves at least 1/32 of it.
        let mut mixed = text(SAMPLE);
        mixed.extend(noise(1 << 20));
        let stored = c.compress(&mixed).to_vec();
        assert!(stored.len() < mixed.len() - mixed.len() / 32);
        assert_eq!(chunk_plaintext(stored, mixed.len()).unwrap(), mixed);
    }

    #[test]
    fn stored_bytes_that_do_not_inflate_to_the_length_are_refused() {
        let mut c = ChunkCompressor::new().unwrap();
        let doc = text(10_000);
        let stored = c.compress(&doc).to_vec();
        assert!(chunk_plaintext(stored.clone(), 9_999).is_none());
        assert!(chunk_plaintext(stored.clone(), 10_001).is_none());
        assert!(chunk_plaintext(vec![1, 2, 3], 10).is_none());
        assert!(chunk_plaintext(vec![1, 2, 3], 2).is_none());
    }

    #[test]
    fn metadata_reads_both_plain_and_compressed_json() {
        let json =
            br#"{"entries":[{"path":"photos/IMG_0001.jpg"},{"path":"photos/IMG_0002.jpg"}]}"#;
        assert_eq!(meta_json(json.to_vec()).unwrap(), json);
        let packed = compress_meta(json).unwrap();
        assert!(packed.starts_with(&ZSTD_MAGIC));
        assert_eq!(meta_json(packed.clone()).unwrap(), json);
        let mut broken = packed;
        broken.truncate(broken.len() - 3);
        assert!(meta_json(broken).is_err());
    }
}
