//! # heirloom
//!
//! An embeddable backup engine for wedding media: content-defined chunking,
//! keyed chunk ids, AEAD encryption, packs, Reed–Solomon erasure coding
//! across several storage locations, and point-in-time recovery.
//!
//! Start with [`Engine::open`]; the example on [`Engine`] backs up and
//! restores a wedding. Requests and results live in [`api`], with the
//! platform's JSON shape and option strings.
//!
//! ## Feature flags
//! - `simd-accel` (default): SIMD Reed–Solomon kernels (needs a C compiler
//!   and AVX2 on x86_64); without it the pure-Rust kernels are used.
//! - `testing`: exposes [`testing`], the provider conformance suite.
//! - `s3`: `provider::s3`, S3-compatible object storage through Apache
//!   OpenDAL. Off by default (it brings an HTTP and TLS stack); the CLI and
//!   the bindings enable it.

#![warn(missing_docs)]

pub mod api;
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench;
mod chunk;
mod classify;
pub mod config;
mod context;
pub mod crypto;
mod engine;
pub mod erasure;
mod error;
pub mod events;
pub mod health;
mod metrics;
mod pack;
pub mod placement;
pub mod provider;
mod prune;
mod repair;
mod repo;
pub mod schedule;
mod snapshot;
mod state;
#[cfg(test)]
mod test_data;
#[cfg(feature = "testing")]
pub mod testing;
mod verify;

pub use context::{Clock, Context, ManualClock, SystemClock};
pub use crypto::{KdfParams, KeyProvider, KeyProviderError, KeySource};
pub use engine::{Engine, EngineConfig};
pub use error::{Error, Result};
pub use events::Event;
pub use pack::DEFAULT_PACK_SIZE;
pub use placement::{PlacementPolicy, RedundancyProfile, RedundancyProfiles, RegionSpread};
pub use provider::{Location, ObjectMeta, ProviderError, StorageProvider, Tier};
pub use prune::{
    ForgetSnapshot, KeepRules, MaintenancePolicy, MaintenanceWindow, PendingMarker, PruneOptions,
    PrunePlan, PruneReport, DEFAULT_GRACE_SECS,
};
pub use repair::{
    ArchiveOptions, ArchivePlan, LocationStatus, RepairAction, RepairFailure, RepairPlan,
    RepairReport, RetireReport, ShardMove, Unfixable,
};
pub use repo::ChunkerParams;
pub use schedule::{
    BackupIntervals, Calendar, JobId, JobInfo, JobKind, JobRequest, JobState, MaintenanceKind,
    MaintenanceOutcome, MaintenanceRunner, MaintenanceTask, PriorityPolicy, RealtimeConfig,
    RetryPolicy, ScheduleConfig, WeddingAwarePolicy, WeddingEvent, WorkerLimits,
};
pub use tokio_util::sync::CancellationToken;
pub use verify::{
    DrillReport, DrillSample, Finding, FindingKind, IntegrityReport, VerifyOptions, VerifyScope,
};
