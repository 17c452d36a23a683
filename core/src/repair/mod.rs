//! Repair: plans that rebuild missing or corrupt shards from k good ones
//! (to their own location, or a spare one when it is down or retired),
//! rewrite missing or divergent metadata copies from a good one and rebuild
//! the missing shards of coded metadata; location
//! retirement and archival migration, which move shards with the same
//! machinery.
//!
//! Placement changes are recorded in a new index object at a higher
//! generation (see `IndexRecord::generation`); the old shard is deleted
//! only after that index is stored, so a crash leaves at worst a stray.

mod archive;
mod coded;
mod execute;
mod plan;
mod retire;

use serde::{Deserialize, Serialize};

pub(crate) use archive::{archive, archive_plan};
pub use archive::{ArchiveOptions, ArchivePlan};
pub(crate) use execute::{execute, write_placement};
pub(crate) use plan::plan;
pub(crate) use retire::{refresh_retired, retire_location, retire_plan};
pub use retire::{LocationStatus, RetireReport};

/// Inspectable repair plan, from [`crate::Engine::repair_plan`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepairPlan {
    /// What will be done.
    pub actions: Vec<RepairAction>,
    /// Damage that cannot be repaired, with what it affects.
    pub unfixable: Vec<Unfixable>,
    /// Findings left alone: strays (informational) and unreachable locations.
    pub deferred: Vec<crate::verify::Finding>,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum RepairAction {
    /// Rebuild shards of a pack from k good ones and write each to its target.
    #[serde(rename_all = "camelCase")]
    RebuildShards {
        /// The pack.
        pack_id: String,
        /// The shards to write.
        shards: Vec<ShardMove>,
    },
    /// Copy a replicated metadata object from a good copy, or rebuild the
    /// missing shards of a coded one (`to` are the locations to prefer).
    #[serde(rename_all = "camelCase")]
    CopyMetadata {
        /// Object key.
        object: String,
        /// Locations to write it to.
        to: Vec<String>,
    },
}

/// One shard to (re)write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardMove {
    /// Shard index.
    pub index: usize,
    /// Where the index places it now.
    pub from: String,
    /// Where it is written; differs from `from` when the shard moves
    /// (its location is down, retired, or not cold enough for an archive).
    pub to: String,
    /// Why.
    pub reason: String,
}

/// Damage a repair cannot undo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unfixable {
    /// Object or pack.
    pub object: String,
    /// The pack, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<String>,
    /// Why it cannot be fixed.
    pub detail: String,
    /// Snapshots whose data it holds.
    pub snapshots: Vec<String>,
    /// Weddings those snapshots belong to.
    pub weddings: Vec<String>,
}

/// A step that failed while executing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepairFailure {
    /// Object or pack.
    pub object: String,
    /// What went wrong.
    pub detail: String,
}

/// What [`crate::Engine::repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepairReport {
    /// Actions in the plan.
    pub actions: u64,
    /// Shards written (rebuilt or moved) and read back intact.
    pub shards_written: u64,
    /// Of those, shards that moved to another location.
    pub shards_relocated: u64,
    /// Old copies of moved shards deleted.
    pub old_shards_deleted: u64,
    /// Metadata copies written.
    pub metadata_copied: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// The index object recording new placements, if any moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_written: Option<String>,
    /// Steps that failed.
    pub failures: Vec<RepairFailure>,
    /// Damage that could not be repaired (from the plan).
    pub unfixable: Vec<Unfixable>,
    /// Wall time, milliseconds.
    pub duration_ms: u64,
}

impl RepairReport {
    /// True when every action succeeded and nothing was unfixable.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty() && self.unfixable.is_empty()
    }
}
