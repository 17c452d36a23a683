//! The engine's scheduling, status and alert surface (thin: the work is in
//! `crate::schedule` and `crate::health`), and the catalog facts they read.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::keys::domain_keys;
use super::{recover, Engine};
use crate::api::{BackupSystemStatus, HealthReport, LocationHealth, Priority, RecoveryCapability};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::schedule::{Calendar, JobId, JobInfo, JobRequest, ScheduleConfig, Scheduling};
use crate::snapshot::EntryKind;
use crate::Context;

/// What the catalog and the locations say right now.
#[derive(Debug, Clone)]
pub(crate) struct CatalogFacts {
    pub locations: Vec<LocationHealth>,
    pub capability: RecoveryCapability,
    pub storage_used: u64,
    /// Wedding → (latest snapshot id, its time).
    pub latest: HashMap<String, (String, DateTime<Utc>)>,
}

impl Engine {
    /// The wedding calendar (add, update, remove, list), kept in the state database.
    pub fn calendar(&self) -> Calendar {
        let s = &self.inner.sched;
        Calendar::new(s.db.clone(), self.context().clone(), s.wake.clone())
    }

    /// Queues a job; returns its id. See [`JobRequest::priority`] for its class.
    pub fn enqueue(&self, request: JobRequest) -> Result<JobId> {
        crate::schedule::enqueue(self, request)
    }

    /// One job of the queue, in any state.
    pub fn job(&self, id: JobId) -> Result<Option<JobInfo>> {
        self.inner.sched.queue.get(id)
    }

    /// Every job the queue holds, oldest first.
    pub fn jobs(&self) -> Result<Vec<JobInfo>> {
        self.inner.sched.queue.list()
    }

    /// Runs the scheduler until `shutdown` is cancelled: calendar backups,
    /// real-time folders, queued jobs. Jobs cut off by a crash or by the
    /// end of the shutdown grace are resumed by the next `run`. Run it in
    /// one process per state folder.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<()> {
        crate::schedule::worker::run(self.clone(), shutdown).await
    }

    /// Subscribes to alerts and progress.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.store.events.subscribe()
    }

    /// Counters, queue, storage and health, from the state database and the catalog.
    pub async fn status(&self) -> Result<BackupSystemStatus> {
        crate::health::status::status(self).await
    }

    /// The health report: five checks and a 0–100 score.
    pub async fn health(&self) -> Result<HealthReport> {
        crate::health::report::health(self).await
    }

    /// Metrics in the Prometheus text exposition format.
    pub async fn metrics_text(&self) -> String {
        crate::health::status::refresh_metrics(self).await;
        self.inner.sched.metrics.encode()
    }

    pub(crate) fn scheduling(&self) -> &Scheduling {
        &self.inner.sched
    }

    pub(crate) fn schedule_config(&self) -> &ScheduleConfig {
        &self.inner.config.schedule
    }

    pub(crate) fn context(&self) -> &Context {
        &self.inner.config.context
    }

    pub(crate) fn state_dir(&self) -> &std::path::Path {
        &self.inner.config.state_dir
    }

    pub(crate) fn emit(&self, event: Event) {
        self.inner.store.events.emit(event);
    }

    /// Asks every location whether it is there (feeds down/degraded).
    pub(crate) async fn probe_locations(&self) {
        self.inner
            .store
            .probe(super::store::BACKUP_PROBE_TIMEOUT)
            .await;
    }

    /// The critical profile's k + m.
    pub(crate) fn critical_profile(&self) -> (usize, usize) {
        let p = self.inner.config.profiles.critical;
        (p.data_shards, p.parity_shards)
    }

    fn unhealthy(&self, location: &str) -> bool {
        self.inner.store.is_down(location) || self.inner.store.is_degraded(location)
    }

    /// Locations, shard availability, storage used, latest snapshots.
    pub(crate) async fn catalog_facts(&self) -> CatalogFacts {
        let store = &self.inner.store;
        let cat = self.inner.catalog.read().await;
        let mut shards: HashMap<&str, u64> = HashMap::new();
        let mut capability = RecoveryCapability::Optimal;
        let mut shard_bytes = 0u64;
        for pack in cat.packs.values() {
            let mut healthy = 0;
            for l in &pack.locations {
                *shards.entry(l.as_str()).or_default() += 1;
                if !self.unhealthy(l) {
                    healthy += 1;
                }
            }
            shard_bytes += pack.shard_size * pack.locations.len() as u64;
            if healthy < pack.k {
                capability = RecoveryCapability::Critical;
            } else if healthy < pack.locations.len() && capability == RecoveryCapability::Optimal {
                capability = RecoveryCapability::Degraded;
            }
        }
        // Snapshot stats count shards (× n) and metadata: once in formats
        // 1–4, which copy it to every location; as the shards written in
        // format 5, which codes it like the data.
        let stored_by_backups: u64 = cat.snapshots.values().map(|s| s.stats.bytes_stored).sum();
        let metadata = stored_by_backups.saturating_sub(shard_bytes);
        let copies = if self.inner.repo.codes_metadata() {
            1
        } else {
            store.locations.len() as u64
        };
        let storage_used = shard_bytes + metadata * copies;
        let mut latest: HashMap<String, (String, DateTime<Utc>)> = HashMap::new();
        for (id, s) in cat.snapshots_sorted() {
            latest.insert(s.wedding_id.clone(), (id.clone(), s.time));
        }
        let locations = store
            .locations
            .iter()
            .map(|l| LocationHealth {
                id: l.id.clone(),
                region: l.region.clone(),
                down: store.is_down(&l.id),
                degraded: store.is_degraded(&l.id),
                shards: shards.get(l.id.as_str()).copied().unwrap_or(0),
            })
            .collect();
        CatalogFacts {
            locations,
            capability,
            storage_used,
            latest,
        }
    }

    /// Ids of the packs a snapshot's files use (from its manifest; cached).
    pub(crate) async fn snapshot_packs(&self, snapshot_id: &str) -> Result<Arc<Vec<String>>> {
        if let Some(p) = self.cached_packs(snapshot_id) {
            return Ok(p);
        }
        let inner = &self.inner;
        let record = inner
            .catalog
            .read()
            .await
            .snapshots
            .get(snapshot_id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("snapshot {snapshot_id}")))?;
        let keys = domain_keys(inner, &record.wedding_id, record.encryption, None).await?;
        let manifest = recover::load_manifest(inner, &record, &keys).await?;
        let cat = inner.catalog.read().await;
        let mut packs = HashSet::new();
        for e in manifest
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::File)
        {
            for c in &e.chunks {
                let mut id = [0u8; 32];
                if hex::decode_to_slice(&c.id, &mut id).is_ok() {
                    if let Some(loc) = cat.chunks.get(&id) {
                        packs.insert(loc.pack.id.clone());
                    }
                }
            }
        }
        let mut packs: Vec<String> = packs.into_iter().collect();
        packs.sort();
        let packs = Arc::new(packs);
        self.inner
            .sched
            .snapshot_packs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(snapshot_id.to_owned(), packs.clone());
        Ok(packs)
    }

    fn cached_packs(&self, snapshot_id: &str) -> Option<Arc<Vec<String>>> {
        self.inner
            .sched
            .snapshot_packs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(snapshot_id)
            .cloned()
    }

    /// True when every shard of every pack the snapshot uses is on a
    /// location that is neither down nor degraded.
    pub(crate) async fn fully_redundant(&self, snapshot_id: &str) -> Result<bool> {
        let packs = self.snapshot_packs(snapshot_id).await?;
        let cat = self.inner.catalog.read().await;
        Ok(packs.iter().all(|p| {
            cat.packs
                .get(p)
                .is_some_and(|p| p.locations.iter().all(|l| !self.unhealthy(l)))
        }))
    }

    /// Weddings whose latest snapshot uses packs with a shard on `location`,
    /// with how many such packs.
    pub(crate) async fn packs_on_location(&self, location: &str) -> Vec<(String, u64)> {
        let latest = self.catalog_facts().await.latest;
        let mut out = Vec::new();
        for (wedding, (snapshot, _)) in latest {
            let packs = match self.snapshot_packs(&snapshot).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(wedding = %wedding, error = %e, "cannot list the packs of a snapshot");
                    continue;
                }
            };
            let cat = self.inner.catalog.read().await;
            let n = packs
                .iter()
                .filter(|p| {
                    cat.packs
                        .get(*p)
                        .is_some_and(|p| p.locations.iter().any(|l| l == location))
                })
                .count() as u64;
            if n > 0 {
                out.push((wedding, n));
            }
        }
        out.sort();
        out
    }

    /// The class the policy gives a wedding on the calendar now.
    pub(crate) fn classify(&self, wedding: &str) -> Result<Option<Priority>> {
        let now = self.context().now();
        Ok(self
            .calendar()
            .get(wedding)?
            .map(|e| self.schedule_config().policy.classify(&e, now)))
    }
}
