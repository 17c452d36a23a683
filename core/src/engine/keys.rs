//! The keys that seal a wedding's data, by encryption level.

use bytes::Bytes;
use futures::future::join_all;

use super::Inner;
use crate::api::EncryptionLevel;
use crate::crypto::wedding::{
    keyed_hash, new_wedding_key, open_wedding_key, DomainKeys, Protection, WeddingKeyError,
    WrappedWeddingKey,
};
use crate::error::{Error, Result};
use crate::provider::ProviderError;
use crate::repo::WEDDING_KEYS_PREFIX;

fn record_key(inner: &Inner, wedding: &str, level: EncryptionLevel) -> String {
    let hashed = hex::encode(keyed_hash(&inner.master.wrap, wedding.as_bytes()));
    format!("{WEDDING_KEYS_PREFIX}{hashed}-{level}")
}

fn map_err(wedding: &str, e: WeddingKeyError) -> Error {
    match e {
        WeddingKeyError::ProviderRequired => Error::KeyProviderRequired,
        WeddingKeyError::Provider(p) => {
            Error::WrongKey(format!("wedding {wedding}: the key provider refused: {p}"))
        }
        WeddingKeyError::Crypto(c) => Error::WrongKey(format!(
            "wedding {wedding}: its data key does not open: {c}"
        )),
    }
}

/// The repository-wide keys (`standard` encryption), naming chunks as the
/// repository's config says.
pub(crate) fn repository_keys(inner: &Inner) -> DomainKeys {
    DomainKeys::repository(&inner.master, inner.repo.id_hash())
}

/// The keys for `wedding` at `level`. With `create`, a missing wedding key
/// is made and stored on every location (at least `required` must take it).
pub(crate) async fn domain_keys(
    inner: &Inner,
    wedding: &str,
    level: EncryptionLevel,
    create: Option<usize>,
) -> Result<DomainKeys> {
    let protection = match level {
        EncryptionLevel::Standard => return Ok(repository_keys(inner)),
        EncryptionLevel::Enhanced => Protection::Repository,
        EncryptionLevel::GovernmentGrade => {
            if inner.config.key_provider.is_none() {
                return Err(Error::KeyProviderRequired);
            }
            Protection::KeyProvider
        }
    };
    let mut cache = inner.wedding_keys.lock().await;
    if let Some(k) = cache.get(&(wedding.to_owned(), level)) {
        return Ok(k.clone());
    }
    let key = record_key(inner, wedding, level);
    let keys = match read_record(inner, &key).await? {
        Some(stored) => open_blocking(inner, wedding, stored).await?,
        None => {
            let Some(required) = create else {
                return Err(Error::NotFound(format!(
                    "wedding {wedding}: no {level} data key in the repository"
                )));
            };
            let provider = inner.config.key_provider.clone();
            let (master, ctx, w, id_hash) = (
                inner.master.clone(),
                inner.config.context.clone(),
                wedding.to_owned(),
                inner.repo.id_hash(),
            );
            let (stored, keys) = tokio::task::spawn_blocking(move || {
                new_wedding_key(&w, protection, &master, provider.as_deref(), &ctx, id_hash)
            })
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .map_err(|e| map_err(wedding, e))?;
            let data = Bytes::from(
                serde_json::to_vec(&stored).map_err(|e| Error::Internal(e.to_string()))?,
            );
            let writes = join_all(inner.store.locations.iter().map(|l| {
                let (key, data) = (key.clone(), data.clone());
                async move { (l, l.provider.put_if_absent(&key, data).await) }
            }))
            .await;
            let mut ok = 0;
            for (l, r) in writes {
                match r {
                    Ok(()) => ok += 1,
                    // Another writer made this wedding's key first: use theirs.
                    Err(ProviderError::AlreadyExists { .. }) => {
                        let theirs = l
                            .provider
                            .get(&key, None)
                            .await
                            .map_err(|e| Error::storage(&l.id, e))?;
                        let stored: WrappedWeddingKey = serde_json::from_slice(&theirs)
                            .map_err(|e| Error::corrupt(&l.id, &key, e.to_string()))?;
                        let keys = open_blocking(inner, wedding, stored).await?;
                        cache.insert((wedding.to_owned(), level), keys.clone());
                        return Ok(keys);
                    }
                    Err(e) => {
                        tracing::warn!(location = %l.id, error = %e, "wedding key not stored here")
                    }
                }
            }
            if ok < required {
                return Err(Error::Storage {
                    location: "all".into(),
                    source: ProviderError::Unavailable {
                        detail: format!("wedding key reached {ok} of {required} locations"),
                    },
                });
            }
            keys
        }
    };
    cache.insert((wedding.to_owned(), level), keys.clone());
    Ok(keys)
}

async fn read_record(inner: &Inner, key: &str) -> Result<Option<WrappedWeddingKey>> {
    let mut unreachable = Vec::new();
    for l in &inner.store.locations {
        let r = l.provider.get(key, None).await;
        inner.store.observe(&l.id, &r);
        match r {
            Ok(b) => match serde_json::from_slice(&b) {
                Ok(stored) => return Ok(Some(stored)),
                Err(e) => {
                    tracing::warn!(location = %l.id, object = key, error = %e, "unreadable wedding key copy")
                }
            },
            Err(ProviderError::NotFound { .. }) => {}
            Err(e) => unreachable.push(format!("{}: {e}", l.id)),
        }
    }
    if unreachable.len() == inner.store.locations.len() {
        return Err(Error::Storage {
            location: "all".into(),
            source: ProviderError::Unavailable {
                detail: unreachable.join("; "),
            },
        });
    }
    Ok(None)
}

async fn open_blocking(
    inner: &Inner,
    wedding: &str,
    stored: WrappedWeddingKey,
) -> Result<DomainKeys> {
    let provider = inner.config.key_provider.clone();
    let (master, w, id_hash) = (
        inner.master.clone(),
        wedding.to_owned(),
        inner.repo.id_hash(),
    );
    tokio::task::spawn_blocking(move || {
        open_wedding_key(&w, &stored, &master, provider.as_deref(), id_hash)
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
    .map_err(|e| map_err(wedding, e))
}
