//! The repository format: object names and the plaintext config object.
//!
//! ```text
//! config                          RepoConfig, plaintext JSON (no secrets)
//! keys/<slot>                     KeySlot: the master key sealed under a passphrase or key file
//! wedding-keys/<hmac>-<level>     a wedding's root key, wrapped (enhanced, government_grade)
//! index/<sha256>                  sealed IndexRecord: packs of one backup, their shards and chunks
//! manifests/<sha256>              sealed Manifest: the files of one snapshot
//! snapshots/<sha256>              sealed SnapshotRecord, written last: the commit point
//! packs/<hh>/<pack-id>.<i>        shard i of a pack (header + body), on one location only
//! prune/<sha256>                  PruneMarker (plaintext JSON): packs due for deletion after a grace period
//! locations/<id>                  LocationStatus (plaintext JSON): a retired location
//! ```
//! Everything but `packs/` is replicated to every location, except that from
//! format 5 on a backup's `index/`, `manifests/` and `snapshots/` objects are
//! erasure-coded: each of k+m locations holds one shard of the sealed object
//! under the object's key (see [`crate::engine::coded`]). Metadata names are
//! the SHA-256 of the sealed bytes, so they are content-addressed, written
//! with create-if-absent, and checkable without the key (a shard by its
//! header and body digest).

use crate::crypto::wedding::ChunkIdHash;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Current repository format version. Version 2 added `chunkIdHash` (new
/// repositories name chunks with keyed BLAKE3); version 3 lets chunks and
/// metadata objects be zstd-compressed (see [`crate::pack::compress`]).
/// Older repositories still open, and are written as their version says
/// (uncompressed), so the builds that made them can still read them. An
/// older reader refuses a newer repository rather than misread it.
/// Version 4 keeps a BLAKE3 digest of each whole file instead of SHA-256.
/// Version 5 stores a backup's index, manifest parts and snapshot record
/// erasure-coded with the backup's own k+m (see [`crate::engine::coded`])
/// instead of a whole copy on every location.
pub(crate) const FORMAT_VERSION: u32 = 5;

/// Oldest repository format version this build opens.
pub(crate) const OLDEST_FORMAT_VERSION: u32 = 1;

/// Key of the config object.
pub(crate) const CONFIG_KEY: &str = "config";
/// Prefix of key slots.
pub(crate) const KEYS_PREFIX: &str = "keys/";
/// Prefix of wrapped wedding keys.
pub(crate) const WEDDING_KEYS_PREFIX: &str = "wedding-keys/";
/// Prefix of index objects.
pub(crate) const INDEX_PREFIX: &str = "index/";
/// Prefix of manifests.
pub(crate) const MANIFEST_PREFIX: &str = "manifests/";
/// Prefix of snapshot records.
pub(crate) const SNAPSHOT_PREFIX: &str = "snapshots/";
/// Prefix of pack shards.
pub(crate) const PACK_PREFIX: &str = "packs/";
/// Prefix of prune markers (content-addressed, plaintext).
pub(crate) const PRUNE_PREFIX: &str = "prune/";
/// Prefix of location status objects (plaintext, not content-addressed).
pub(crate) const LOCATIONS_PREFIX: &str = "locations/";

/// Replicated metadata prefixes whose object names are the SHA-256 of their bytes.
pub(crate) const CONTENT_ADDRESSED: &[&str] =
    &[INDEX_PREFIX, MANIFEST_PREFIX, SNAPSHOT_PREFIX, PRUNE_PREFIX];
/// Replicated metadata that is copied verbatim (not content-addressed):
/// the config object and these prefixes.
pub(crate) const VERBATIM: &[&str] = &[KEYS_PREFIX, WEDDING_KEYS_PREFIX, LOCATIONS_PREFIX];

/// Parses a shard key back into (pack id, shard index).
pub(crate) fn parse_shard_key(key: &str) -> Option<(&str, usize)> {
    let file = key.strip_prefix(PACK_PREFIX)?.split('/').nth(1)?;
    let (id, index) = file.rsplit_once('.')?;
    Some((id, index.parse().ok()?))
}

/// Chunking parameters, fixed for the life of a repository (dedup depends on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkerParams {
    /// Smallest chunk, bytes.
    pub min_size: u32,
    /// Average chunk, bytes.
    pub avg_size: u32,
    /// Largest chunk, bytes.
    pub max_size: u32,
}

impl Default for ChunkerParams {
    /// 512 KiB / 1 MiB / 8 MiB, as restic: photos of 4–25 MiB make 4–25 chunks.
    fn default() -> Self {
        ChunkerParams {
            min_size: 512 * 1024,
            avg_size: 1024 * 1024,
            max_size: 8 * 1024 * 1024,
        }
    }
}

impl ChunkerParams {
    /// Checks the bounds FastCDC accepts and `min <= avg <= max`; a config
    /// that fails this is refused before any file is chunked.
    pub fn validate(&self) -> Result<(), String> {
        use fastcdc::v2020::{
            AVERAGE_MAX, AVERAGE_MIN, MAXIMUM_MAX, MAXIMUM_MIN, MINIMUM_MAX, MINIMUM_MIN,
        };
        let in_range = |v: u32, lo: u32, hi: u32| (lo..=hi).contains(&v);
        if !in_range(self.min_size, MINIMUM_MIN, MINIMUM_MAX)
            || !in_range(self.avg_size, AVERAGE_MIN, AVERAGE_MAX)
            || !in_range(self.max_size, MAXIMUM_MIN, MAXIMUM_MAX)
            || self.min_size > self.avg_size
            || self.avg_size > self.max_size
        {
            return Err(format!(
                "chunker sizes {}/{}/{} are outside FastCDC's bounds ({MINIMUM_MIN}..={MINIMUM_MAX} / \
                 {AVERAGE_MIN}..={AVERAGE_MAX} / {MAXIMUM_MIN}..={MAXIMUM_MAX}, min <= avg <= max)",
                self.min_size, self.avg_size, self.max_size
            ));
        }
        Ok(())
    }
}

/// The `config` object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RepoConfig {
    pub version: u32,
    pub repo_id: String,
    pub created_at: DateTime<Utc>,
    pub chunker: ChunkerParams,
    /// How chunks are named, as the config says it; version-1 configs do not
    /// (they mean HMAC-SHA256). Read it through [`RepoConfig::id_hash`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_id_hash: Option<ChunkIdHash>,
}

impl RepoConfig {
    /// What a config read back must satisfy: a known version, chunker sizes
    /// FastCDC accepts, and the chunk-id hash its version allows (a version-1
    /// config never names BLAKE3; a version-2 config always does, so a
    /// damaged one cannot silently fall back to HMAC and lose dedup).
    pub(crate) fn check(&self) -> Result<(), String> {
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&self.version) {
            return Err(format!("unsupported repository version {}", self.version));
        }
        self.chunker.validate()?;
        match (self.version, self.chunk_id_hash) {
            (1, None | Some(ChunkIdHash::HmacSha256)) => Ok(()),
            (1, Some(_)) => Err("a version-1 repository names chunks with HMAC-SHA256 only".into()),
            (_, Some(_)) => Ok(()),
            (v, None) => Err(format!("a version-{v} config must say chunkIdHash")),
        }
    }

    /// Whether chunks and metadata are written compressed (format 3 on).
    pub(crate) fn compresses(&self) -> bool {
        self.version >= 3
    }

    /// Whether a backup's index, manifest parts and snapshot record are
    /// erasure-coded (format 5 on) rather than copied to every location.
    pub(crate) fn codes_metadata(&self) -> bool {
        self.version >= 5
    }

    /// The whole-file digest manifests keep (BLAKE3 from format 4 on).
    pub(crate) fn file_digest(&self) -> crate::snapshot::FileDigest {
        match self.version {
            v if v >= 4 => crate::snapshot::FileDigest::Blake3,
            _ => crate::snapshot::FileDigest::Sha256,
        }
    }

    /// How this repository names chunks (HMAC-SHA256 when the config does not say).
    pub(crate) fn id_hash(&self) -> ChunkIdHash {
        self.chunk_id_hash.unwrap_or(ChunkIdHash::HmacSha256)
    }
}

/// Hex SHA-256 of stored bytes: the name of a metadata object.
pub(crate) fn content_name(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Key of shard `index` of pack `pack_id` (hex).
pub(crate) fn shard_key(pack_id: &str, index: usize) -> String {
    format!(
        "{PACK_PREFIX}{}/{pack_id}.{index}",
        &pack_id[..2.min(pack_id.len())]
    )
}

/// The kind of a metadata object, bound into its encryption as associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetaKind {
    Index,
    Manifest,
    Snapshot,
}

impl MetaKind {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            MetaKind::Index => INDEX_PREFIX,
            MetaKind::Manifest => MANIFEST_PREFIX,
            MetaKind::Snapshot => SNAPSHOT_PREFIX,
        }
    }

    /// Associated data: the kind and the repository it belongs to.
    pub(crate) fn aad(self, repo_id: &str) -> Vec<u8> {
        format!("heirloom/{}{repo_id}", self.prefix()).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::FileDigest;

    #[test]
    fn file_digests_are_sha256_until_format_4() {
        let v1 = r#"{"version":1,"repoId":"ab","createdAt":"2026-11-01T00:00:00Z",
            "chunker":{"minSize":524288,"avgSize":1048576,"maxSize":8388608}}"#;
        let cfg: RepoConfig = serde_json::from_str(v1).unwrap();
        for (version, want) in [
            (1, FileDigest::Sha256),
            (3, FileDigest::Sha256),
            (4, FileDigest::Blake3),
        ] {
            let c = RepoConfig {
                version,
                ..cfg.clone()
            };
            assert_eq!(c.file_digest(), want, "version {version}");
        }
    }

    #[test]
    fn a_version_1_config_names_chunks_with_hmac_sha256() {
        let v1 = r#"{"version":1,"repoId":"ab","createdAt":"2026-11-01T00:00:00Z",
            "chunker":{"minSize":524288,"avgSize":1048576,"maxSize":8388608}}"#;
        let cfg: RepoConfig = serde_json::from_str(v1).unwrap();
        assert_eq!(cfg.id_hash(), ChunkIdHash::HmacSha256);
        let v2 = serde_json::to_string(&RepoConfig {
            version: FORMAT_VERSION,
            chunk_id_hash: Some(ChunkIdHash::Blake3Keyed),
            ..cfg.clone()
        })
        .unwrap();
        assert!(v2.contains(r#""chunkIdHash":"blake3-keyed""#), "{v2}");
        let parsed: RepoConfig = serde_json::from_str(&v2).unwrap();
        assert_eq!(parsed.check(), Ok(()));
        assert_eq!(cfg.check(), Ok(()));
        // A version-2 config that lost its hash name, or a version 1 that claims BLAKE3, is refused.
        let v2_without = v1.replace(r#""version":1"#, r#""version":2"#);
        let c: RepoConfig = serde_json::from_str(&v2_without).unwrap();
        assert!(c.check().is_err());
        let v1_blake = v1.replace(
            "\"chunker\"",
            "\"chunkIdHash\":\"blake3-keyed\",\"chunker\"",
        );
        let c: RepoConfig = serde_json::from_str(&v1_blake).unwrap();
        assert!(c.check().is_err());
    }

    #[test]
    fn chunker_sizes_outside_fastcdc_bounds_are_refused() {
        assert_eq!(ChunkerParams::default().validate(), Ok(()));
        for (min, avg, max) in [
            (0, 256, 1024),
            (512, 1, 4096),
            (4096, 1024, 8192),
            (64, 256, 1 << 30),
        ] {
            let p = ChunkerParams {
                min_size: min,
                avg_size: avg,
                max_size: max,
            };
            assert!(p.validate().is_err(), "{p:?}");
        }
    }

    #[test]
    fn shard_keys_fan_out_by_prefix() {
        assert_eq!(shard_key("abcdef", 3), "packs/ab/abcdef.3");
        assert_eq!(parse_shard_key("packs/ab/abcdef.3"), Some(("abcdef", 3)));
        assert_eq!(parse_shard_key("packs/ab/abcdef"), None);
        assert_eq!(content_name(b"").len(), 64);
    }
}
