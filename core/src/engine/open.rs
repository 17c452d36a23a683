//! Opening (or creating) a repository and rebuilding the catalog from it.

use crate::crypto::wedding::ChunkIdHash;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::join_all;
use futures::{stream, StreamExt, TryStreamExt};
use tokio::sync::RwLock;

use super::catalog::{Catalog, Unreadable};
use super::store::{open_json, Store};
use super::{Engine, EngineConfig, Inner};
use crate::crypto::keys::{KeySlot, MasterKey};
use crate::crypto::CryptoError;
use crate::error::{Error, Result};
use crate::provider::ProviderError;
use crate::repo::{
    MetaKind, RepoConfig, CONFIG_KEY, FORMAT_VERSION, INDEX_PREFIX, KEYS_PREFIX, PACK_PREFIX,
    SNAPSHOT_PREFIX,
};
use crate::snapshot::{IndexRecord, SnapshotRecord};

/// How many metadata objects are fetched at once while loading (small
/// objects; a coded one waits for its k-th fastest location).
const LOAD_CONCURRENCY: usize = 64;

pub(super) async fn open(config: EngineConfig) -> Result<Engine> {
    if config.locations.is_empty() {
        return Err(Error::invalid("no locations configured"));
    }
    let mut ids = std::collections::HashSet::new();
    for l in &config.locations {
        if !ids.insert(l.id.as_str()) {
            return Err(Error::invalid(format!(
                "location id {:?} is used twice",
                l.id
            )));
        }
    }
    config.profiles.validate()?;
    if config.pack_size < 1024 {
        return Err(Error::invalid("pack_size must be at least 1 KiB"));
    }
    std::fs::create_dir_all(&config.state_dir).map_err(|e| Error::io(&config.state_dir, e))?;
    let sched = crate::schedule::Scheduling::open(&config.state_dir)?;
    let store = Store::new(
        config.locations.clone(),
        crate::events::EventBus::default(),
        config.context.clone(),
        config.schedule.degraded_after_failures,
    );

    let (repo, master) = match read_config(&store).await? {
        Some(repo) => {
            let master = unlock(&store, &config, &repo).await?;
            (repo, master)
        }
        None if config.create_if_missing => init(&store, &config).await?,
        None => return Err(Error::NotFound("no repository on any location".into())),
    };
    store.set_codes_metadata(repo.codes_metadata());
    let inner = Inner {
        catalog: RwLock::new(Catalog::default()),
        sched,
        maintenance: RwLock::new(()),
        wedding_keys: Default::default(),
        config,
        repo,
        master,
        store,
    };
    load_catalog(&inner).await?;
    crate::repair::refresh_retired(&inner.store).await;
    Ok(Engine {
        inner: Arc::new(inner),
    })
}

/// The config object from the reachable locations; `None` when every
/// reachable location is empty. Fails when none is reachable, or when two
/// locations belong to different repositories.
async fn read_config(store: &Store) -> Result<Option<RepoConfig>> {
    let reads = join_all(store.locations.iter().map(|l| async move {
        let r = l.provider.get(CONFIG_KEY, None).await;
        store.observe(&l.id, &r);
        (l.id.clone(), r)
    }))
    .await;
    let mut found: Option<RepoConfig> = None;
    let mut reachable = 0;
    let mut failures = Vec::new();
    for (id, r) in reads {
        match r {
            Ok(bytes) => {
                reachable += 1;
                let cfg: RepoConfig = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::corrupt(&id, CONFIG_KEY, format!("unreadable config: {e}"))
                })?;
                cfg.check()
                    .map_err(|e| Error::corrupt(&id, CONFIG_KEY, e))?;
                match &found {
                    Some(f) if f.repo_id != cfg.repo_id => {
                        return Err(Error::invalid(format!(
                            "location {id} belongs to repository {}, the others to {}",
                            cfg.repo_id, f.repo_id
                        )))
                    }
                    Some(_) => {}
                    None => found = Some(cfg),
                }
            }
            Err(ProviderError::NotFound { .. }) => reachable += 1,
            Err(e) => failures.push(format!("{id}: {e}")),
        }
    }
    if reachable == 0 {
        return Err(Error::Storage {
            location: "all".into(),
            source: ProviderError::Unavailable {
                detail: format!("no location reachable ({})", failures.join("; ")),
            },
        });
    }
    Ok(found)
}

/// Tries the key against every key slot; nothing is written.
async fn unlock(store: &Store, config: &EngineConfig, repo: &RepoConfig) -> Result<MasterKey> {
    let names = store.list_union(KEYS_PREFIX).await?;
    if names.is_empty() {
        return Err(Error::corrupt(
            "all",
            KEYS_PREFIX,
            "the repository has no key slots",
        ));
    }
    let mut last_err = None;
    for name in names {
        let bytes = match get_any(store, &format!("{KEYS_PREFIX}{name}")).await {
            Ok(b) => b,
            Err(e) => {
                last_err = Some(e);
                continue;
            }
        };
        let Ok(slot) = serde_json::from_slice::<KeySlot>(&bytes) else {
            continue;
        };
        let (source, repo_id) = (config.key.clone(), repo.repo_id.clone());
        let result = tokio::task::spawn_blocking(move || slot.unlock(&source, &repo_id))
            .await
            .map_err(|e| Error::Internal(format!("key derivation task: {e}")))?;
        match result {
            Ok(master) => return Ok(master),
            Err(CryptoError::Authentication) => {}
            Err(e) => return Err(Error::WrongKey(e.to_string())),
        }
    }
    if let Some(e) = last_err {
        tracing::warn!(error = %e, "a key slot could not be read");
    }
    Err(Error::WrongKey(
        "the passphrase or key file does not open this repository".into(),
    ))
}

/// Reads a non-content-addressed object from the first location that has it.
async fn get_any(store: &Store, key: &str) -> Result<Bytes> {
    let mut last = None;
    for l in &store.locations {
        let r = l.provider.get(key, None).await;
        store.observe(&l.id, &r);
        match r {
            Ok(b) => return Ok(b),
            Err(e) => last = Some(Error::storage(&l.id, e)),
        }
    }
    Err(last.unwrap_or_else(|| Error::NotFound(key.to_owned())))
}

/// Creates a new repository on every location; all must be reachable.
async fn init(store: &Store, config: &EngineConfig) -> Result<(RepoConfig, MasterKey)> {
    let ctx = &config.context;
    config.chunker.validate().map_err(Error::invalid)?;
    let repo = RepoConfig {
        version: FORMAT_VERSION,
        repo_id: hex::encode(ctx.random_bytes::<16>()),
        created_at: ctx.now(),
        chunker: config.chunker,
        chunk_id_hash: Some(ChunkIdHash::Blake3Keyed),
    };
    let (source, kdf, repo_id, ctx2) = (
        config.key.clone(),
        config.kdf,
        repo.repo_id.clone(),
        ctx.clone(),
    );
    let (slot, master) =
        tokio::task::spawn_blocking(move || KeySlot::create(&source, kdf, &repo_id, &ctx2))
            .await
            .map_err(|e| Error::Internal(format!("key derivation task: {e}")))?
            .map_err(|e| Error::WrongKey(e.to_string()))?;
    let slot_key = format!("{KEYS_PREFIX}{}", hex::encode(ctx.random_bytes::<8>()));
    let slot_bytes =
        Bytes::from(serde_json::to_vec(&slot).map_err(|e| Error::Internal(e.to_string()))?);
    let config_bytes =
        Bytes::from(serde_json::to_vec_pretty(&repo).map_err(|e| Error::Internal(e.to_string()))?);
    // Key slot first: a location with a config but no key would be unusable.
    for (key, data) in [
        (&slot_key, slot_bytes),
        (&CONFIG_KEY.to_owned(), config_bytes),
    ] {
        let writes = store.locations.iter().map(|l| {
            let data = data.clone();
            async move { (l.id.clone(), l.provider.put_if_absent(key, data).await) }
        });
        for (id, r) in join_all(writes).await {
            r.map_err(|e| match e {
                ProviderError::AlreadyExists { .. } => Error::invalid(format!(
                    "location {id} was initialised by someone else at the same time; open again"
                )),
                e => Error::storage(&id, e),
            })?;
        }
    }
    // Pack shards fan out over `packs/00`–`ff`: made ready now, not one by
    // one as backups first need them. Only an optimisation, so a failure
    // is logged and the first write creates the directory instead.
    let prefixes: Vec<String> = (0..=255u8)
        .map(|b| format!("{PACK_PREFIX}{b:02x}/"))
        .collect();
    let prefixes = &prefixes;
    for (l, r) in join_all(
        store
            .locations
            .iter()
            .map(|l| async move { (l, l.provider.prepare_prefixes(prefixes).await) }),
    )
    .await
    {
        if let Err(e) = r {
            tracing::warn!(location = %l.id, error = %e, "pack prefixes not prepared");
        }
    }
    tracing::info!(repo_id = %repo.repo_id, locations = store.locations.len(), "repository created");
    Ok((repo, master))
}

/// Loads every snapshot and index object not yet in the catalog.
pub(crate) async fn load_catalog(inner: &Inner) -> Result<()> {
    let (known_indexes, known_snaps) = {
        let cat = inner.catalog.read().await;
        (
            cat.indexes.clone(),
            cat.snapshots
                .keys()
                .cloned()
                .collect::<std::collections::HashSet<_>>(),
        )
    };
    let loaded = fetch_new(inner, &known_indexes, &known_snaps).await?;
    let mut cat = inner.catalog.write().await;
    merge(&mut cat, loaded);
    Ok(())
}

/// Rebuilds the catalog from scratch, so that objects deleted since it was
/// loaded (by prune, in any process) disappear from it, and swaps it in.
pub(crate) async fn reload_catalog(inner: &Inner) -> Result<()> {
    let none = std::collections::HashSet::new();
    let loaded = fetch_new(inner, &none, &none).await?;
    let mut fresh = Catalog::default();
    merge(&mut fresh, loaded);
    *inner.catalog.write().await = fresh;
    Ok(())
}

fn merge(cat: &mut Catalog, loaded: Loaded) {
    for (name, (rec, coded)) in loaded.indexes {
        cat.unreadable.remove(&format!("{INDEX_PREFIX}{name}"));
        if let Some(n) = coded {
            cat.coded_indexes.insert(name.clone(), n);
        }
        cat.add_index(&name, rec);
    }
    for (name, rec) in loaded.snapshots {
        cat.unreadable.remove(&format!("{SNAPSHOT_PREFIX}{name}"));
        cat.snapshots.insert(name, rec);
    }
    cat.unreadable.extend(loaded.unreadable);
    tracing::debug!(
        snapshots = cat.snapshots.len(),
        packs = cat.packs.len(),
        "catalog loaded"
    );
}

/// What [`fetch_new`] read.
#[derive(Default)]
struct Loaded {
    /// With the k+m of a coded index object (`None`: whole copies).
    indexes: Vec<(String, (IndexRecord, Option<usize>))>,
    snapshots: Vec<(String, SnapshotRecord)>,
    /// Objects not read: key, why.
    unreadable: Vec<(String, Unreadable)>,
}

/// Reads the index and snapshot objects not in `known_*`.
async fn fetch_new(
    inner: &Inner,
    known_indexes: &std::collections::HashSet<String>,
    known_snaps: &std::collections::HashSet<String>,
) -> Result<Loaded> {
    let store = &inner.store;
    let (snapshot_names, index_names) = tokio::try_join!(
        store.list_union(SNAPSHOT_PREFIX),
        store.list_union(INDEX_PREFIX)
    )?;
    let new_indexes: Vec<String> = index_names
        .into_iter()
        .filter(|n| !known_indexes.contains(n))
        .collect();
    let new_snaps: Vec<String> = snapshot_names
        .into_iter()
        .filter(|n| !known_snaps.contains(n))
        .collect();
    let mut loaded = Loaded::default();
    for r in read_all::<IndexRecord>(inner, MetaKind::Index, new_indexes).await? {
        match r {
            Ok(i) => loaded.indexes.push(i),
            Err(key) => loaded.unreadable.push(key),
        }
    }
    for r in read_all::<SnapshotRecord>(inner, MetaKind::Snapshot, new_snaps).await? {
        match r {
            Ok((name, (rec, _))) => loaded.snapshots.push((name, rec)),
            Err(key) => loaded.unreadable.push(key),
        }
    }
    Ok(loaded)
}

/// One object read by [`read_all`]: its name, the value and, when it was
/// rebuilt from shards, its k+m; or its key and why it was not read.
type Read<T> = std::result::Result<(String, (T, Option<usize>)), (String, Unreadable)>;

/// Reads and opens the `kind` objects `names`, [`LOAD_CONCURRENCY`] at
/// once. An object that cannot be read is returned as such ([`readable`]);
/// one that is read but does not open fails the load.
async fn read_all<T: serde::de::DeserializeOwned>(
    inner: &Inner,
    kind: MetaKind,
    names: Vec<String>,
) -> Result<Vec<Read<T>>> {
    let (key, aad) = (&inner.master.metadata, &kind.aad(&inner.repo.repo_id));
    let prefix = kind.prefix();
    stream::iter(names)
        .map(|name| async move {
            let object = format!("{prefix}{name}");
            let (bytes, coded) = match readable(inner.store.get_metadata_form(prefix, &name).await)?
            {
                Ok(read) => read,
                Err(why) => return Ok(Err((object, why))),
            };
            let value: T = open_json(key, aad, &bytes, &object)?;
            Ok::<_, Error>(Ok((name, (value, coded))))
        })
        .buffer_unordered(LOAD_CONCURRENCY)
        .try_collect()
        .await
}

/// `Err` for an object [`Store::get_metadata`] could not read: a catalog
/// that refused to load over one would lock every wedding out because one
/// backup was interrupted, one shard rotted or one location is down. The
/// object is logged and kept in [`Catalog::unreadable`].
fn readable<T>(r: Result<T>) -> Result<std::result::Result<T, Unreadable>> {
    let unreadable = match r {
        Ok(b) => return Ok(Ok(b)),
        Err(Error::NotFound(why)) => Unreadable { why, settled: true },
        Err(e @ (Error::Corrupt { .. } | Error::Storage { .. })) => Unreadable {
            why: e.to_string(),
            settled: false,
        },
        Err(e) => return Err(e),
    };
    tracing::warn!(why = %unreadable.why, settled = unreadable.settled, "metadata object not read; left out of the catalog");
    Ok(Err(unreadable))
}
