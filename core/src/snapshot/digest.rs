//! The whole-file digest a manifest keeps for each file, which a restore
//! checks every restored file against: SHA-256 before format 4, BLAKE3
//! from format 4 on (a third of SHA-256's CPU here, where both cores are
//! busy reading, decrypting and writing; see `ARCHITECTURE.md`).

use sha2::{Digest, Sha256};

/// Which digest a repository keeps for whole files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileDigest {
    /// Hex SHA-256, in [`super::Entry::sha256`] (formats 1 to 3).
    Sha256,
    /// Hex BLAKE3 (unkeyed, 32 bytes), in [`super::Entry::blake3`] (format 4).
    Blake3,
}

/// A whole-file digest being computed.
pub(crate) enum FileHasher {
    Sha256(Sha256),
    Blake3(Box<blake3::Hasher>),
}

impl FileHasher {
    pub(crate) fn new(kind: FileDigest) -> FileHasher {
        match kind {
            FileDigest::Sha256 => FileHasher::Sha256(Sha256::new()),
            FileDigest::Blake3 => FileHasher::Blake3(Box::new(blake3::Hasher::new())),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            FileHasher::Sha256(h) => h.update(data),
            FileHasher::Blake3(h) => {
                h.update(data);
            }
        }
    }

    /// The hex digest.
    pub(crate) fn finish(self) -> String {
        match self {
            FileHasher::Sha256(h) => hex::encode(h.finalize()),
            FileHasher::Blake3(h) => h.finalize().to_hex().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_gives_its_standard_digest() {
        let data = b"a wedding photo";
        let mut s = FileHasher::new(FileDigest::Sha256);
        s.update(&data[..3]);
        s.update(&data[3..]);
        assert_eq!(s.finish(), hex::encode(Sha256::digest(data)));
        let mut b = FileHasher::new(FileDigest::Blake3);
        b.update(data);
        assert_eq!(b.finish(), blake3::hash(data).to_hex().to_string());
    }
}
