//! Location lifecycle and drills: retiring a location, adding one,
//! archival migration to cold locations, recovery drills.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use heirloom::api::{EmergencyRecoveryRequest, Priority, VerifyDepth, WeddingBackupRequest};
use heirloom::{ArchiveOptions, Context, DrillSample, Engine, ManualClock, Tier, VerifyScope};
use heirloom_tests::*;

fn critical(wedding: &str, src: &std::path::Path) -> WeddingBackupRequest {
    let mut r = WeddingBackupRequest::directory(wedding, src);
    r.priority = Priority::Critical;
    r
}

/// Retiring a location moves each of its shards elsewhere, records the new
/// placement, and stops new writes to it, in this engine and in a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_location_is_emptied_and_no_longer_written() {
    let repo = TestRepo::new(6);
    let mut cfg = repo.config("state");
    cfg.pack_size = 1024 * 1024;
    let engine = Engine::open(cfg).await.unwrap();
    let src = repo.path("src");
    small_wedding(&src, 61);
    engine.create_backup(critical("w-r", &src)).await.unwrap();
    let on_loc1 = repo.shard_files(1).len();
    assert!(on_loc1 > 0);

    let plan = engine.retire_plan("loc1").await.unwrap();
    assert!(plan.unfixable.is_empty());
    let r = engine.retire_location("loc1").await.unwrap();
    assert!(r.repair.is_complete(), "{:?}", r.repair);
    assert_eq!(r.repair.shards_relocated as usize, on_loc1);
    assert_eq!(r.repair.old_shards_deleted as usize, on_loc1);
    assert!(r.repair.index_written.is_some());
    assert!(repo.shard_files(1).is_empty());
    assert!(repo.locations[0].join("locations/loc1").exists());

    // Another engine honours the retirement.
    let mut cfg = repo.config("state-2");
    cfg.pack_size = 1024 * 1024;
    let other = Engine::open(cfg).await.unwrap();
    let src2 = repo.path("src2");
    small_wedding(&src2, 62);
    let b = other.create_backup(critical("w-r2", &src2)).await.unwrap();
    assert!(
        !b.locations_used.contains(&"loc1".to_owned()),
        "{:?}",
        b.locations_used
    );
    assert!(repo.shard_files(1).is_empty());
    let v = other
        .verify(VerifyScope::All, VerifyDepth::Deep)
        .await
        .unwrap();
    assert!(v.is_clean(), "{:?}", v.findings);
    // Gone for good: everything restores without it.
    repo.remove_location(1);
    let fresh = Engine::open(repo.config("state-3")).await.unwrap();
    let out = repo.path("out");
    fresh
        .recover(EmergencyRecoveryRequest::to_folder("w-r", &out))
        .await
        .unwrap();
    assert_same_tree(&src, &out, true);
}

/// A location added to the configuration is empty, so it is not used
/// until a repair gives it the config, key slots and metadata; from then on
/// new backups write to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_location_is_used_for_new_writes_after_repair() {
    let mut repo = TestRepo::new(5);
    let src = repo.path("src");
    small_wedding(&src, 71);
    let engine = repo.engine().await;
    engine.create_backup(critical("w-a", &src)).await.unwrap();
    drop(engine);
    let extra = repo.path("loc5");
    std::fs::create_dir_all(&extra).unwrap();
    repo.locations.push(extra);
    let mut cfg = repo.config("state-6");
    cfg.pack_size = 512 * 1024;
    let engine = Engine::open(cfg).await.unwrap();
    let q = engine
        .verify(VerifyScope::All, VerifyDepth::Quick)
        .await
        .unwrap();
    assert!(q
        .findings
        .iter()
        .any(|f| f.location == "loc5" && f.object == "config"));
    let r = engine.repair_all().await.unwrap();
    assert!(r.is_complete() && r.metadata_copied > 0, "{r:?}");
    assert!(repo.locations[5].join("config").exists());
    let src2 = repo.path("src2");
    small_wedding(&src2, 72);
    let b = engine.create_backup(critical("w-b", &src2)).await.unwrap();
    assert!(
        b.locations_used.contains(&"loc5".to_owned()),
        "{:?}",
        b.locations_used
    );
    assert!(!repo.shard_files(5).is_empty());
    let q = engine
        .verify(VerifyScope::All, VerifyDepth::Quick)
        .await
        .unwrap();
    assert!(q.findings.is_empty(), "{:?}", q.findings);
}

/// Packs used only by snapshots older than the cutoff move shards to the
/// cold locations; newer ones stay; everything verifies and restores.
///
/// Ignored for now: placement may put every old pack on both cold locations
/// already (each pack takes 5 of the 7), and then nothing is left to move;
/// it failed 1 run in 4. The setup must keep the old packs off the cold tier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "flaky setup: placement can already put every old pack on both cold locations"]
async fn old_snapshots_move_to_cold_locations() {
    let repo = TestRepo::new(7);
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2024, 3, 6, 10, 0, 0).unwrap(),
    ));
    let config = |state: &str| {
        let mut cfg = repo.config(state);
        cfg.pack_size = 1024 * 1024;
        cfg.context = Context::seeded(clock.clone(), 11);
        for l in cfg.locations.iter_mut().skip(5) {
            l.tier = Tier::Cold;
        }
        cfg
    };
    let engine = Engine::open(config("state")).await.unwrap();
    let old = repo.path("old");
    small_wedding(&old, 81);
    engine.create_backup(critical("w-old", &old)).await.unwrap();
    clock.set(Utc.with_ymd_and_hms(2025, 6, 18, 10, 0, 0).unwrap());
    let new = repo.path("new");
    small_wedding(&new, 82);
    engine.create_backup(critical("w-new", &new)).await.unwrap();
    let cold_before = repo.shard_files(5).len() + repo.shard_files(6).len();

    let opts = ArchiveOptions {
        older_than_days: 365,
        ..Default::default()
    };
    let plan = engine.archive_plan(&opts).await.unwrap();
    assert!(plan.packs_eligible > 0);
    let moves: usize = plan
        .actions
        .iter()
        .map(|a| match a {
            heirloom::RepairAction::RebuildShards { shards, .. } => shards.len(),
            _ => 0,
        })
        .sum();
    assert!(moves > 0);
    let r = engine.archive(plan.clone(), &opts).await.unwrap();
    assert!(r.is_complete(), "{r:?}");
    assert_eq!(r.shards_relocated as usize, moves);
    let cold_after = repo.shard_files(5).len() + repo.shard_files(6).len();
    assert_eq!(cold_after, cold_before + moves);
    // Every pack moved now has a shard on each of the two cold locations.
    let (touched, on_cold) = cold_shards_of_moved_packs(&repo, &plan);
    assert_eq!(on_cold, touched * 2);
    let again = engine.archive_plan(&opts).await.unwrap();
    assert!(again.actions.is_empty());
    let v = engine
        .verify(VerifyScope::All, VerifyDepth::Deep)
        .await
        .unwrap();
    assert!(v.findings.is_empty(), "{:?}", v.findings);
    let fresh = Engine::open(config("state-2")).await.unwrap();
    for (w, src) in [("w-old", &old), ("w-new", &new)] {
        let out = repo.path(&format!("out-{w}"));
        fresh
            .recover(EmergencyRecoveryRequest::to_folder(w, &out))
            .await
            .unwrap();
        assert_same_tree(src, &out, true);
    }
}

/// (packs the plan moves, their shards on the cold locations).
fn cold_shards_of_moved_packs(repo: &TestRepo, plan: &heirloom::ArchivePlan) -> (usize, usize) {
    let touched: std::collections::HashSet<String> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            heirloom::RepairAction::RebuildShards { pack_id, .. } => Some(pack_id.clone()),
            _ => None,
        })
        .collect();
    let on_cold = [5, 6]
        .iter()
        .flat_map(|&i| repo.shard_files(i))
        .filter(|p| touched.contains(&*p.file_stem().unwrap().to_string_lossy()))
        .count();
    (touched.len(), on_cold)
}

/// A drill restores a sampled snapshot to a temporary folder, checks every
/// file, removes the folder and keeps its report for the health report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_drill_passes_and_is_kept() {
    let repo = TestRepo::new(5);
    let engine = repo.engine().await;
    assert!(engine.last_drill().unwrap().is_none());
    for (i, w) in ["w-d1", "w-d2"].iter().enumerate() {
        let src = repo.path(w);
        small_wedding(&src, 90 + i as u64);
        engine.create_backup(critical(w, &src)).await.unwrap();
    }
    let before: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("heirloom-recovery-w-d")
        })
        .map(|e| e.path())
        .collect();
    let d = engine.drill(DrillSample::Random).await.unwrap();
    assert!(d.passed(), "{d:?}");
    assert!(d.files > 0 && d.files == d.files_verified);
    assert!(d.bytes > 0 && d.mb_per_sec > 0.0);
    let after: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("heirloom-recovery-w-d")
        })
        .map(|e| e.path())
        .collect();
    assert_eq!(before, after, "the drill folder is removed");
    assert_eq!(engine.last_drill().unwrap(), Some(d.clone()));
    let json = serde_json::to_value(&d).unwrap();
    assert!(json["filesVerified"].is_u64() && json["status"] == "passed");
    let d2 = engine
        .drill(DrillSample::Wedding {
            wedding_id: "w-d2".into(),
        })
        .await
        .unwrap();
    assert_eq!(d2.wedding_id, "w-d2");
}
