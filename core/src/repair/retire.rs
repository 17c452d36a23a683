//! Retiring a location: its status object is written to the other
//! locations (so every process stops choosing it for new writes), then
//! every shard it holds is re-created elsewhere and the placement recorded.
//! The location stays in the engine config, read-only, until the operator
//! removes it.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde::{Deserialize, Serialize};

use super::plan::{affected, moves_for, unusable};
use super::{execute, RepairAction, RepairPlan, RepairReport};
use crate::engine::store::Store;
use crate::engine::Inner;
use crate::error::{Error, Result};
use crate::provider::ProviderError;
use crate::repo::{INDEX_PREFIX, LOCATIONS_PREFIX, MANIFEST_PREFIX, SNAPSHOT_PREFIX};

/// The `locations/<id>` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationStatus {
    /// Location id.
    pub id: String,
    /// `retired`.
    pub state: String,
    /// When it was retired.
    pub since: DateTime<Utc>,
}

/// What [`crate::Engine::retire_location`] did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetireReport {
    /// The location.
    pub location: String,
    /// Locations that took the status object.
    pub status_written_to: Vec<String>,
    /// The moves planned.
    pub plan: RepairPlan,
    /// What the moves did.
    pub repair: RepairReport,
}

/// Reads the retired set from the repository into the store (best effort:
/// on failure the set the store has is kept).
pub(crate) async fn refresh_retired(store: &Store) {
    let names = match store.list_union(LOCATIONS_PREFIX).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "location status not refreshed");
            return;
        }
    };
    let mut retired = HashSet::new();
    for name in names {
        let key = format!("{LOCATIONS_PREFIX}{name}");
        for l in &store.locations {
            let Ok(b) = l.provider.get(&key, None).await else {
                continue;
            };
            if let Ok(s) = serde_json::from_slice::<LocationStatus>(&b) {
                if s.state == "retired" {
                    retired.insert(s.id);
                }
                break;
            }
        }
    }
    store.set_retired(retired);
}

/// Plans moving every shard placed at `id` elsewhere.
pub(crate) async fn retire_plan(inner: &Inner, id: &str) -> Result<RepairPlan> {
    if inner.store.location(id).is_none() {
        return Err(Error::invalid(format!("location {id} is not configured")));
    }
    let mut unusable = unusable(inner, None);
    unusable.insert(id.to_owned());
    let mut plan = RepairPlan::default();
    let mut unfixable = Vec::new();
    let cat = inner.catalog.read().await;
    let mut packs: Vec<_> = cat
        .packs
        .values()
        .filter(|p| p.locations.iter().any(|l| l == id))
        .collect();
    packs.sort_by(|a, b| a.id.cmp(&b.id));
    for pack in packs {
        let here: BTreeMap<usize, String> = pack
            .locations
            .iter()
            .enumerate()
            .filter(|(_, l)| *l == id)
            .map(|(i, _)| (i, format!("location {id} is retired")))
            .collect();
        // The shard on the retired location may still be read (copied);
        // it only counts as unavailable when the location is down.
        match moves_for(inner, pack, &here, &unusable) {
            Ok(shards) => plan.actions.push(RepairAction::RebuildShards {
                pack_id: pack.id.clone(),
                shards,
            }),
            Err(detail) => unfixable.push((pack.id.clone(), detail)),
        }
    }
    let coded: Option<Vec<String>> = inner.repo.codes_metadata().then(|| {
        crate::verify::meta::Expectations::new(true, &cat)
            .coded()
            .map(|(k, _)| k.clone())
            .collect()
    });
    drop(cat);
    if let Some(coded) = coded {
        for object in coded_metadata_at(inner, id, coded).await {
            plan.actions.push(RepairAction::CopyMetadata {
                object,
                to: Vec::new(),
            });
        }
    }
    plan.unfixable = affected(inner, unfixable).await;
    Ok(plan)
}

/// The coded metadata objects (format 5) that may have a shard at `id`:
/// what it lists under their prefixes, or, when it cannot be listed, every
/// coded object the catalog knows. Each one's missing shards are rebuilt on
/// the locations still active.
async fn coded_metadata_at(inner: &Inner, id: &str, mut coded: Vec<String>) -> Vec<String> {
    let Some(l) = inner.store.location(id) else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    for prefix in [INDEX_PREFIX, MANIFEST_PREFIX, SNAPSHOT_PREFIX] {
        match l.provider.list(prefix).await {
            Ok(objs) => keys.extend(objs.into_iter().map(|o| o.key)),
            Err(e) => {
                tracing::warn!(location = %id, error = %e, "cannot list the retired location's metadata; checking every coded object");
                coded.sort();
                return coded;
            }
        }
    }
    keys.sort();
    keys
}

/// Retires `id`: status object, then the moves.
pub(crate) async fn retire_location(inner: &Inner, id: &str) -> Result<RetireReport> {
    if inner.store.location(id).is_none() {
        return Err(Error::invalid(format!("location {id} is not configured")));
    }
    let status = LocationStatus {
        id: id.to_owned(),
        state: "retired".into(),
        since: inner.config.context.now(),
    };
    let data =
        Bytes::from(serde_json::to_vec(&status).map_err(|e| Error::Internal(e.to_string()))?);
    let key = format!("{LOCATIONS_PREFIX}{id}");
    let writes = join_all(inner.store.active().filter(|l| l.id != id).map(|l| {
        let (key, data) = (key.clone(), data.clone());
        async move { (l.id.clone(), l.provider.put(&key, data).await) }
    }))
    .await;
    let written: Vec<String> = writes
        .into_iter()
        .filter_map(|(l, r)| r.ok().map(|_| l))
        .collect();
    if written.is_empty() {
        return Err(Error::Storage {
            location: "all".into(),
            source: ProviderError::Unavailable {
                detail: format!("no location took the retirement of {id}"),
            },
        });
    }
    let mut retired: HashSet<String> = inner
        .store
        .locations
        .iter()
        .filter(|l| inner.store.is_retired(&l.id))
        .map(|l| l.id.clone())
        .collect();
    retired.insert(id.to_owned());
    inner.store.set_retired(retired);
    tracing::info!(location = %id, "location retired; moving its shards");
    let plan = retire_plan(inner, id).await?;
    let repair = execute(inner, plan.clone()).await?;
    Ok(RetireReport {
        location: id.to_owned(),
        status_written_to: written,
        plan,
        repair,
    })
}
