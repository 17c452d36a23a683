//! Scrubbing: quick (listings) and deep (reads) verification of every shard
//! and metadata object, rate-limited and resumable; and recovery drills.

mod cursor;
mod deep;
mod domain;
pub(crate) mod drill;
pub(crate) mod meta;
pub(crate) mod quick;
mod report;

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

use futures::stream::FuturesUnordered;
use futures::StreamExt;

pub use drill::{DrillReport, DrillSample};
pub use report::{Finding, FindingKind, IntegrityReport, VerifyOptions, VerifyScope};

use crate::api::VerifyDepth;
use crate::engine::open::reload_catalog;
use crate::engine::Inner;
use crate::error::Result;
use crate::repo::{INDEX_PREFIX, MANIFEST_PREFIX, SNAPSHOT_PREFIX};
use crate::snapshot::PackRecord;
use cursor::{RateLimiter, ScrubCursor};

/// Packs checked at once in a deep pass.
const PACKS_IN_FLIGHT: usize = 4;
/// The cursor is saved after this many packs.
const SAVE_EVERY: usize = 16;

/// The packs and metadata keys a scope covers.
struct Covered {
    packs: Vec<Arc<PackRecord>>,
    /// `None`: all metadata.
    metadata: Option<HashSet<String>>,
}

async fn covered(inner: &Inner, scope: &VerifyScope) -> Result<Covered> {
    let cat = inner.catalog.read().await;
    let wedding = match scope {
        VerifyScope::All => {
            let mut packs: Vec<_> = cat.packs.values().cloned().collect();
            packs.sort_by(|a, b| a.id.cmp(&b.id));
            return Ok(Covered {
                packs,
                metadata: None,
            });
        }
        VerifyScope::Wedding { wedding_id } => wedding_id,
    };
    let snaps: Vec<_> = cat
        .snapshots
        .iter()
        .filter(|(_, s)| &s.wedding_id == wedding)
        .map(|(id, s)| (id.clone(), s.clone()))
        .collect();
    if snaps.is_empty() {
        return Err(crate::Error::NotFound(format!(
            "wedding {wedding}: no snapshot"
        )));
    }
    let mut keys = HashSet::new();
    let mut ids: BTreeSet<String> = BTreeSet::new();
    for (id, s) in &snaps {
        keys.insert(format!("{SNAPSHOT_PREFIX}{id}"));
        for m in s.manifest_names() {
            keys.insert(format!("{MANIFEST_PREFIX}{m}"));
        }
        for idx in &s.indexes {
            keys.insert(format!("{INDEX_PREFIX}{idx}"));
            ids.extend(cat.index_packs.get(idx).into_iter().flatten().cloned());
        }
    }
    let chunk_packs = crate::prune::refs::chunk_packs(&cat);
    drop(cat);
    ids.extend(crate::prune::refs::referenced_packs(inner, &snaps, &chunk_packs).await?);
    let cat = inner.catalog.read().await;
    Ok(Covered {
        packs: ids
            .iter()
            .filter_map(|id| cat.packs.get(id).cloned())
            .collect(),
        metadata: Some(keys),
    })
}

/// Runs one verification (or one slice of a resumable deep pass).
pub(crate) async fn verify(
    inner: &Arc<Inner>,
    scope: VerifyScope,
    depth: VerifyDepth,
    opts: &VerifyOptions,
) -> Result<IntegrityReport> {
    let started_at = inner.config.context.now();
    let timer = Instant::now();
    reload_catalog(inner).await?;
    let cov = covered(inner, &scope).await?;
    let listings = quick::list_shards(&inner.store).await;
    let mut findings = Vec::new();
    quick::unreachable(&listings, &mut findings);
    if scope == VerifyScope::All {
        let cat = inner.catalog.read().await;
        quick::strays(&cat.packs, &listings, &mut findings);
    }
    let expect = {
        let cat = inner.catalog.read().await;
        for (key, u) in &cat.unreadable {
            // A settled one is most likely a dead backup's leftover (its
            // data, if lost, shows as damaged packs); rot is damage.
            let (kind, detail) = if u.settled {
                (
                    FindingKind::Stray,
                    format!(
                        "not stored in full, so not in the catalog: left by an interrupted \
                         backup, or lost beyond repair ({})",
                        u.why
                    ),
                )
            } else {
                (
                    FindingKind::Corrupt,
                    format!("could not be read, so not in the catalog ({})", u.why),
                )
            };
            findings.push(Finding {
                location: "all".into(),
                object: key.clone(),
                kind,
                detail,
                pack_id: None,
                shard_index: None,
            });
        }
        meta::Expectations::new(inner.repo.codes_metadata(), &cat)
    };
    let metadata_checked = meta::check(
        &inner.store,
        cov.metadata.as_ref(),
        &expect,
        depth == VerifyDepth::Deep,
        &mut findings,
    )
    .await;
    let mut report = IntegrityReport {
        scope: scope.clone(),
        depth,
        started_at,
        pass_started_at: started_at,
        duration_ms: 0,
        complete: true,
        resumed: false,
        packs_total: cov.packs.len() as u64,
        packs_checked: 0,
        shards_checked: 0,
        bytes_read: 0,
        mb_per_sec: 0.0,
        packs_decoded: 0,
        chunks_verified: 0,
        packs_key_domain_skipped: 0,
        metadata_checked,
        findings: Vec::new(),
        repair: None,
    };
    match depth {
        VerifyDepth::Quick => {
            report.shards_checked = quick::check_shards(&cov.packs, &listings, &mut findings);
            report.packs_checked = cov.packs.len() as u64;
        }
        VerifyDepth::Deep => {
            let unreachable: Vec<String> = listings
                .iter()
                .filter(|(_, r)| r.is_err())
                .map(|(l, _)| l.clone())
                .collect();
            deep_pass(
                inner,
                &scope,
                &cov.packs,
                &unreachable,
                opts,
                &mut report,
                &mut findings,
            )
            .await?;
        }
    }
    findings
        .sort_by(|a, b| (a.kind, &a.location, &a.object).cmp(&(b.kind, &b.location, &b.object)));
    findings.dedup_by(|a, b| a.kind == b.kind && a.location == b.location && a.object == b.object);
    report.findings = findings;
    let secs = timer.elapsed().as_secs_f64();
    report.duration_ms = timer.elapsed().as_millis() as u64;
    report.mb_per_sec = if secs > 0.0 {
        report.bytes_read as f64 / 1e6 / secs
    } else {
        0.0
    };
    tracing::info!(
        depth = %depth,
        complete = report.complete,
        findings = report.findings.len(),
        shards = report.shards_checked,
        mb_per_sec = report.mb_per_sec,
        "verification finished"
    );
    if opts.auto_repair && report.complete && !report.is_clean() {
        let plan = crate::repair::plan(inner, &report).await?;
        report.repair = Some(crate::repair::execute(inner, plan).await?);
    }
    Ok(report)
}

async fn deep_pass(
    inner: &Arc<Inner>,
    scope: &VerifyScope,
    packs: &[Arc<PackRecord>],
    unreachable: &[String],
    opts: &VerifyOptions,
    report: &mut IntegrityReport,
    findings: &mut Vec<crate::verify::Finding>,
) -> Result<()> {
    let state = &inner.config.state_dir;
    let saved = if opts.resume {
        ScrubCursor::load(state).filter(|c| &c.scope == scope && c.depth == VerifyDepth::Deep)
    } else {
        None
    };
    report.resumed = saved.is_some();
    let mut cursor = saved.unwrap_or_else(|| ScrubCursor {
        scope: scope.clone(),
        depth: VerifyDepth::Deep,
        started_at: report.started_at,
        sample_seed: inner.config.context.random_u64(),
        done: Default::default(),
        findings: Vec::new(),
        shards_checked: 0,
        packs_decoded: 0,
        chunks_verified: 0,
        packs_key_domain_skipped: 0,
    });
    report.pass_started_at = cursor.started_at;
    let domains = domain::Domains::new(&*inner.catalog.read().await);
    let limiter = RateLimiter::new(opts.rate_limit_bytes_per_sec);
    let pending: Vec<&Arc<PackRecord>> = packs
        .iter()
        .filter(|p| !cursor.done.contains(&p.id))
        .collect();
    let mut todo = pending.into_iter();
    let mut running = FuturesUnordered::new();
    let mut since_save = 0;
    let mut stopped = false;
    loop {
        while running.len() < PACKS_IN_FLIGHT && !stopped {
            if opts.byte_budget.is_some_and(|b| limiter.total() >= b) {
                stopped = true;
                break;
            }
            let Some(pack) = todo.next() else { break };
            let sample = deep::sampled(cursor.sample_seed, &pack.id, opts.sample_one_in);
            let (limiter, domains, pack) = (&limiter, &domains, pack.clone());
            running.push(async move {
                let id = pack.id.clone();
                (
                    id,
                    deep::check_pack(inner, pack, limiter, domains, unreachable, sample).await,
                )
            });
        }
        let Some((id, out)) = running.next().await else {
            break;
        };
        cursor.done.insert(id);
        cursor.findings.extend(out.findings);
        cursor.shards_checked += out.shards_checked;
        cursor.packs_decoded += u64::from(out.decoded);
        cursor.chunks_verified += out.chunks_verified;
        cursor.packs_key_domain_skipped += u64::from(out.key_domain_skipped);
        since_save += 1;
        if since_save >= SAVE_EVERY {
            since_save = 0;
            cursor.save(state)?;
        }
    }
    let remaining = packs
        .iter()
        .filter(|p| !cursor.done.contains(&p.id))
        .count();
    report.complete = remaining == 0;
    if report.complete {
        ScrubCursor::clear(state)?;
    } else {
        cursor.save(state)?;
    }
    report.packs_checked = cursor.done.len() as u64;
    report.shards_checked = cursor.shards_checked;
    report.bytes_read = limiter.total();
    report.packs_decoded = cursor.packs_decoded;
    report.chunks_verified = cursor.chunks_verified;
    report.packs_key_domain_skipped = cursor.packs_key_domain_skipped;
    findings.extend(cursor.findings);
    Ok(())
}
