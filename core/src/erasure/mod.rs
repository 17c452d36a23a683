//! Erasure coding of sealed packs into shards.
//!
//! A sealed pack (an encrypted blob, tens of MiB at most) is split into `k`
//! data shards and `m` parity shards with Reed–Solomon over GF(2^8); any `k`
//! of the `k + m` shards rebuild the pack. Each shard is stored as one object
//! at a distinct location: a fixed [`SHARD_HEADER_LEN`]-byte [`ShardHeader`]
//! followed by the body.
//!
//! The header carries a CRC32 of itself and a digest of the body (BLAKE3;
//! SHA-256 in version-1 shards), so bit
//! rot is found without decrypting anything ([`open_shard`]), and the
//! [`CodecId`] that wrote the parity, so the shard can be decoded years
//! later ([`codec_for`]).
//!
//! Empty packs are supported: every body is then zero bytes long.
//!
//! ```
//! use bytes::Bytes;
//! use heirloom::erasure::{decode_pack, encode_pack, ReedSolomon};
//!
//! let pack = b"an encrypted pack".to_vec();
//! let pack_id = [1u8; 32];
//! let objects = encode_pack(&ReedSolomon, pack_id, &pack, 3, 2)?;
//!
//! // One shard lost, one rotted: still decodes, and says which one rotted.
//! let mut fetched: Vec<Option<Bytes>> = objects.into_iter().map(Some).collect();
//! fetched[0] = None;
//! let mut rotten = fetched[1].take().unwrap().to_vec();
//! *rotten.last_mut().unwrap() ^= 1;
//! fetched[1] = Some(Bytes::from(rotten));
//! let decoded = decode_pack(&pack_id, 3, 2, &fetched)?;
//! assert_eq!(decoded.data, pack);
//! assert_eq!(decoded.bad_shards[0].0, 1);
//! # Ok::<(), heirloom::erasure::ErasureError>(())
//! ```

mod codec;
mod error;
mod pack;
mod shard;

pub use codec::{codec_for, CodecId, ErasureCodec, ReedSolomon, MAX_SHARDS};
pub use error::ErasureError;
pub use pack::{
    decode_opened_pack, decode_pack, encode_pack, encode_pack_reusing, rebuild_shards, DecodedPack,
};
pub use shard::{
    body_digest, open_shard, ShardHeader, SHARD_FORMAT_V1, SHARD_FORMAT_VERSION, SHARD_HEADER_LEN,
    SHARD_MAGIC,
};
