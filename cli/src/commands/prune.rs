//! `heirloom prune [--dry-run]`: retention, then two-phase garbage collection.

use std::fmt::Write;
use std::path::Path;

use heirloom::{Error, PruneOptions, PrunePlan, PruneReport};
use serde::Serialize;

use crate::errors::CliError;
use crate::output::{bytes, secs, short, Output};

#[derive(Serialize)]
struct Pruned<'a> {
    plan: &'a PrunePlan,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<&'a PruneReport>,
}

pub async fn run(config: &Path, dry_run: bool, out: &Output) -> Result<(), CliError> {
    let engine = super::open_engine(config).await?;
    let options = PruneOptions::default();
    let plan = engine.prune_plan(&options).await.map_err(blocked)?;
    let report = if dry_run {
        None
    } else {
        Some(
            engine
                .prune(plan.clone(), &options)
                .await
                .map_err(blocked)?,
        )
    };
    let value = Pruned {
        plan: &plan,
        report: report.as_ref(),
    };
    out.result(&value, || {
        let mut s = plan_lines(&plan);
        match &report {
            None => s.push_str("dry run: nothing changed\n"),
            Some(r) => s.push_str(&human(r)),
        }
        s
    })
}

fn blocked(e: Error) -> CliError {
    let hint = matches!(e, Error::MaintenanceBlocked { .. })
        .then_some("prune never runs on Saturdays or wedding days; run it on another day");
    let e = CliError::from(e);
    match hint {
        Some(h) => e.with_hint(h),
        None => e,
    }
}

fn plan_lines(p: &PrunePlan) -> String {
    let mut s = format!(
        "plan: forget {} snapshot(s), keep {}; mark {} pack(s); delete {} pack(s) ({})\n",
        p.forget.len(),
        p.kept,
        p.mark.len(),
        p.delete.len(),
        bytes(p.delete_bytes)
    );
    for f in &p.forget {
        let _ = writeln!(
            s,
            "  forget {}  {}  {}  ({}: {})",
            short(&f.snapshot_id),
            f.wedding_id,
            f.time.format("%Y-%m-%d %H:%M:%S"),
            f.retention,
            f.reason
        );
    }
    for id in &p.mark {
        let _ = writeln!(s, "  mark   pack {}", short(id));
    }
    for id in &p.delete {
        let _ = writeln!(s, "  delete pack {}", short(id));
    }
    for id in &p.spared {
        let _ = writeln!(s, "  spare  pack {} (referenced again)", short(id));
    }
    for m in &p.pending_markers {
        let _ = writeln!(
            s,
            "  pending marker {}: {} pack(s) after {}",
            short(&m.name),
            m.packs,
            m.deadline.format("%Y-%m-%d %H:%M UTC")
        );
    }
    s
}

fn human(r: &PruneReport) -> String {
    format!(
        "pruned: {} snapshot(s) forgotten, {} pack(s) marked, {} deleted ({} shards, {} freed), {} spared, in {}\n",
        r.snapshots_forgotten,
        r.packs_marked,
        r.packs_deleted,
        r.shards_deleted,
        bytes(r.bytes_freed),
        r.packs_spared,
        secs(r.duration_ms)
    )
}
