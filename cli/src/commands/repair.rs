//! `heirloom repair`: a deep verification, its repair plan, and the repair.

use std::fmt::Write;
use std::path::Path;

use heirloom::api::VerifyDepth;
use heirloom::{RepairAction, RepairPlan, RepairReport, VerifyScope};

use crate::errors::CliError;
use crate::output::{bytes, secs, short, Output};

pub async fn run(config: &Path, out: &Output) -> Result<(), CliError> {
    let engine = super::open_engine(config).await?;
    // Deep rather than `repair_all`'s quick pass: bit rot is only found by reading.
    let found = engine.verify(VerifyScope::All, VerifyDepth::Deep).await?;
    let plan = engine.repair_plan(&found).await?;
    let summary = plan_lines(&plan);
    let report = engine.repair(plan).await?;
    out.result(&report, || {
        let mut s = format!(
            "deep verify: {} finding(s) in {} shards\n",
            found.findings.len(),
            found.shards_checked
        );
        s.push_str(&summary);
        s.push_str(&human(&report));
        s
    })?;
    if report.is_complete() {
        return Ok(());
    }
    Err(CliError::Failed {
        message: format!(
            "repair left {} unfixable object(s) and {} failed step(s)",
            report.unfixable.len(),
            report.failures.len()
        ),
        hint: Some(
            "unfixable data has fewer than k good shards left: bring a lost location back, or restore the named weddings from another copy".into(),
        ),
    })
}

fn plan_lines(plan: &RepairPlan) -> String {
    let mut s = String::new();
    if plan.actions.is_empty() {
        let _ = writeln!(s, "nothing to repair");
    }
    for a in &plan.actions {
        match a {
            RepairAction::RebuildShards { pack_id, shards } => {
                for m in shards {
                    let _ = writeln!(
                        s,
                        "  rebuild pack {} shard {} {}: {}",
                        short(pack_id),
                        m.index,
                        if m.from == m.to {
                            format!("at {}", m.to)
                        } else {
                            format!("{} -> {}", m.from, m.to)
                        },
                        m.reason
                    );
                }
            }
            RepairAction::CopyMetadata { object, to } => {
                let _ = writeln!(s, "  copy {object} to {}", to.join(", "));
            }
        }
    }
    for f in &plan.deferred {
        let _ = writeln!(s, "  left alone ({}): {} {}", f.kind, f.location, f.object);
    }
    s
}

fn human(r: &RepairReport) -> String {
    let mut s = format!(
        "fixed: {} shard(s) written ({} moved), {} metadata cop(ies), {} in {}\n",
        r.shards_written,
        r.shards_relocated,
        r.metadata_copied,
        bytes(r.bytes_written),
        secs(r.duration_ms)
    );
    for f in &r.failures {
        let _ = writeln!(s, "  failed: {} ({})", f.object, f.detail);
    }
    for u in &r.unfixable {
        let _ = writeln!(
            s,
            "  unfixable: {} ({}); weddings: {}",
            u.object,
            u.detail,
            u.weddings.join(", ")
        );
    }
    s
}
