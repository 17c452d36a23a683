//! Storage providers: the few operations a backend must implement, and the
//! [`Location`] that names one backend inside a repository.
//!
//! A provider stores opaque objects under `/`-separated keys. It never sees
//! plaintext: everything the engine writes is encrypted or is a shard of an
//! encrypted pack. Behaviour such as fault injection or latency is added by
//! wrappers that are themselves providers (see [`fault`] and [`latency`]).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

mod error;
pub mod fault;
pub mod latency;
pub mod local;
pub mod memory;
#[cfg(feature = "s3")]
pub mod s3;

pub use error::ProviderError;

/// Result of a provider operation.
pub type ProviderResult<T> = Result<T, ProviderError>;

/// What a provider knows about one stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// A storage backend: memory, a local directory, an object store.
///
/// Keys are relative, `/`-separated, non-empty, without `.` or `..`
/// components (see [`validate_key`]). Every implementation runs the shared
/// conformance suite in `heirloom::testing`.
#[async_trait]
pub trait StorageProvider: Send + Sync + fmt::Debug + 'static {
    /// Stores `data` under `key`, replacing any existing object atomically:
    /// a reader sees the old object or the new one, never a mix.
    async fn put(&self, key: &str, data: Bytes) -> ProviderResult<()>;

    /// Stores `data` under `key` only if no object exists there; otherwise
    /// fails with [`ProviderError::AlreadyExists`]. Atomic against
    /// concurrent writers of the same key.
    async fn put_if_absent(&self, key: &str, data: Bytes) -> ProviderResult<()>;

    /// Reads the object, or the byte `range` of it. A range past the end is
    /// clamped to the object's size.
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> ProviderResult<Bytes>;

    /// Size of the object.
    async fn head(&self, key: &str) -> ProviderResult<ObjectMeta>;

    /// All objects whose key starts with `prefix`, in no particular order.
    async fn list(&self, prefix: &str) -> ProviderResult<Vec<ObjectMeta>>;

    /// Removes the object. Removing an absent object is not an error.
    async fn delete(&self, key: &str) -> ProviderResult<()>;

    /// Readies the store for objects under each of `prefixes` (keys that end
    /// in `/`), once, when a repository is created. A local folder creates
    /// their directories, as restic creates its `data/00`–`ff`, so that the
    /// first object under each does not create (and fsync) one. Object
    /// stores have nothing to do: the default does nothing.
    async fn prepare_prefixes(&self, prefixes: &[String]) -> ProviderResult<()> {
        let _ = prefixes;
        Ok(())
    }
}

/// Checks that a key is one a provider must accept: non-empty, relative,
/// `/`-separated, with no empty, `.` or `..` component and no NUL or `\`.
pub fn validate_key(key: &str) -> ProviderResult<()> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key.contains('\0')
        || key.contains('\\')
        || key
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(ProviderError::InvalidKey {
            key: key.to_owned(),
        });
    }
    Ok(())
}

/// Clamps a requested byte range to an object of `size` bytes: the end is cut
/// at `size`, and a start past the end (or past the range's end) gives an
/// empty range. `None` means the whole object.
pub(crate) fn clamp_range(range: Option<Range<u64>>, size: u64) -> Range<u64> {
    match range {
        None => 0..size,
        Some(r) => {
            let end = r.end.min(size);
            let start = r.start.min(end);
            start..end
        }
    }
}

/// Storage class of a location: `hot` for everyday reads, `cold` for archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Fast, frequently read storage.
    #[default]
    Hot,
    /// Cheap storage for archived snapshots.
    Cold,
}

impl std::str::FromStr for Tier {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hot" => Ok(Tier::Hot),
            "cold" => Ok(Tier::Cold),
            other => Err(crate::Error::invalid(format!(
                "unknown tier {other:?}: expected hot or cold"
            ))),
        }
    }
}

/// One place the repository stores shards and metadata: a provider with an
/// id, a region (for placement across regions) and a tier.
#[derive(Clone)]
pub struct Location {
    /// Stable id, unique within the repository (e.g. `"eu-west-a"`).
    pub id: String,
    /// Region, used to spread shards geographically.
    pub region: String,
    /// Storage tier.
    pub tier: Tier,
    /// The backend.
    pub provider: Arc<dyn StorageProvider>,
}

impl Location {
    /// A hot location.
    pub fn new(
        id: impl Into<String>,
        region: impl Into<String>,
        provider: Arc<dyn StorageProvider>,
    ) -> Self {
        Location {
            id: id.into(),
            region: region.into(),
            tier: Tier::Hot,
            provider,
        }
    }

    /// The same location with another tier.
    pub fn with_tier(mut self, tier: Tier) -> Self {
        self.tier = tier;
        self
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Location")
            .field("id", &self.id)
            .field("region", &self.region)
            .field("tier", &self.tier)
            .field("provider", &self.provider)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_escape_or_are_empty_are_refused() {
        for bad in [
            "", "/abs", "a//b", "a/../b", "./a", "a/.", "a\\b", "a\0b", "a/",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "packs/ab/cd.0", "snapshots/ü-é", "a.b/c..d"] {
            assert!(validate_key(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    #[allow(
        clippy::reversed_empty_ranges,
        reason = "a reversed request must give an empty range"
    )]
    fn ranges_are_clamped_to_the_object() {
        assert_eq!(clamp_range(None, 10), 0..10);
        assert_eq!(clamp_range(Some(2..5), 10), 2..5);
        assert_eq!(clamp_range(Some(8..50), 10), 8..10);
        assert_eq!(clamp_range(Some(12..50), 10), 10..10);
        assert_eq!(clamp_range(Some(5..3), 10), 3..3);
    }
}
