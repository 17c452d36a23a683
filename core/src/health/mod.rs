//! Status and health: from the job queue, the catalog, the locations' state
//! and the latest scrub and drill summaries in the state folder.

mod records;
pub(crate) mod report;
pub(crate) mod score;
pub(crate) mod status;

pub(crate) use records::{record_repair, record_scrub};
pub use score::{DrillSummary, ScrubSummary};

/// File the verify engine writes after each scrub.
pub const LAST_SCRUB_FILE: &str = "last-scrub.json";
/// File the drill runner writes after each recovery drill (a `DrillReport`).
pub const LAST_DRILL_FILE: &str = "last-drill.json";
