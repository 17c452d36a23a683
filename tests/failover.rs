//! Shard writes fail over to a spare location when a location fails mid-backup.

use heirloom::api::{EmergencyRecoveryRequest, Priority, WeddingBackupRequest};
use heirloom::{Engine, Error};
use heirloom_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_location_that_stops_taking_writes_is_replaced_by_a_spare() {
    let repo = TestRepo::new(6);
    let src = repo.path("src");
    small_wedding(&src, 41);
    let (faulty, locations) = repo.faulty_locations();
    let mut cfg = repo.config("state");
    cfg.locations = locations;
    let engine = Engine::open(cfg).await.unwrap();
    // Location 2 still answers reads but refuses every write from now on.
    faulty[2].crash_after_writes(0);
    let mut req = WeddingBackupRequest::directory("w-fail", &src);
    req.priority = Priority::Critical;
    let b = engine
        .create_backup(req.clone())
        .await
        .expect("backup fails over");
    assert!(
        !b.locations_used.contains(&"loc2".to_string()),
        "{:?}",
        b.locations_used
    );
    assert_eq!(b.locations_used.len(), 5);

    // A second location failing leaves no spare: the backup fails, typed and transient.
    faulty[4].crash_after_writes(0);
    write_file(&src, "photos/new.jpg", &photo(3_000_000, 42), 1_700_000_000);
    let err = engine.create_backup(req).await.unwrap_err();
    assert!(
        matches!(err, Error::Storage { .. }) && err.is_transient(),
        "{err:?}"
    );

    let out = repo.path("out");
    engine
        .recover(EmergencyRecoveryRequest::to_folder("w-fail", &out))
        .await
        .expect("recover");
    std::fs::remove_file(src.join("photos/new.jpg")).unwrap();
    assert_same_tree(&src, &out, true);
}

/// A location that answers, but slowly, is hedged: the restore takes its
/// shards from the others and never waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_location_is_hedged_around() {
    let repo = TestRepo::new(5);
    let src = repo.path("src");
    small_wedding(&src, 43);
    let (faulty, locations) = repo.faulty_locations();
    let mut cfg = repo.config("state");
    cfg.locations = locations;
    let engine = Engine::open(cfg).await.unwrap();
    let mut req = WeddingBackupRequest::directory("w-slow", &src);
    req.priority = Priority::Critical;
    engine.create_backup(req).await.unwrap();

    faulty[0].set_latency(std::time::Duration::from_secs(4));
    let reads_before = faulty[0].reads();
    let mut rr = EmergencyRecoveryRequest::to_folder("w-slow", repo.path("out"));
    rr.urgency = heirloom::api::Urgency::WeddingDayCritical;
    let r = engine.recover(rr).await.expect("recover");
    assert_same_tree(&src, &repo.path("out"), true);
    assert!(
        !r.locations_read.contains(&"loc0".to_string()),
        "waited for the slow location: {:?}",
        r.locations_read
    );
    assert!(
        faulty[0].reads() > reads_before,
        "the slow location was never asked, so nothing was hedged"
    );
}

/// Locations that are all equally slow (one busy disk, or far away) start no
/// spares: each pack's shards arrive together, so nothing lags its siblings,
/// and the restore asks for as many shards as it does with no delay at all.
/// (Metadata reads are hedged on a fixed timer: one copy of a small object
/// is enough, and a spare costs little.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equally_slow_locations_are_not_hedged() {
    let repo = TestRepo::new(5);
    let src = repo.path("src");
    small_wedding(&src, 44);
    let (faulty, locations) = repo.faulty_locations();
    let mut cfg = repo.config("state");
    cfg.locations = locations;
    let engine = Engine::open(cfg).await.unwrap();
    let mut req = WeddingBackupRequest::directory("w-even", &src);
    req.priority = Priority::Critical;
    engine.create_backup(req).await.unwrap();

    let restore_asking_k_shards = |out: &'static str| {
        let (engine, faulty, out) = (&engine, &faulty, repo.path(out));
        async move {
            let before: u64 = faulty.iter().map(|f| f.shard_reads()).sum();
            let mut rr = EmergencyRecoveryRequest::to_folder("w-even", &out);
            rr.urgency = heirloom::api::Urgency::WeddingDayCritical;
            let r = engine.recover(rr).await.expect("recover");
            assert_eq!(r.packs_reconstructed, 0);
            let reads = faulty.iter().map(|f| f.shard_reads()).sum::<u64>() - before;
            // k = 3 per pack with no spare; a fixed timer asked all five.
            assert!(
                reads < 4 * r.packs_read,
                "{reads} shard reads for {} packs",
                r.packs_read
            );
        }
    };
    restore_asking_k_shards("fast").await;
    // Four times the critical hedge delay: a fixed timer started two spares
    // for every pack (15 reads for 3 packs).
    for f in &faulty {
        f.set_latency(std::time::Duration::from_millis(600));
    }
    restore_asking_k_shards("slow").await;
    assert_same_tree(&src, &repo.path("slow"), true);
}
