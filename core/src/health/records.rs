//! The scrub and drill results the health report reads, written where the
//! verify and drill engines finish.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};

use super::score::{DrillSummary, ScrubSummary};
use super::LAST_SCRUB_FILE;
use crate::repair::RepairReport;
use crate::verify::{DrillReport, FindingKind, IntegrityReport, VerifyScope};

/// Records a finished whole-repository scrub. Problems found stay counted
/// as unfixed until a repair reports otherwise (strays are not problems).
pub(crate) fn record_scrub(state_dir: &Path, report: &IntegrityReport, now: DateTime<Utc>) {
    if !report.complete || !matches!(report.scope, VerifyScope::All) {
        return;
    }
    let findings = report
        .findings
        .iter()
        .filter(|f| f.kind != FindingKind::Stray)
        .count() as u64;
    let unfixable = match &report.repair {
        Some(r) => unfixed(r),
        None => findings,
    };
    let summary = ScrubSummary {
        finished_at: now,
        findings,
        unfixable,
        shards_checked: report.shards_checked,
    };
    write(state_dir, &summary);
}

/// After a repair, the last scrub's problems are as fixed as the repair says.
pub(crate) fn record_repair(state_dir: &Path, report: &RepairReport) {
    let Some(mut summary) = super::report::read_summary::<ScrubSummary>(state_dir, LAST_SCRUB_FILE)
    else {
        return;
    };
    summary.unfixable = unfixed(report).min(summary.findings);
    write(state_dir, &summary);
}

fn unfixed(r: &RepairReport) -> u64 {
    (r.unfixable.len() + r.failures.len()) as u64
}

fn write(state_dir: &Path, summary: &ScrubSummary) {
    let path = state_dir.join(LAST_SCRUB_FILE);
    let tmp = state_dir.join(format!("{LAST_SCRUB_FILE}.tmp"));
    let result = serde_json::to_vec_pretty(summary)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = result {
        tracing::warn!(file = %path.display(), error = %e, "could not record the scrub for the health report");
    }
}

impl From<&DrillReport> for DrillSummary {
    fn from(d: &DrillReport) -> Self {
        DrillSummary {
            finished_at: d.started_at + Duration::milliseconds(d.duration_ms as i64),
            ok: d.passed(),
            duration_ms: d.duration_ms,
            bytes: d.bytes,
        }
    }
}
