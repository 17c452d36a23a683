//! Retention and garbage collection: two-phase deletion, safety against a
//! running backup (same engine and another process), Saturday refusal.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use heirloom::api::{
    EmergencyRecoveryRequest, Priority, RecoveryResult, VerifyDepth, WeddingBackupRequest,
};
use heirloom::provider::fault::FaultyProvider;
use heirloom::{
    Context, Engine, EngineConfig, Error, Location, ManualClock, PruneOptions, VerifyScope,
};
use heirloom_tests::*;

/// A Wednesday.
fn wednesday() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 18, 10, 0, 0).unwrap()
}

fn config(repo: &TestRepo, state: &str, clock: &Arc<ManualClock>, seed: u64) -> EngineConfig {
    let mut cfg = repo.config(state);
    cfg.pack_size = 1024 * 1024;
    cfg.context = Context::seeded(clock.clone(), seed);
    cfg
}

fn forget(ids: &[&str], grace_secs: u64) -> PruneOptions {
    PruneOptions {
        apply_retention: false,
        forget_ids: ids.iter().map(|s| s.to_string()).collect(),
        grace_secs,
        ..Default::default()
    }
}

/// A backup request at critical priority: 3+2, a shard on every location.
fn critical(wedding: &str, src: &std::path::Path) -> WeddingBackupRequest {
    let mut r = WeddingBackupRequest::directory(wedding, src);
    r.priority = Priority::Critical;
    r
}

/// A fresh engine (its catalog rebuilt from the locations): a deep verify
/// finds nothing, and `wedding` restores to exactly `expected`.
async fn verifies_and_restores(
    repo: &TestRepo,
    clock: &Arc<ManualClock>,
    seed: u64,
    wedding: &str,
    expected: &std::path::Path,
) -> (Engine, RecoveryResult) {
    let fresh = Engine::open(config(repo, &format!("state-fresh-{seed}"), clock, seed))
        .await
        .unwrap();
    let v = fresh
        .verify(VerifyScope::All, VerifyDepth::Deep)
        .await
        .unwrap();
    assert!(v.findings.is_empty(), "{:?}", v.findings);
    let out = repo.path(&format!("out-{seed}"));
    let r = fresh
        .recover(EmergencyRecoveryRequest::to_folder(wedding, &out))
        .await
        .unwrap();
    assert_same_tree(expected, &out, true);
    (fresh, r)
}

fn shard_count(repo: &TestRepo) -> usize {
    (0..repo.locations.len())
        .map(|i| repo.shard_files(i).len())
        .sum()
}

/// Maintenance is refused on a Saturday (UTC by default, or in the given
/// offset) with a typed error, and on a blocked (wedding) day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_refuses_on_saturday_and_blocked_days() {
    let repo = TestRepo::new(3);
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2025, 6, 14, 15, 0, 0).unwrap(),
    ));
    let engine = Engine::open(config(&repo, "state", &clock, 1))
        .await
        .unwrap();
    match engine.prune_plan(&PruneOptions::default()).await {
        Err(Error::MaintenanceBlocked { reason }) => {
            assert!(reason.contains("Saturday"), "{reason}")
        }
        other => panic!("expected MaintenanceBlocked, got {other:?}"),
    }
    // Friday 23:30 UTC is Saturday at UTC+2.
    clock.set(Utc.with_ymd_and_hms(2025, 6, 13, 23, 30, 0).unwrap());
    engine.prune_plan(&PruneOptions::default()).await.unwrap();
    let mut east = PruneOptions::default();
    east.window.utc_offset_minutes = 120;
    assert!(matches!(
        engine.prune_plan(&east).await,
        Err(Error::MaintenanceBlocked { .. })
    ));
    clock.set(wednesday());
    let mut wedding_day = PruneOptions::default();
    wedding_day.window.blocked_days = vec![wednesday().date_naive()];
    assert!(matches!(
        engine.prune_plan(&wedding_day).await,
        Err(Error::MaintenanceBlocked { .. })
    ));
    // A plan made on Friday is refused when executed on Saturday.
    let plan = engine.prune_plan(&PruneOptions::default()).await.unwrap();
    clock.set(Utc.with_ymd_and_hms(2025, 6, 21, 8, 0, 0).unwrap());
    assert!(matches!(
        engine.prune(plan, &PruneOptions::default()).await,
        Err(Error::MaintenanceBlocked { .. })
    ));
}

/// Forgetting a snapshot marks its packs; they are deleted only by a prune
/// after the grace period, and what remains restores and verifies clean.
/// The last snapshot of a wedding is kept by the rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packs_are_deleted_only_after_the_grace_period() {
    let repo = TestRepo::new(5);
    let clock = Arc::new(ManualClock::new(wednesday()));
    let engine = Engine::open(config(&repo, "state", &clock, 2))
        .await
        .unwrap();
    let old = repo.path("old");
    small_wedding(&old, 7);
    let s1 = engine
        .create_backup(critical("w1", &old))
        .await
        .unwrap()
        .backup_id;
    let new = repo.path("new");
    small_wedding(&new, 8);
    clock.advance(chrono::Duration::hours(1));
    engine.create_backup(critical("w1", &new)).await.unwrap();
    let before = shard_count(&repo);

    // Retention alone keeps both (last 3).
    let plan = engine.prune_plan(&PruneOptions::default()).await.unwrap();
    assert!(plan.forget.is_empty() && plan.mark.is_empty(), "{plan:?}");

    let opts = forget(&[&s1[..12]], 3600);
    let plan = engine.prune_plan(&opts).await.unwrap();
    assert_eq!(plan.forget.len(), 1);
    assert_eq!(plan.forget[0].reason, "asked by id");
    assert!(!plan.mark.is_empty());
    assert!(plan.delete.is_empty());
    let r = engine.prune(plan, &opts).await.unwrap();
    assert!(r.marker_written.is_some());
    assert_eq!(r.packs_deleted, 0);
    assert_eq!(
        shard_count(&repo),
        before,
        "nothing deleted in the grace period"
    );

    clock.advance(chrono::Duration::minutes(30));
    let plan = engine.prune_plan(&forget(&[], 3600)).await.unwrap();
    assert!(plan.delete.is_empty() && plan.pending_markers.len() == 1);

    clock.advance(chrono::Duration::minutes(31));
    let opts = forget(&[], 3600);
    let plan = engine.prune_plan(&opts).await.unwrap();
    let marked = plan.delete.len();
    assert!(marked > 0, "{plan:?}");
    let r = engine.prune(plan, &opts).await.unwrap();
    assert_eq!(r.packs_deleted as usize, marked);
    assert_eq!(r.markers_removed, 1);
    assert_eq!(shard_count(&repo), before - marked * 5);

    let (fresh, _) = verifies_and_restores(&repo, &clock, 3, "w1", &new).await;
    assert_eq!(fresh.snapshots(Some("w1")).await.unwrap().len(), 1);
    // The last snapshot goes only when asked by id.
    let last = fresh.snapshots(Some("w1")).await.unwrap()[0].id.clone();
    let p = fresh.prune_plan(&PruneOptions::default()).await.unwrap();
    assert!(p.forget.is_empty());
    let p = fresh.prune_plan(&forget(&[&last], 0)).await.unwrap();
    assert_eq!(p.forget.len(), 1);
}

fn faulty(repo: &TestRepo) -> (Vec<Arc<FaultyProvider>>, Vec<Location>) {
    let f: Vec<Arc<FaultyProvider>> = repo
        .location_list()
        .into_iter()
        .map(|l| Arc::new(FaultyProvider::new(l.provider)))
        .collect();
    let locs = f
        .iter()
        .enumerate()
        .map(|(i, p)| Location::new(format!("loc{i}"), format!("region-{i}"), p.clone()))
        .collect();
    (f, locs)
}

/// A backup deduplicating against a snapshot's packs is paused after its
/// shards and index are written, before its manifest and snapshot commit.
/// Another process forgets that snapshot and marks its packs (grace 0);
/// this engine's own prune then finds the marker due, but its sweep waits
/// for the backup, sees the new snapshot, and deletes nothing it needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_during_a_backup_deletes_nothing_the_backup_needs() {
    let repo = TestRepo::new(5);
    let clock = Arc::new(ManualClock::new(wednesday()));
    let (gates, locations) = faulty(&repo);
    let mut cfg = config(&repo, "state-a", &clock, 4);
    cfg.locations = locations;
    let a = Engine::open(cfg).await.unwrap();
    let src1 = repo.path("src1");
    small_wedding(&src1, 21);
    let s1 = a
        .create_backup(critical("w1", &src1))
        .await
        .unwrap()
        .backup_id;
    // Wedding 2: the same files plus one new one (one new pack).
    let src2 = repo.path("src2");
    copy_tree(&src1, &src2);
    write_file(&src2, "photos/new.jpg", &photo(200_000, 99), 1_700_000_900);

    // Each location takes 2 more writes (its shard of the new pack, the
    // index), then holds the manifest.
    let held: Vec<_> = gates.iter().map(|g| g.gate_writes_after(2)).collect();
    let a2 = a.clone();
    let src2b = src2.clone();
    let backup = tokio::spawn(async move { a2.create_backup(critical("w2", &src2b)).await });
    held[0].wait_reached().await;

    // Another process (own providers, no gate) forgets s1: every pack is
    // unreferenced now (the backup has not committed) and gets marked.
    let b = Engine::open(config(&repo, "state-b", &clock, 5))
        .await
        .unwrap();
    let opts = forget(&[&s1], 0);
    let plan = b.prune_plan(&opts).await.unwrap();
    let marked = plan.mark.len();
    assert!(marked > 1, "{plan:?}");
    b.prune(plan, &opts).await.unwrap();

    // This engine's prune: the marker is due; its packs are unreferenced
    // as far as storage shows. Planning works; the sweep waits.
    let sweep_opts = forget(&[], 0);
    let plan = a.prune_plan(&sweep_opts).await.unwrap();
    assert_eq!(plan.delete.len(), marked, "{plan:?}");
    let a3 = a.clone();
    let sweep = tokio::spawn(async move { a3.prune(plan, &sweep_opts).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !sweep.is_finished(),
        "the sweep must wait for the running backup"
    );
    for g in &held {
        g.release();
    }
    let committed = backup.await.unwrap().expect("backup");
    let swept = sweep.await.unwrap().expect("prune");
    assert_eq!(swept.packs_deleted, 0, "{swept:?}");
    assert_eq!(swept.packs_spared as usize, marked);
    assert_eq!(swept.markers_removed, 1);

    let (_, r) = verifies_and_restores(&repo, &clock, 6, "w2", &src2).await;
    assert_eq!(r.snapshot_id, committed.backup_id);
}

/// Cross-process, with the documented grace: a backup paused before its
/// commit while another process marks; it commits within the grace; the
/// later sweep spares every pack it uses. A backup starting after the
/// marker does not deduplicate against marked packs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_within_the_grace_period_is_safe_across_processes() {
    let repo = TestRepo::new(5);
    let clock = Arc::new(ManualClock::new(wednesday()));
    let (gates, locations) = faulty(&repo);
    let mut cfg = config(&repo, "state-a", &clock, 7);
    cfg.locations = locations;
    let a = Engine::open(cfg).await.unwrap();
    let src1 = repo.path("src1");
    small_wedding(&src1, 31);
    let s1 = a
        .create_backup(critical("w1", &src1))
        .await
        .unwrap()
        .backup_id;
    let src2 = repo.path("src2");
    copy_tree(&src1, &src2);
    write_file(&src2, "documents/late.txt", &document(50, 5), 1_700_000_950);
    let held: Vec<_> = gates.iter().map(|g| g.gate_writes_after(2)).collect();
    let a2 = a.clone();
    let src2b = src2.clone();
    let backup = tokio::spawn(async move { a2.create_backup(critical("w2", &src2b)).await });
    held[0].wait_reached().await;
    let b = Engine::open(config(&repo, "state-b", &clock, 8))
        .await
        .unwrap();
    let opts = forget(&[&s1], 3600);
    let plan = b.prune_plan(&opts).await.unwrap();
    b.prune(plan, &opts).await.unwrap();
    clock.advance(chrono::Duration::minutes(10));
    for g in &held {
        g.release();
    }
    backup.await.unwrap().expect("backup");

    // A third backup after the marker: its files are those of the marked
    // packs, and it stores them again rather than deduplicating.
    let src3 = repo.path("src3");
    copy_tree(&src1, &src3);
    let third = a.create_backup(critical("w3", &src3)).await.unwrap();
    assert!(third.stats.chunks_new > 0, "{:?}", third.stats);

    clock.advance(chrono::Duration::hours(2));
    let opts = forget(&[], 3600);
    let plan = b.prune_plan(&opts).await.unwrap();
    let r = b.prune(plan, &opts).await.unwrap();
    assert_eq!(r.packs_deleted, 0, "{r:?}");
    let fresh = Engine::open(config(&repo, "state-c", &clock, 9))
        .await
        .unwrap();
    for (w, src) in [("w2", &src2), ("w3", &src3)] {
        let out = repo.path(&format!("out-{w}"));
        fresh
            .recover(EmergencyRecoveryRequest::to_folder(w, &out))
            .await
            .unwrap();
        assert_same_tree(src, &out, true);
    }
}

/// An engine whose catalog was loaded before another process swept packs
/// does not deduplicate against them in its next backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_engine_does_not_dedup_against_swept_packs() {
    let repo = TestRepo::new(5);
    let clock = Arc::new(ManualClock::new(wednesday()));
    let a = Engine::open(config(&repo, "state-a", &clock, 12))
        .await
        .unwrap();
    let src = repo.path("src");
    small_wedding(&src, 51);
    let s1 = a
        .create_backup(critical("w1", &src))
        .await
        .unwrap()
        .backup_id;
    // Another process forgets and sweeps while `a` sits idle.
    let b = Engine::open(config(&repo, "state-b", &clock, 13))
        .await
        .unwrap();
    let opts = forget(&[&s1], 0);
    let plan = b.prune_plan(&opts).await.unwrap();
    b.prune(plan, &opts).await.unwrap();
    let opts = forget(&[], 0);
    let plan = b.prune_plan(&opts).await.unwrap();
    assert!(b.prune(plan, &opts).await.unwrap().packs_deleted > 0);
    // `a` backs up the same files again: it must store them anew.
    let again = a.create_backup(critical("w2", &src)).await.unwrap();
    assert!(again.stats.chunks_new > 0, "{:?}", again.stats);
    let fresh = Engine::open(config(&repo, "state-c", &clock, 14))
        .await
        .unwrap();
    let out = repo.path("out");
    fresh
        .recover(EmergencyRecoveryRequest::to_folder("w2", &out))
        .await
        .unwrap();
    assert_same_tree(&src, &out, true);
}

/// Manifest objects on the first location.
fn manifest_objects(repo: &TestRepo) -> usize {
    std::fs::read_dir(repo.locations[0].join("manifests"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Forgets one snapshot: the mark phase, with an hour's grace.
async fn mark(engine: &Engine, snapshot: &str) {
    let opts = forget(&[&snapshot[..12]], 3600);
    let plan = engine.prune_plan(&opts).await.unwrap();
    engine.prune(plan, &opts).await.unwrap();
}

/// Past the grace, the sweep.
async fn sweep(engine: &Engine, clock: &ManualClock) -> heirloom::PruneReport {
    clock.advance(chrono::Duration::minutes(61));
    let opts = forget(&[], 3600);
    let plan = engine.prune_plan(&opts).await.unwrap();
    engine.prune(plan, &opts).await.unwrap()
}

/// Two snapshots of one folder share most manifest parts: forgetting the
/// older and sweeping deletes only the parts no snapshot left names, and the
/// newer still verifies and restores from a fresh engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgetting_a_snapshot_keeps_the_manifest_parts_others_share() {
    let repo = TestRepo::new(5);
    let clock = Arc::new(ManualClock::new(wednesday()));
    let engine = Engine::open(config(&repo, "state", &clock, 4))
        .await
        .unwrap();
    let src = repo.path("src");
    small_wedding(&src, 11);
    let s1 = engine
        .create_backup(critical("w1", &src))
        .await
        .unwrap()
        .backup_id;
    let day1 = manifest_objects(&repo);
    write_file(&src, "added-note.txt", &document(40, 3), 1_750_000_000);
    clock.advance(chrono::Duration::hours(1));
    engine.create_backup(critical("w1", &src)).await.unwrap();
    let day2 = manifest_objects(&repo);
    assert!(
        day2 > day1 && day2 - day1 <= 2,
        "{day1} -> {day2} manifest objects"
    );

    mark(&engine, &s1).await;
    let r = sweep(&engine, &clock).await;
    assert!((1..=2).contains(&r.manifests_deleted), "{r:?}");
    assert_eq!(manifest_objects(&repo), day2 - r.manifests_deleted as usize);

    verifies_and_restores(&repo, &clock, 5, "w1", &src).await;
}

/// A backup never relies on a manifest part a prune marker names (a sweep in
/// another process could delete it before the backup commits): after the
/// only snapshot is forgotten, backing up the same folder writes its parts
/// anew under new names, and they survive the sweep of the old ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_writes_anew_the_manifest_parts_a_marker_names() {
    let repo = TestRepo::new(5);
    let clock = Arc::new(ManualClock::new(wednesday()));
    let engine = Engine::open(config(&repo, "state", &clock, 6))
        .await
        .unwrap();
    let src = repo.path("src");
    small_wedding(&src, 12);
    let s1 = engine
        .create_backup(critical("w1", &src))
        .await
        .unwrap()
        .backup_id;
    let parts = manifest_objects(&repo);
    mark(&engine, &s1).await;
    clock.advance(chrono::Duration::minutes(10));
    engine.create_backup(critical("w1", &src)).await.unwrap();
    assert_eq!(
        manifest_objects(&repo),
        2 * parts,
        "the marked parts were relied on"
    );

    let r = sweep(&engine, &clock).await;
    assert_eq!(r.manifests_deleted as usize, parts);
    verifies_and_restores(&repo, &clock, 7, "w1", &src).await;
}

/// Snapshot record keys at location `i`.
fn records(repo: &TestRepo, i: usize) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(repo.locations[i].join("snapshots"))
        .unwrap()
        .flatten()
        .map(|e| format!("snapshots/{}", e.file_name().to_string_lossy()))
        .collect()
}

/// A snapshot record that cannot be read because a shard rotted (two
/// intact, one rotten, two gone) stops prune: what it references would
/// look unreferenced. Once it is settled (two intact shards, the rest gone
/// on locations that all answer: as a backup that died writing it leaves
/// it) prune runs, and keeps the other snapshot's packs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_refuses_while_a_snapshot_record_is_unread_for_a_reason_that_may_pass() {
    let repo = TestRepo::new(5);
    let clock = Arc::new(ManualClock::new(wednesday()));
    let engine = Engine::open(config(&repo, "state", &clock, 7))
        .await
        .unwrap();
    let (day1, day2) = (repo.path("day1"), repo.path("day2"));
    small_wedding(&day1, 91);
    engine.create_backup(critical("w", &day1)).await.unwrap();
    let first = records(&repo, 0);
    small_wedding(&day2, 92);
    engine.create_backup(critical("w", &day2)).await.unwrap();
    drop(engine);
    let record = records(&repo, 0)
        .into_iter()
        .find(|k| !first.contains(k))
        .unwrap();
    let at = |i: usize| repo.locations[i].join(&record);
    let mut rotten = std::fs::read(at(0)).unwrap();
    *rotten.last_mut().unwrap() ^= 1;
    std::fs::write(at(0), rotten).unwrap();
    for i in [1, 2] {
        std::fs::remove_file(at(i)).unwrap();
    }

    let engine = Engine::open(config(&repo, "state-2", &clock, 8))
        .await
        .expect("an unread record does not stop the open");
    match engine.prune_plan(&PruneOptions::default()).await {
        Err(Error::InvalidRequest(why)) => {
            assert!(
                why.contains("prune refused") && why.contains(&record),
                "{why}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let v = engine
        .verify(VerifyScope::All, VerifyDepth::Quick)
        .await
        .unwrap();
    assert!(
        v.findings
            .iter()
            .any(|f| f.object == record && f.kind == heirloom::FindingKind::Corrupt),
        "{:?}",
        v.findings
    );

    std::fs::remove_file(at(0)).unwrap();
    let plan = engine
        .prune_plan(&PruneOptions::default())
        .await
        .expect("a settled record does not stop prune");
    assert_eq!(plan.kept, 1);
    let out = repo.path("out");
    engine
        .recover(EmergencyRecoveryRequest::to_folder("w", &out))
        .await
        .expect("day 1 restores");
    assert_same_tree(&day1, &out, true);
}
