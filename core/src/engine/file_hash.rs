//! The end-to-end check of a restored file (its whole-file digest, SHA-256
//! or BLAKE3 by repository format), hashed as its chunks are written rather
//! than read back whole afterwards.
//!
//! Chunks reach a file in whatever order their packs arrive. A chunk that
//! starts where the hash has got to is hashed from memory, just after it is
//! written; one that arrives ahead of a gap is written and remembered, and
//! read back from the file once the gap before it is filled. Every byte is
//! hashed exactly once, from what was written at the offset it was written
//! to, so the digest proves the same thing a read-back of the whole file
//! did (the assembly of the file from its chunks), for a fraction of the
//! reading: a restore used to spend a quarter of its CPU re-reading and
//! hashing files it had just written.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::snapshot::{FileDigest, FileHasher};

/// The running digest of one file being restored.
pub(super) struct OrderedHash {
    state: Mutex<State>,
}

struct State {
    /// `None` once finished.
    hasher: Option<FileHasher>,
    /// Bytes `0..hashed` are in the hash.
    hashed: u64,
    /// Written past a gap, not hashed yet: offset → length.
    ahead: BTreeMap<u64, u64>,
    /// Set once a write does not fit (overlaps what is hashed, or repeats
    /// an offset): the caller then reads the whole file back instead.
    unusable: bool,
}

impl OrderedHash {
    pub(super) fn new(kind: FileDigest) -> OrderedHash {
        OrderedHash {
            state: Mutex::new(State {
                hasher: Some(FileHasher::new(kind)),
                hashed: 0,
                ahead: BTreeMap::new(),
                unusable: false,
            }),
        }
    }

    /// `data` has just been written at `offset` of the file at `path`.
    pub(super) fn wrote(&self, path: &Path, offset: u64, data: &[u8]) -> Result<()> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let st = &mut *guard;
        let Some(hasher) = st.hasher.as_mut().filter(|_| !st.unusable) else {
            return Ok(());
        };
        if offset != st.hashed {
            if offset > st.hashed && !st.ahead.contains_key(&offset) {
                st.ahead.insert(offset, data.len() as u64);
            } else {
                st.unusable = true;
            }
            return Ok(());
        }
        hasher.update(data);
        st.hashed += data.len() as u64;
        let mut buf = Vec::new();
        while let Some(len) = st.ahead.remove(&st.hashed) {
            read_back(path, st.hashed, len, &mut buf)?;
            hasher.update(&buf);
            st.hashed += len;
        }
        if st
            .ahead
            .first_key_value()
            .is_some_and(|(&o, _)| o < st.hashed)
        {
            st.unusable = true;
        }
        Ok(())
    }

    /// The hex digest, if every byte up to `size` was hashed in order;
    /// `None` when the file must be read back instead.
    pub(super) fn finish(&self, size: u64) -> Option<String> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.unusable || st.hashed != size || !st.ahead.is_empty() {
            return None;
        }
        st.hasher.take().map(FileHasher::finish)
    }
}

/// Reads `len` bytes at `offset` of `path` into `buf`.
fn read_back(path: &Path, offset: u64, len: u64, buf: &mut Vec<u8>) -> Result<()> {
    let len = usize::try_from(len)
        .map_err(|_| Error::corrupt("-", path.display().to_string(), "chunk too large"))?;
    buf.resize(len, 0);
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_exact_at(&f, buf, offset).map_err(|e| Error::io(path, e))
}

#[cfg(unix)]
fn read_exact_at(f: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(not(unix))]
fn read_exact_at(mut f: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

/// The digest of a whole file, read back: for a file whose writes could not
/// be hashed in order.
pub(super) fn hash_file(path: &Path, kind: FileDigest) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = FileHasher::new(kind);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path, e)),
        };
        h.update(&buf[..n]);
    }
    Ok(h.finish())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    /// Writes `data` in `pieces` (offset, len) in the given order, as a
    /// restore would, and returns what the ordered hash says.
    fn restore_in_order(data: &[u8], pieces: &[(usize, usize)]) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(data.len() as u64).unwrap();
        let h = OrderedHash::new(FileDigest::Sha256);
        for &(o, l) in pieces {
            std::os::unix::fs::FileExt::write_all_at(&f, &data[o..o + l], o as u64).unwrap();
            h.wrote(&path, o as u64, &data[o..o + l]).unwrap();
        }
        h.finish(data.len() as u64)
    }

    #[test]
    fn any_arrival_order_gives_the_whole_file_digest() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let pieces = [(0, 1000), (1000, 3000), (4000, 10), (4010, 5990)];
        let want = Some(sha(&data));
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]] {
            let p: Vec<_> = order.iter().map(|&i| pieces[i]).collect();
            assert_eq!(restore_in_order(&data, &p), want, "order {order:?}");
        }
    }

    #[test]
    fn a_gap_or_an_overlap_gives_no_digest() {
        let data = vec![5u8; 100];
        assert_eq!(restore_in_order(&data, &[(0, 40), (60, 40)]), None);
        assert_eq!(restore_in_order(&data, &[(0, 60), (40, 60)]), None);
        assert_eq!(
            restore_in_order(&data, &[(50, 50), (50, 50), (0, 50)]),
            None
        );
    }

    #[test]
    fn a_byte_changed_on_disk_before_it_is_read_back_shows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data = vec![9u8; 64];
        let f = std::fs::File::create(&path).unwrap();
        use std::os::unix::fs::FileExt;
        f.write_all_at(&data[32..], 32).unwrap();
        let h = OrderedHash::new(FileDigest::Sha256);
        h.wrote(&path, 32, &data[32..]).unwrap();
        f.write_all_at(&[0u8], 40).unwrap();
        f.write_all_at(&data[..32], 0).unwrap();
        h.wrote(&path, 0, &data[..32]).unwrap();
        assert_ne!(h.finish(64), Some(sha(&data)));
    }

    #[test]
    fn hash_file_reads_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data = vec![3u8; (1 << 20) + 17];
        std::fs::write(&path, &data).unwrap();
        assert_eq!(hash_file(&path, FileDigest::Sha256).unwrap(), sha(&data));
        assert_eq!(
            hash_file(&path, FileDigest::Blake3).unwrap(),
            blake3::hash(&data).to_hex().to_string()
        );
    }
}
