//! `heirloom verify [--deep]`.

use std::fmt::Write;
use std::path::Path;

use heirloom::api::VerifyDepth;
use heirloom::{FindingKind, IntegrityReport, VerifyScope};

use crate::errors::CliError;
use crate::output::{bytes, secs, Output};

pub async fn run(config: &Path, deep: bool, out: &Output) -> Result<(), CliError> {
    let engine = super::open_engine(config).await?;
    let depth = if deep {
        VerifyDepth::Deep
    } else {
        VerifyDepth::Quick
    };
    let report = engine.verify(VerifyScope::All, depth).await?;
    out.result(&report, || human(&report))?;
    let problems = problems(&report);
    if problems == 0 {
        return Ok(());
    }
    Err(CliError::Failed {
        message: format!("verify found {problems} problem(s)"),
        hint: Some("`heirloom repair` rebuilds missing and corrupt shards from the others".into()),
    })
}

/// Findings that fail the command: everything but strays, which are
/// informational (a running backup's shards, not yet indexed).
pub fn problems(report: &IntegrityReport) -> usize {
    report
        .findings
        .iter()
        .filter(|f| f.kind != FindingKind::Stray)
        .count()
}

/// The summary and one line per finding.
pub fn human(r: &IntegrityReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} verify: {} of {} packs, {} shards, {} metadata objects checked",
        r.depth, r.packs_checked, r.packs_total, r.shards_checked, r.metadata_checked
    );
    let _ = writeln!(
        s,
        "read {} in {} ({:.1} MB/s){}",
        bytes(r.bytes_read),
        secs(r.duration_ms),
        r.mb_per_sec,
        if r.packs_decoded > 0 {
            format!(
                ", {} packs decoded, {} chunks checked",
                r.packs_decoded, r.chunks_verified
            )
        } else {
            String::new()
        }
    );
    if !r.complete {
        let _ = writeln!(s, "incomplete: stopped by the byte budget");
    }
    if r.findings.is_empty() {
        let _ = writeln!(s, "clean: no findings");
        return s;
    }
    let _ = writeln!(s, "{} finding(s):", r.findings.len());
    for f in &r.findings {
        let _ = writeln!(
            s,
            "  {:<19}  {:<12}  {}  {}",
            f.kind.as_str(),
            f.location,
            f.object,
            f.detail
        );
    }
    s
}
