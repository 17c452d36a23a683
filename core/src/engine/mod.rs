//! The engine: opens a repository across its locations and runs backups
//! and recoveries.

mod backup;
pub(crate) mod catalog;
pub(crate) mod coded;
mod config;
mod fetch;
mod file_hash;
mod ingest;
pub(crate) mod keys;
pub(crate) mod open;
mod packer;
mod progress;
pub(crate) mod recover;
mod restore_fs;
mod scheduling;
mod shard_write;
mod source;
pub(crate) mod store;
mod upkeep;

use std::sync::Arc;

use tokio::sync::RwLock;

pub(crate) use backup::check_wedding_id;
pub use config::EngineConfig;

use crate::api::{
    BackupResult, EmergencyRecoveryRequest, ProgressSink, RecoveryResult, SnapshotInfo,
    WeddingBackupRequest,
};
use crate::crypto::keys::MasterKey;
use crate::error::Result;
use crate::repo::RepoConfig;
use catalog::Catalog;
use store::Store;

/// An open repository. Cheap to clone; clones share everything.
///
/// ```no_run
/// # async fn demo() -> heirloom::Result<()> {
/// use std::sync::Arc;
/// use heirloom::{Engine, EngineConfig, KeySource, Location};
/// use heirloom::provider::local::LocalDirProvider;
/// use heirloom::api::{WeddingBackupRequest, EmergencyRecoveryRequest, Priority};
///
/// let locations = (0..5)
///     .map(|i| {
///         let p = LocalDirProvider::new(format!("/tmp/heirloom/loc{i}"))?;
///         Ok(Location::new(format!("loc{i}"), format!("region-{i}"), Arc::new(p)))
///     })
///     .collect::<Result<Vec<_>, heirloom::ProviderError>>()
///     .map_err(|e| heirloom::Error::Internal(e.to_string()))?;
/// let config = EngineConfig::new(locations, "/tmp/heirloom/state", KeySource::passphrase("secret"));
/// let engine = Engine::open(config).await?;
///
/// let mut request = WeddingBackupRequest::directory("ada-and-grace", "/srv/weddings/ada-and-grace");
/// request.priority = Priority::Critical; // 3+2 across five locations
/// let backup = engine.create_backup(request).await?;
/// println!("snapshot {} stored {} bytes", backup.backup_id, backup.stats.bytes_stored);
///
/// let recovered = engine
///     .recover(EmergencyRecoveryRequest::to_folder("ada-and-grace", "/tmp/restore"))
///     .await?;
/// println!("restored {} files in {} ms", recovered.recovered_files, recovered.duration_ms);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: EngineConfig,
    pub(crate) repo: RepoConfig,
    pub(crate) master: MasterKey,
    pub(crate) store: Store,
    pub(crate) catalog: RwLock<Catalog>,
    /// Held shared by every backup, exclusively by prune while it deletes:
    /// a backup in this engine never runs while packs are being removed.
    pub(crate) maintenance: RwLock<()>,
    /// Calendar, job queue, metrics (the state database).
    pub(crate) sched: crate::schedule::Scheduling,
    wedding_keys: tokio::sync::Mutex<
        std::collections::HashMap<
            (String, crate::api::EncryptionLevel),
            crate::crypto::wedding::DomainKeys,
        >,
    >,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("repo_id", &self.inner.repo.repo_id)
            .field("locations", &self.inner.config.locations.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens the repository on the configured locations, creating it when no
    /// location holds one yet (and `create_if_missing` is set). Reads only
    /// until the key is proven right: a wrong key writes nothing.
    pub async fn open(config: EngineConfig) -> Result<Engine> {
        open::open(config).await
    }

    /// The repository's id.
    pub fn repository_id(&self) -> &str {
        &self.inner.repo.repo_id
    }

    /// Backs up one wedding and commits a snapshot.
    pub async fn create_backup(&self, request: WeddingBackupRequest) -> Result<BackupResult> {
        backup::create_backup(&self.inner, request, None).await
    }

    /// [`Engine::create_backup`], telling `progress` how many files and bytes
    /// have been read, a few times a second.
    pub async fn create_backup_with_progress(
        &self,
        request: WeddingBackupRequest,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<BackupResult> {
        backup::create_backup(&self.inner, request, Some(progress)).await
    }

    /// Restores a wedding from the newest snapshot at or before the target time.
    pub async fn recover(&self, request: EmergencyRecoveryRequest) -> Result<RecoveryResult> {
        recover::recover(&self.inner, request, None).await
    }

    /// [`Engine::recover`], telling `progress` how many files and bytes have
    /// been written, a few times a second.
    pub async fn recover_with_progress(
        &self,
        request: EmergencyRecoveryRequest,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<RecoveryResult> {
        recover::recover(&self.inner, request, Some(progress)).await
    }

    /// Snapshots of one wedding (or of all, with `None`), oldest first.
    pub async fn snapshots(&self, wedding_id: Option<&str>) -> Result<Vec<SnapshotInfo>> {
        let catalog = self.inner.catalog.read().await;
        Ok(catalog
            .snapshots_sorted()
            .filter(|(_, s)| wedding_id.is_none_or(|w| s.wedding_id == w))
            .map(|(id, s)| s.info(id))
            .collect())
    }
}

#[cfg(test)]
mod tests;
