//! The engine's view of its locations: which are reachable, and metadata
//! objects replicated to all of them.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;

use crate::error::{Error, Result};
use crate::provider::{Location, ProviderError};
use crate::repo::{content_name, CONFIG_KEY};

/// How long a reachability probe may take before the location counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The locations and what the engine has seen of them.
pub(crate) struct Store {
    pub locations: Vec<Location>,
    down: Mutex<HashSet<String>>,
    /// Locations retired (a `locations/<id>` status object): never chosen
    /// for new writes.
    retired: Mutex<HashSet<String>>,
}

impl Store {
    pub(crate) fn new(locations: Vec<Location>) -> Self {
        Store {
            locations,
            down: Mutex::new(HashSet::new()),
            retired: Mutex::new(HashSet::new()),
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
            }
            Ok(_) => {
                if down.remove(location) {
                    tracing::info!(location, "location reachable again");
                }
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

    /// Asks every location for the config object; returns the reachable ones.
    pub(crate) async fn probe(&self) -> Vec<&Location> {
        let checks = self.locations.iter().map(|l| async move {
            let r = match tokio::time::timeout(PROBE_TIMEOUT, l.provider.head(CONFIG_KEY)).await {
                Ok(r) => r,
                Err(_) => Err(ProviderError::Unavailable {
                    detail: "probe timed out".into(),
                }),
            };
            self.observe(&l.id, &r);
            (l, r.is_ok())
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

    /// Reads a metadata object from the first location that has an intact
    /// copy (its bytes hash to its name), reachable locations first.
    pub(crate) async fn get_replicated(&self, prefix: &str, name: &str) -> Result<Bytes> {
        let key = format!("{prefix}{name}");
        let mut order: Vec<&Location> = self.locations.iter().collect();
        order.sort_by_key(|l| self.is_down(&l.id));
        let mut problems = Vec::new();
        for l in order {
            let r = l.provider.get(&key, None).await;
            self.observe(&l.id, &r);
            match r {
                Ok(bytes) if content_name(&bytes) == name => return Ok(bytes),
                Ok(_) => {
                    tracing::warn!(location = %l.id, object = %key, "metadata copy does not match its name");
                    problems.push(format!("{}: corrupt copy", l.id));
                }
                Err(e) => problems.push(format!("{}: {e}", l.id)),
            }
        }
        Err(Error::Corrupt {
            location: "all".into(),
            object: key,
            detail: format!("no intact copy ({})", problems.join("; ")),
        })
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

/// Serializes and seals a metadata value.
pub(crate) fn seal_json<T: serde::Serialize>(
    key: &crate::crypto::aead::SecretKey,
    ctx: &crate::Context,
    aad: &[u8],
    value: &T,
) -> Result<Vec<u8>> {
    let plain =
        serde_json::to_vec(value).map_err(|e| Error::Internal(format!("serialize: {e}")))?;
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
    serde_json::from_slice(&plain)
        .map_err(|e| Error::corrupt("-", object, format!("unreadable: {e}")))
}
