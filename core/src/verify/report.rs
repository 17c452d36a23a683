//! What a verification is asked for and what it found.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::VerifyDepth;
use crate::error::Error;
use crate::repair::RepairReport;

/// Which part of the repository a verification covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "camelCase")]
pub enum VerifyScope {
    /// Every pack the index knows, every metadata object, and strays.
    All,
    /// The packs referenced by one wedding's snapshots (through the index
    /// objects those snapshots wrote and the chunks their manifests name),
    /// and that wedding's snapshot, manifest and index objects.
    #[serde(rename_all = "camelCase")]
    Wedding {
        /// The wedding.
        wedding_id: String,
    },
}

impl std::str::FromStr for VerifyScope {
    type Err = Error;
    /// `"all"`, or `"wedding:<id>"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(VerifyScope::All),
            _ => match s.strip_prefix("wedding:") {
                Some(id) if !id.is_empty() => Ok(VerifyScope::Wedding {
                    wedding_id: id.to_owned(),
                }),
                _ => Err(Error::invalid(format!(
                    "unknown verify scope {s:?}: expected all or wedding:<id>"
                ))),
            },
        }
    }
}

/// How a verification runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VerifyOptions {
    /// Upper bound on shard bytes read per second (deep); `None`: no limit.
    pub rate_limit_bytes_per_sec: Option<u64>,
    /// Continue the interrupted pass recorded in the state folder
    /// (`scrub-cursor.json`) when it has the same scope and depth.
    pub resume: bool,
    /// Stop after reading about this many shard bytes (deep), leaving the
    /// cursor for the next call: a slice of a continuous scrub.
    pub byte_budget: Option<u64>,
    /// Decode (and decrypt) one pack in this many, chosen from the engine's
    /// random stream; 1: every pack, 0: none. Default 16.
    pub sample_one_in: u32,
    /// When the pass is complete and found something, plan and run a repair
    /// at once (the platform's `triggerEmergencyBackupRepair`).
    pub auto_repair: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            rate_limit_bytes_per_sec: None,
            resume: false,
            byte_budget: None,
            sample_one_in: 16,
            auto_repair: false,
        }
    }
}

/// What is wrong with one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The object is not where the index (or replication) says it should be.
    Missing,
    /// Present but its bytes fail their check (header, hash, decryption).
    Corrupt,
    /// Present with a size other than the index records (quick) or reads (deep).
    WrongSize,
    /// A shard no index places at this location; informational (it may be
    /// a running backup's, not yet indexed), never repaired or deleted.
    Stray,
    /// A replicated metadata object missing from, or different at, this
    /// location.
    MetadataDivergence,
    /// The location could not be reached; its objects were not checked.
    Unreachable,
}

impl FindingKind {
    /// The JSON name: `missing`, `corrupt`, `wrong_size`, `stray`,
    /// `metadata_divergence`, `unreachable`.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Missing => "missing",
            FindingKind::Corrupt => "corrupt",
            FindingKind::WrongSize => "wrong_size",
            FindingKind::Stray => "stray",
            FindingKind::MetadataDivergence => "metadata_divergence",
            FindingKind::Unreachable => "unreachable",
        }
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Location id, or `-` when the finding is not tied to one (a pack that
    /// decodes but whose chunks do not open).
    pub location: String,
    /// Object key (e.g. `packs/ab/ab12….3`, `snapshots/…`, `config`).
    pub object: String,
    /// What is wrong.
    pub kind: FindingKind,
    /// Details, for people.
    pub detail: String,
    /// The pack, for shard findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<String>,
    /// The shard index, for shard findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_index: Option<usize>,
}

impl Finding {
    /// True for findings a repair acts on.
    pub fn is_damage(&self) -> bool {
        !matches!(self.kind, FindingKind::Stray | FindingKind::Unreachable)
    }
}

/// The result of [`crate::Engine::verify`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrityReport {
    /// What was covered.
    pub scope: VerifyScope,
    /// How thoroughly.
    pub depth: VerifyDepth,
    /// When this call started.
    pub started_at: DateTime<Utc>,
    /// When the pass started (earlier than `started_at` for a resumed pass).
    pub pass_started_at: DateTime<Utc>,
    /// Wall time of this call, milliseconds.
    pub duration_ms: u64,
    /// False when the byte budget stopped the pass; a later call with
    /// `resume` continues it.
    pub complete: bool,
    /// True when this call continued an interrupted pass.
    pub resumed: bool,
    /// Packs in scope.
    pub packs_total: u64,
    /// Packs checked in this pass (all calls of it).
    pub packs_checked: u64,
    /// Shards checked in this pass.
    pub shards_checked: u64,
    /// Shard bytes read by this call (deep).
    pub bytes_read: u64,
    /// Shard bytes read per second by this call, in MB (10^6 bytes).
    pub mb_per_sec: f64,
    /// Packs decoded and decrypted chunk by chunk (deep sample).
    pub packs_decoded: u64,
    /// Chunks decrypted and checked against their ids.
    pub chunks_verified: u64,
    /// Sampled packs whose key domain could not be opened or found; their
    /// chunks were not checked (shards and pack hash still were).
    pub packs_key_domain_skipped: u64,
    /// Metadata objects (distinct names) compared across locations.
    pub metadata_checked: u64,
    /// Everything found, sorted by kind, location, object.
    pub findings: Vec<Finding>,
    /// The repair run because of `auto_repair`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair: Option<RepairReport>,
}

impl IntegrityReport {
    /// True when nothing needs repair (strays and unreachable locations aside).
    pub fn is_clean(&self) -> bool {
        !self.findings.iter().any(Finding::is_damage)
    }

    /// Findings of one kind.
    pub fn count(&self, kind: FindingKind) -> usize {
        self.findings.iter().filter(|f| f.kind == kind).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_and_kinds_parse_and_serialize() {
        assert_eq!("all".parse::<VerifyScope>().unwrap(), VerifyScope::All);
        assert_eq!(
            "wedding:w1".parse::<VerifyScope>().unwrap(),
            VerifyScope::Wedding {
                wedding_id: "w1".into()
            }
        );
        assert!("wedding:".parse::<VerifyScope>().is_err());
        assert_eq!(
            serde_json::to_string(&FindingKind::WrongSize).unwrap(),
            "\"wrong_size\""
        );
        assert_eq!(
            serde_json::to_string(&FindingKind::MetadataDivergence).unwrap(),
            "\"metadata_divergence\""
        );
        for k in [
            FindingKind::Missing,
            FindingKind::Corrupt,
            FindingKind::WrongSize,
            FindingKind::Stray,
            FindingKind::MetadataDivergence,
            FindingKind::Unreachable,
        ] {
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
        let f = Finding {
            location: "a".into(),
            object: "packs/ab/ab.1".into(),
            kind: FindingKind::Missing,
            detail: String::new(),
            pack_id: Some("ab".into()),
            shard_index: Some(1),
        };
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains("\"packId\":\"ab\""), "{json}");
    }
}
