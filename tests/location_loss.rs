//! Losing locations: any m of a k+m repository, more than m, and opening
//! with an empty state folder on only k locations.

use heirloom::api::{EmergencyRecoveryRequest, Priority, WeddingBackupRequest};
use heirloom::Error;
use heirloom_tests::*;

async fn critical_backup(repo: &TestRepo, wedding: &str, seed: u64) -> std::path::PathBuf {
    let src = repo.path(&format!("src-{wedding}"));
    small_wedding(&src, seed);
    let engine = repo.engine().await;
    let mut req = WeddingBackupRequest::directory(wedding, &src);
    req.priority = Priority::Critical;
    let b = engine.create_backup(req).await.expect("backup");
    assert_eq!((b.data_shards, b.parity_shards), (3, 2));
    src
}

/// For every pair of the five locations of a 3+2 repository: with both
/// location folders gone, recovery is byte-identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_two_of_five_locations_can_be_lost() {
    let repo = TestRepo::new(5);
    let src = critical_backup(&repo, "w-pairs", 3).await;
    for a in 0..5 {
        for b in a + 1..5 {
            repo.remove_location(a);
            repo.remove_location(b);
            let engine = Engine::open(repo.config(&format!("state-{a}{b}")))
                .await
                .expect("open with two locations gone");
            let out = repo.path(&format!("out-{a}{b}"));
            let r = engine
                .recover(EmergencyRecoveryRequest::to_folder("w-pairs", &out))
                .await
                .expect("recover");
            assert_same_tree(&src, &out, true);
            assert!(
                !r.locations_read.contains(&format!("loc{a}"))
                    && !r.locations_read.contains(&format!("loc{b}"))
            );
            repo.restore_location(a);
            repo.restore_location(b);
        }
    }
}

/// Three of five gone: the repository still opens, the error names the
/// wedding and what cannot be rebuilt, and the destination is left as it
/// was. The metadata is coded 3+2 like the data, so with two locations left
/// the snapshot record itself cannot be read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_m_lost_fails_cleanly() {
    let repo = TestRepo::new(5);
    critical_backup(&repo, "w-lost", 4).await;
    for i in [0, 2, 4] {
        repo.remove_location(i);
    }
    let engine = Engine::open(repo.config("state2"))
        .await
        .expect("objects not stored in full are left out, not fatal");
    let out = repo.path("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), b"already here").unwrap();
    let err = engine
        .recover(EmergencyRecoveryRequest::to_folder("w-lost", &out))
        .await
        .unwrap_err();
    match &err {
        Error::Unrecoverable { wedding, detail } => {
            assert_eq!(wedding, "w-lost");
            assert!(
                detail.contains("cannot be read") && detail.contains("needs 3 shards, 2"),
                "{detail}"
            );
        }
        other => panic!("expected Unrecoverable, got {other:?}"),
    }
    assert!(err.to_string().contains("w-lost"));
    assert_eq!(
        list_tree(&out),
        vec![("keep.txt".to_string(), false)],
        "the destination was changed"
    );
}

/// A new machine: empty state folder, the key, and only three of the five
/// locations. Every snapshot is listed and restores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_state_and_three_of_five_locations_restore_everything() {
    let repo = TestRepo::new(5);
    let s1 = critical_backup(&repo, "w-one", 5).await;
    let s2 = critical_backup(&repo, "w-two", 6).await;
    std::fs::remove_dir_all(repo.path("state")).unwrap();
    repo.remove_location(1);
    repo.remove_location(3);
    let engine = Engine::open(repo.config("fresh-state"))
        .await
        .expect("open");
    let snaps = engine.snapshots(None).await.unwrap();
    assert_eq!(snaps.len(), 2);
    for (wedding, src) in [("w-one", &s1), ("w-two", &s2)] {
        let out = repo.path(&format!("out-{wedding}"));
        engine
            .recover(EmergencyRecoveryRequest::to_folder(wedding, &out))
            .await
            .expect("recover");
        assert_same_tree(src, &out, true);
    }
}

use heirloom::Engine;
