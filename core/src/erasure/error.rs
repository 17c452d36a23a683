//! The erasure module's error: one variant per thing that can be wrong with a
//! shard object, the caller's parameters, or the set of shards.

/// Why a shard could not be read, or a pack could not be encoded or rebuilt.
///
/// The shard-level variants (see [`ErasureError::is_corrupt_shard`]) say what
/// is wrong with one stored object; [`decode_pack`](super::decode_pack)
/// reports them per index in [`DecodedPack::bad_shards`](super::DecodedPack).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErasureError {
    /// The object is shorter than a shard header.
    #[error("shard object truncated: needs at least {needed} bytes, got {got}")]
    Truncated {
        /// Bytes a header needs.
        needed: usize,
        /// Bytes there were.
        got: usize,
    },

    /// The object does not start with the shard magic `HLSH`.
    #[error("not a shard object: bad magic")]
    BadMagic,

    /// The header's format version is not one this build reads.
    #[error("unsupported shard format version {0}")]
    UnsupportedVersion(u8),

    /// The header names a codec this build does not know.
    #[error("unknown erasure codec id {0}")]
    UnknownCodec(u8),

    /// The header's CRC32 does not match its bytes (bit rot in the header).
    #[error("shard header checksum mismatch")]
    HeaderChecksum,

    /// The header's checksum is right but its fields are inconsistent.
    #[error("invalid shard header: {0}")]
    InvalidHeader(String),

    /// The body does not match the digest recorded in the header (BLAKE3;
    /// SHA-256 in shard format 1): bit rot in the body.
    #[error("shard body does not match the digest in its header")]
    BodyHashMismatch,

    /// The body is not as long as the header says (truncated or extended object).
    #[error("shard body is {got} bytes, its header says {expected}")]
    BodyLength {
        /// Length recorded in the header.
        expected: u64,
        /// Length of the body found.
        got: u64,
    },

    /// The shard belongs to a different pack than the one asked for.
    #[error("shard belongs to another pack")]
    WrongPack,

    /// The shard was found at one index but its header records another.
    #[error("shard stored at index {expected} says it is index {got}")]
    WrongIndex {
        /// Index the shard was fetched for.
        expected: usize,
        /// Index its header records.
        got: usize,
    },

    /// The shard's header is valid but disagrees with the caller's `k`/`m` or
    /// with the other shards of the pack (pack length, codec).
    #[error("shard header disagrees with the pack: {0}")]
    HeaderMismatch(String),

    /// The caller asked for something impossible (`k == 0`, `k + m > 255`,
    /// wrong number of shard slots, an index out of range).
    #[error("invalid erasure parameters: {0}")]
    InvalidParameters(String),

    /// Fewer than `k` good shards: the pack cannot be rebuilt from these.
    #[error("not enough good shards: need {needed}, have {good}")]
    NotEnoughShards {
        /// Shards needed (`k`).
        needed: usize,
        /// Good shards available.
        good: usize,
    },

    /// The codec failed on inputs that passed validation (a bug).
    #[error("erasure codec failed: {0}")]
    Codec(String),
}

impl ErasureError {
    /// True when the error says one stored shard object is damaged, foreign
    /// or misplaced (repairable by rebuilding that shard), as opposed to a
    /// caller mistake, too few shards, or a codec failure.
    pub fn is_corrupt_shard(&self) -> bool {
        matches!(
            self,
            ErasureError::Truncated { .. }
                | ErasureError::BadMagic
                | ErasureError::UnsupportedVersion(_)
                | ErasureError::UnknownCodec(_)
                | ErasureError::HeaderChecksum
                | ErasureError::InvalidHeader(_)
                | ErasureError::BodyHashMismatch
                | ErasureError::BodyLength { .. }
                | ErasureError::WrongPack
                | ErasureError::WrongIndex { .. }
                | ErasureError::HeaderMismatch(_)
        )
    }
}
