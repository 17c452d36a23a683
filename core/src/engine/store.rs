//! The engine's view of its locations: which are reachable, and metadata
//! objects replicated to all of them (or, from format 5, erasure-coded
//! across them: [`super::coded`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;
use futures::stream::{FuturesUnordered, StreamExt};

use super::coded::{classify, MetaCopy, ShardSet};
use crate::error::{Error, Result};
use crate::events::{Event, EventBus};
use crate::provider::{Location, ProviderError};
use crate::repo::{content_name, CONFIG_KEY};

/// How long a backup waits for a location to answer before leaving it out.
pub(crate) const BACKUP_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a metadata read waits before asking the next location as well.
const METADATA_HEDGE: Duration = Duration::from_millis(250);

/// The locations and what the engine has seen of them.
///
/// A location is *down* after one transient failure and *up* after one
/// success (that only orders reads and placement). It is *degraded* after
/// `degraded_after` consecutive transient failures, which emits
/// [`Event::LocationDegraded`] (and the scheduler queues its repair); the
/// next success emits [`Event::LocationRecovered`].
pub(crate) struct Store {
    pub locations: Vec<Location>,
    down: Mutex<HashSet<String>>,
    /// Location → (consecutive transient failures, degraded).
    failures: Mutex<HashMap<String, (u32, bool)>>,
    degraded_after: u32,
    pub events: EventBus,
    ctx: crate::Context,
    /// Locations retired (a `locations/<id>` status object): never chosen
    /// for new writes.
    retired: Mutex<HashSet<String>>,
    /// The repository codes its metadata (format 5): reads ask every
    /// location at once.
    codes_metadata: AtomicBool,
}

impl Store {
    pub(crate) fn new(
        locations: Vec<Location>,
        events: EventBus,
        ctx: crate::Context,
        degraded_after: u32,
    ) -> Self {
        Store {
            locations,
            down: Mutex::new(HashSet::new()),
            retired: Mutex::new(HashSet::new()),
            failures: Mutex::new(HashMap::new()),
            degraded_after: degraded_after.max(1),
            events,
            ctx,
            codes_metadata: AtomicBool::new(false),
        }
    }

    /// Tells reads that the repository codes its metadata (format 5).
    pub(crate) fn set_codes_metadata(&self, coded: bool) {
        self.codes_metadata.store(coded, Ordering::Relaxed);
    }

    /// True when the location failed `degraded_after` times in a row and
    /// has not answered since.
    pub(crate) fn is_degraded(&self, location: &str) -> bool {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(location)
            .is_some_and(|(_, degraded)| *degraded)
    }

    /// Counts a failure or a success toward the degraded state.
    fn track(&self, location: &str, failed: Option<&ProviderError>) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let entry = failures.entry(location.to_owned()).or_default();
        let event = match failed {
            Some(e) => {
                entry.0 = entry.0.saturating_add(1);
                (!entry.1 && entry.0 >= self.degraded_after).then(|| {
                    entry.1 = true;
                    tracing::warn!(location, failures = entry.0, error = %e, "location degraded");
                    Event::LocationDegraded {
                        location: location.to_owned(),
                        failures: entry.0,
                        error: e.to_string(),
                        at: self.ctx.now(),
                    }
                })
            }
            None => {
                let was = std::mem::take(entry);
                was.1.then(|| {
                    tracing::info!(location, "degraded location recovered");
                    Event::LocationRecovered {
                        location: location.to_owned(),
                        at: self.ctx.now(),
                    }
                })
            }
        };
        drop(failures);
        if let Some(e) = event {
            self.events.emit(e);
        }
    }

    /// True when the location has been retired.
    pub(crate) fn is_retired(&self, location: &str) -> bool {
        self.retired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(location)
    }

    /// Replaces the set of retired locations.
    pub(crate) fn set_retired(&self, ids: HashSet<String>) {
        *self.retired.lock().unwrap_or_else(|p| p.into_inner()) = ids;
    }

    /// Configured locations that are not retired.
    pub(crate) fn active(&self) -> impl Iterator<Item = &Location> {
        self.locations.iter().filter(|l| !self.is_retired(&l.id))
    }

    pub(crate) fn location(&self, id: &str) -> Option<&Location> {
        self.locations.iter().find(|l| l.id == id)
    }

    /// Records the outcome of a call: a transient failure marks the location
    /// down, a success marks it up.
    pub(crate) fn observe<T>(
        &self,
        location: &str,
        result: &std::result::Result<T, ProviderError>,
    ) {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Err(e) if e.is_transient() => {
                if down.insert(location.to_owned()) {
                    tracing::warn!(location, error = %e, "location unavailable");
                }
                drop(down);
                self.track(location, Some(e));
            }
            Ok(_) => {
                if down.remove(location) {
                    tracing::info!(location, "location reachable again");
                }
                drop(down);
                self.track(location, None);
            }
            Err(_) => {}
        }
    }

    pub(crate) fn is_down(&self, location: &str) -> bool {
        self.down
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(location)
    }

    /// Asks every location for the config object within `timeout`; returns
    /// the ones that answered. A location that errs is marked down; one that
    /// is merely slow is left as it was (slow is not down).
    pub(crate) async fn probe(&self, timeout: Duration) -> Vec<&Location> {
        let checks = self.locations.iter().map(|l| async move {
            match tokio::time::timeout(timeout, l.provider.head(CONFIG_KEY)).await {
                Ok(r) => {
                    self.observe(&l.id, &r);
                    (l, r.is_ok())
                }
                Err(_) => {
                    tracing::debug!(location = %l.id, "probe timed out");
                    (l, false)
                }
            }
        });
        join_all(checks)
            .await
            .into_iter()
            .filter(|(_, ok)| *ok)
            .map(|(l, _)| l)
            .collect()
    }

    /// Writes a sealed metadata object under `prefix + sha256(bytes)` to
    /// every location (create-if-absent; an existing copy is the same
    /// bytes). Fails unless at least `required` locations took it.
    pub(crate) async fn put_replicated(
        &self,
        prefix: &str,
        sealed: Vec<u8>,
        required: usize,
    ) -> Result<(String, Vec<String>)> {
        let name = content_name(&sealed);
        let key = format!("{prefix}{name}");
        let data = Bytes::from(sealed);
        let writes = self.locations.iter().map(|l| {
            let (key, data) = (key.clone(), data.clone());
            async move {
                let r = match l.provider.put_if_absent(&key, data).await {
                    Err(ProviderError::AlreadyExists { .. }) => Ok(()),
                    other => other,
                };
                self.observe(&l.id, &r);
                (l.id.clone(), r)
            }
        });
        let mut ok = Vec::new();
        let mut failures = Vec::new();
        for (id, r) in join_all(writes).await {
            match r {
                Ok(()) => ok.push(id),
                Err(e) => failures.push(format!("{id}: {e}")),
            }
        }
        if ok.len() < required {
            return Err(Error::Storage {
                location: failures.join("; "),
                source: ProviderError::Unavailable {
                    detail: format!(
                        "{key} reached {} of the {required} locations it needs",
                        ok.len()
                    ),
                },
            });
        }
        if !failures.is_empty() {
            tracing::warn!(object = %key, failed = ?failures, "metadata not replicated everywhere; repair will copy it");
        }
        Ok((name, ok))
    }

    /// Reads a metadata object: a whole copy (its bytes hash to its name)
    /// from any location, or k intact shards of it ([`super::coded`]).
    /// Reachable locations are asked first. For a repository that codes
    /// its metadata every location is asked at once (k answers are needed);
    /// otherwise one at a time, the next after a failure or after
    /// `METADATA_HEDGE` without an answer, and all the rest as soon as one
    /// answers with a shard.
    ///
    /// Fails with [`Error::Corrupt`] when a damaged copy was seen, else
    /// with [`Error::Storage`] when a location did not answer, else (every
    /// location answered, yet no whole copy or k shards exist: an
    /// interrupted write, or more lost than the object survives) with
    /// [`Error::NotFound`].
    pub(crate) async fn get_metadata(&self, prefix: &str, name: &str) -> Result<Bytes> {
        self.get_metadata_form(prefix, name).await.map(|(b, _)| b)
    }

    /// [`Store::get_metadata`], with how the object is stored: `Some(k+m)`
    /// when it was rebuilt from shards, `None` for a whole copy.
    pub(crate) async fn get_metadata_form(
        &self,
        prefix: &str,
        name: &str,
    ) -> Result<(Bytes, Option<usize>)> {
        let key = format!("{prefix}{name}");
        let mut order: Vec<&Location> = self.locations.iter().collect();
        order.sort_by_key(|l| self.is_down(&l.id));
        let mut order = order.into_iter();
        let mut pending = FuturesUnordered::new();
        let first_wave = if self.codes_metadata.load(Ordering::Relaxed) {
            order.len()
        } else {
            1
        };
        pending.extend(
            order
                .by_ref()
                .take(first_wave)
                .map(|l| fetch_one(l, key.clone())),
        );
        let hedge = tokio::time::sleep(METADATA_HEDGE);
        tokio::pin!(hedge);
        let mut problems = Vec::new();
        let mut shards = ShardSet::default();
        // A damaged copy, or a location that could not answer: the object
        // may exist in full after all.
        let (mut damaged, mut unanswered) = (false, false);
        loop {
            tokio::select! {
                next = pending.next() => {
                    let Some((l, r)) = next else { break };
                    self.observe(&l.id, &r);
                    match r.map(|bytes| (classify(name, &bytes), bytes)) {
                        Ok((MetaCopy::Whole, bytes)) => return Ok((bytes, None)),
                        Ok((MetaCopy::Shard(h), bytes)) => {
                            shards.add(&h, bytes);
                            match shards.decode(name) {
                                Some(Ok((data, n))) => return Ok((Bytes::from(data), Some(n))),
                                Some(Err(e)) => {
                                    problems.push(format!("shards up to {}: {e}", l.id));
                                    damaged = true;
                                }
                                None => {}
                            }
                            // More shards are needed: ask everyone left.
                            pending.extend(order.by_ref().map(|l| fetch_one(l, key.clone())));
                        }
                        Ok((MetaCopy::Bad(why), _)) => {
                            tracing::warn!(location = %l.id, object = %key, %why, "damaged metadata copy");
                            problems.push(format!("{}: {why}", l.id));
                            damaged = true;
                        }
                        Err(e) => {
                            unanswered |= !matches!(e, ProviderError::NotFound { .. });
                            problems.push(format!("{}: {e}", l.id));
                        }
                    }
                    pending.extend(order.next().map(|l| fetch_one(l, key.clone())));
                }
                _ = &mut hedge, if order.len() > 0 => {
                    pending.extend(order.next().map(|l| fetch_one(l, key.clone())));
                    hedge.as_mut().reset(tokio::time::Instant::now() + METADATA_HEDGE);
                }
            }
        }
        let have = shards
            .best()
            .map(|(k, _, s)| {
                format!(
                    "; it needs {k} shards, {} are readable",
                    s.iter().flatten().count()
                )
            })
            .unwrap_or_default();
        let detail = format!("no intact copy{have} ({})", problems.join("; "));
        if damaged {
            Err(Error::Corrupt {
                location: "all".into(),
                object: key,
                detail,
            })
        } else if unanswered {
            Err(Error::Storage {
                location: "all".into(),
                source: ProviderError::Unavailable {
                    detail: format!("{key}: {detail}"),
                },
            })
        } else {
            // Every location answered and none holds a damaged copy: the
            // object is not stored in full (an interrupted write, or more
            // locations lost than it can survive).
            Err(Error::NotFound(format!("{key}: {detail}")))
        }
    }

    /// Names under `prefix` on any reachable location (the union).
    pub(crate) async fn list_union(&self, prefix: &str) -> Result<HashSet<String>> {
        let lists = join_all(self.locations.iter().map(|l| async move {
            let r = l.provider.list(prefix).await;
            self.observe(&l.id, &r);
            r
        }))
        .await;
        let mut names = HashSet::new();
        let mut any_ok = false;
        for objs in lists.into_iter().flatten() {
            any_ok = true;
            names.extend(
                objs.into_iter()
                    .filter_map(|o| o.key.strip_prefix(prefix).map(str::to_owned)),
            );
        }
        if !any_ok {
            return Err(Error::Storage {
                location: "all".into(),
                source: ProviderError::Unavailable {
                    detail: format!("no location could list {prefix}"),
                },
            });
        }
        Ok(names)
    }
}

async fn fetch_one(
    l: &Location,
    key: String,
) -> (&Location, std::result::Result<Bytes, ProviderError>) {
    let r = l.provider.get(&key, None).await;
    (l, r)
}

/// Serializes and seals a metadata value.
pub(crate) fn seal_json<T: serde::Serialize>(
    key: &crate::crypto::aead::SecretKey,
    ctx: &crate::Context,
    aad: &[u8],
    value: &T,
    compress: bool,
) -> Result<Vec<u8>> {
    let mut plain =
        serde_json::to_vec(value).map_err(|e| Error::Internal(format!("serialize: {e}")))?;
    if compress {
        plain = crate::pack::compress::compress_meta(&plain)
            .map_err(|e| Error::Internal(format!("compress: {e}")))?;
    }
    crate::crypto::aead::seal(key, ctx, aad, &plain).map_err(|e| Error::Internal(e.to_string()))
}

/// Opens and parses a metadata value; `object` names it in errors.
pub(crate) fn open_json<T: serde::de::DeserializeOwned>(
    key: &crate::crypto::aead::SecretKey,
    aad: &[u8],
    sealed: &[u8],
    object: &str,
) -> Result<T> {
    let plain = crate::crypto::aead::open(key, aad, sealed)
        .map_err(|e| Error::corrupt("-", object, e.to_string()))?;
    let plain = crate::pack::compress::meta_json(plain)
        .map_err(|e| Error::corrupt("-", object, format!("does not inflate: {e}")))?;
    serde_json::from_slice(&plain)
        .map_err(|e| Error::corrupt("-", object, format!("unreadable: {e}")))
}
