//! [`MemoryProvider`]: objects in a map, for tests and simulation.

use std::collections::BTreeMap;
use std::ops::{Bound, Range};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    clamp_range, validate_key, ObjectMeta, ProviderError, ProviderResult, StorageProvider,
};

/// A provider that keeps every object in memory. Clones share the same
/// objects, so a test can keep a handle while the engine owns another.
#[derive(Debug, Clone, Default)]
pub struct MemoryProvider {
    objects: Arc<Mutex<BTreeMap<String, Bytes>>>,
}

impl MemoryProvider {
    /// An empty provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of objects stored.
    pub fn len(&self) -> usize {
        self.objects().len()
    }

    /// True when no object is stored.
    pub fn is_empty(&self) -> bool {
        self.objects().is_empty()
    }

    fn objects(&self) -> MutexGuard<'_, BTreeMap<String, Bytes>> {
        // A panic while holding the lock cannot leave the map half-updated:
        // every operation is a single map call.
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl StorageProvider for MemoryProvider {
    async fn put(&self, key: &str, data: Bytes) -> ProviderResult<()> {
        validate_key(key)?;
        self.objects().insert(key.to_owned(), data);
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, data: Bytes) -> ProviderResult<()> {
        validate_key(key)?;
        let mut objects = self.objects();
        if objects.contains_key(key) {
            return Err(ProviderError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        objects.insert(key.to_owned(), data);
        Ok(())
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> ProviderResult<Bytes> {
        validate_key(key)?;
        let data = self
            .objects()
            .get(key)
            .cloned()
            .ok_or_else(|| ProviderError::NotFound {
                key: key.to_owned(),
            })?;
        let r = clamp_range(range, data.len() as u64);
        // Both ends are at most `data.len()`, so they fit in usize.
        Ok(data.slice(r.start as usize..r.end as usize))
    }

    async fn head(&self, key: &str) -> ProviderResult<ObjectMeta> {
        validate_key(key)?;
        let size = self
            .objects()
            .get(key)
            .map(|d| d.len() as u64)
            .ok_or_else(|| ProviderError::NotFound {
                key: key.to_owned(),
            })?;
        Ok(ObjectMeta {
            key: key.to_owned(),
            size,
        })
    }

    async fn list(&self, prefix: &str) -> ProviderResult<Vec<ObjectMeta>> {
        let objects = self.objects();
        Ok(objects
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectMeta {
                key: k.clone(),
                size: v.len() as u64,
            })
            .collect())
    }

    async fn delete(&self, key: &str) -> ProviderResult<()> {
        validate_key(key)?;
        self.objects().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clones_share_objects() {
        let a = MemoryProvider::new();
        let b = a.clone();
        a.put("x/y", Bytes::from_static(b"hello")).await.unwrap();
        assert_eq!(b.get("x/y", Some(1..3)).await.unwrap(), "el");
        assert_eq!(b.len(), 1);
        b.delete("x/y").await.unwrap();
        assert!(a.is_empty());
    }

    #[tokio::test]
    async fn list_stops_at_the_end_of_the_prefix() {
        let p = MemoryProvider::new();
        for k in ["a/1", "a/2", "ab", "b/1"] {
            p.put(k, Bytes::from_static(b"1")).await.unwrap();
        }
        let mut keys: Vec<_> = p
            .list("a")
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.key)
            .collect();
        keys.sort();
        assert_eq!(keys, ["a/1", "a/2", "ab"]);
        assert_eq!(p.list("").await.unwrap().len(), 4);
        assert!(p.list("c").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn put_if_absent_keeps_the_first_object() {
        let p = MemoryProvider::new();
        p.put_if_absent("k", Bytes::from_static(b"one"))
            .await
            .unwrap();
        let err = p
            .put_if_absent("k", Bytes::from_static(b"two"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ProviderError::AlreadyExists { .. }),
            "{err:?}"
        );
        assert_eq!(p.get("k", None).await.unwrap(), "one");
    }
}
