//! What an engine is opened with.

use std::path::PathBuf;
use std::sync::Arc;

use crate::crypto::{KdfParams, KeyProvider, KeySource};
use crate::pack::DEFAULT_PACK_SIZE;
use crate::placement::{PlacementPolicy, RedundancyProfiles, RegionSpread};
use crate::provider::Location;
use crate::repo::ChunkerParams;
use crate::schedule::ScheduleConfig;
use crate::Context;

/// Everything [`crate::Engine::open`] needs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The locations of the repository (at least one; five or more for critical weddings).
    pub locations: Vec<Location>,
    /// Local state: caches and the host's intent. Deleting it loses no backup.
    pub state_dir: PathBuf,
    /// The passphrase or key file that opens the repository.
    pub key: KeySource,
    /// Argon2id costs for a new passphrase slot.
    pub kdf: KdfParams,
    /// The host's key-encryption service, needed for `government_grade`.
    pub key_provider: Option<Arc<dyn KeyProvider>>,
    /// k+m per priority.
    pub profiles: RedundancyProfiles,
    /// Where each pack's shards go.
    pub placement: Arc<dyn PlacementPolicy>,
    /// Target pack size before erasure coding.
    pub pack_size: usize,
    /// Chunking parameters for a new repository (an existing one keeps its own).
    pub chunker: ChunkerParams,
    /// Create the repository when no location holds one.
    pub create_if_missing: bool,
    /// Clock and randomness.
    pub context: Context,
    /// The scheduler: policy, limits, intervals, retries, maintenance runner.
    pub schedule: ScheduleConfig,
}

impl EngineConfig {
    /// Defaults for everything but the locations, state folder and key.
    pub fn new(locations: Vec<Location>, state_dir: impl Into<PathBuf>, key: KeySource) -> Self {
        EngineConfig {
            locations,
            state_dir: state_dir.into(),
            key,
            kdf: KdfParams::default(),
            key_provider: None,
            profiles: RedundancyProfiles::default(),
            placement: Arc::new(RegionSpread),
            pack_size: DEFAULT_PACK_SIZE,
            chunker: ChunkerParams::default(),
            create_if_missing: true,
            context: Context::default(),
            schedule: ScheduleConfig::default(),
        }
    }
}
