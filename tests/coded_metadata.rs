//! Format 5: a backup's index object, manifest parts and snapshot record
//! are erasure-coded with the backup's own k+m, one shard per location,
//! instead of a whole copy on every location.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use heirloom::api::{
    BackupType, EmergencyRecoveryRequest, Priority, VerifyDepth, WeddingBackupRequest,
};
use heirloom::erasure::{open_shard, SHARD_HEADER_LEN};
use heirloom::{Engine, Error, FindingKind, VerifyScope};
use heirloom_tests::*;

const CODED: [&str; 3] = ["index", "manifests", "snapshots"];

fn critical(wedding: &str, src: &Path) -> WeddingBackupRequest {
    let mut r = WeddingBackupRequest::directory(wedding, src);
    r.priority = Priority::Critical;
    r
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Keys (`snapshots/<name>`) of the coded metadata objects at location `i`.
fn coded_keys(repo: &TestRepo, i: usize) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for prefix in CODED {
        let Ok(rd) = std::fs::read_dir(repo.locations[i].join(prefix)) else {
            continue;
        };
        for e in rd.flatten() {
            out.insert(format!("{prefix}/{}", e.file_name().to_string_lossy()));
        }
    }
    out
}

fn file(repo: &TestRepo, i: usize, key: &str) -> PathBuf {
    repo.locations[i].join(key)
}

async fn backed_up(repo: &TestRepo, wedding: &str, seed: u64) -> (Engine, PathBuf) {
    let src = repo.path(&format!("src-{wedding}"));
    small_wedding(&src, seed);
    let engine = repo.engine().await;
    engine
        .create_backup(critical(wedding, &src))
        .await
        .expect("backup");
    (engine, src)
}

/// Each location holds one distinct shard of every object: a header naming
/// the object's digest and 3+2, a body a third of the object long. No
/// location holds a whole copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_object_is_five_shards_one_per_location() {
    let repo = TestRepo::new(5);
    let (_engine, _) = backed_up(&repo, "w", 81).await;
    let keys = coded_keys(&repo, 0);
    for prefix in CODED {
        assert!(
            keys.iter().any(|k| k.starts_with(prefix)),
            "no {prefix} object"
        );
    }
    for key in &keys {
        let name = key.rsplit('/').next().unwrap();
        let mut indices = BTreeSet::new();
        for i in 0..5 {
            let bytes = std::fs::read(file(&repo, i, key))
                .unwrap_or_else(|e| panic!("{key} missing at loc{i}: {e}"));
            let (h, body) = open_shard(&bytes).unwrap_or_else(|e| panic!("{key} at loc{i}: {e}"));
            assert_eq!(
                hex(&h.pack_id),
                name,
                "{key} at loc{i} names another object"
            );
            assert_eq!((h.k, h.m), (3, 2), "{key}");
            assert_eq!(body.len() as u64, h.pack_len.div_ceil(3), "{key}");
            assert_eq!(bytes.len(), SHARD_HEADER_LEN + body.len());
            indices.insert(h.index);
        }
        assert_eq!(indices, (0..5).collect(), "{key}: shard indices");
    }
}

/// A rotten snapshot-record shard and a truncated manifest-part shard:
/// a fresh engine still opens and restores, a deep verify names both,
/// repair rewrites them byte for byte, and a second deep verify is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotten_metadata_shards_are_read_around_found_and_rebuilt() {
    let repo = TestRepo::new(5);
    let (engine, src) = backed_up(&repo, "w", 82).await;
    drop(engine);
    let keys = coded_keys(&repo, 0);
    let snapshot = keys.iter().find(|k| k.starts_with("snapshots/")).unwrap();
    let part = keys.iter().find(|k| k.starts_with("manifests/")).unwrap();
    let (rot, cut) = (file(&repo, 3, snapshot), file(&repo, 1, part));
    let (rot_before, cut_before) = (std::fs::read(&rot).unwrap(), std::fs::read(&cut).unwrap());
    let mut bad = rot_before.clone();
    let at = bad.len() - 7;
    bad[at] ^= 0x20;
    std::fs::write(&rot, bad).unwrap();
    std::fs::write(&cut, &cut_before[..cut_before.len() / 2]).unwrap();

    let engine = Engine::open(repo.config("state-2")).await.expect("open");
    let out = repo.path("out");
    engine
        .recover(EmergencyRecoveryRequest::to_folder("w", &out))
        .await
        .expect("restore reads around the bad shards");
    assert_same_tree(&src, &out, true);

    let deep = engine
        .verify(VerifyScope::All, VerifyDepth::Deep)
        .await
        .unwrap();
    let corrupt: BTreeSet<(String, String)> = deep
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Corrupt)
        .map(|f| (f.location.clone(), f.object.clone()))
        .collect();
    assert_eq!(
        corrupt,
        BTreeSet::from([
            ("loc3".to_owned(), snapshot.clone()),
            ("loc1".to_owned(), part.clone())
        ]),
        "{:?}",
        deep.findings
    );
    let plan = engine.repair_plan(&deep).await.unwrap();
    let report = engine.repair(plan).await.unwrap();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.metadata_copied, 2);
    assert_eq!(std::fs::read(&rot).unwrap(), rot_before);
    assert_eq!(std::fs::read(&cut).unwrap(), cut_before);
    let again = engine
        .verify(VerifyScope::All, VerifyDepth::Deep)
        .await
        .unwrap();
    assert!(again.findings.is_empty(), "{:?}", again.findings);
}

/// A snapshot record with only two of its five shards (as a backup that
/// died while writing it leaves it): the repository opens without it, the
/// wedding's earlier snapshot still restores, verify reports the record as
/// informational (not damage), and repair leaves it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_with_fewer_than_k_shards_is_left_out_and_reported() {
    let repo = TestRepo::new(5);
    let (engine, src) = backed_up(&repo, "w", 83).await;
    let first = coded_keys(&repo, 0);
    let day2 = repo.path("day2");
    small_wedding(&day2, 84);
    engine
        .create_backup(critical("w", &day2))
        .await
        .expect("day 2");
    drop(engine);
    let record = coded_keys(&repo, 0)
        .into_iter()
        .find(|k| k.starts_with("snapshots/") && !first.contains(k))
        .unwrap();
    for i in [0, 2, 4] {
        std::fs::remove_file(file(&repo, i, &record)).unwrap();
    }

    let engine = Engine::open(repo.config("state-2"))
        .await
        .expect("a record not stored in full does not stop the open");
    assert_eq!(engine.snapshots(Some("w")).await.unwrap().len(), 1);
    let out = repo.path("out");
    engine
        .recover(EmergencyRecoveryRequest::to_folder("w", &out))
        .await
        .expect("day 1 restores");
    assert_same_tree(&src, &out, true);

    let quick = engine
        .verify(VerifyScope::All, VerifyDepth::Quick)
        .await
        .unwrap();
    let stray: Vec<_> = quick
        .findings
        .iter()
        .filter(|f| f.object == record)
        .collect();
    assert_eq!(stray.len(), 1, "{:?}", quick.findings);
    assert_eq!(stray[0].kind, FindingKind::Stray);
    assert!(
        stray[0].detail.contains("needs 3 shards, 2"),
        "{}",
        stray[0].detail
    );
    assert!(quick.is_clean(), "{:?}", quick.findings);
    let report = engine.repair_all().await.unwrap();
    assert!(report.is_complete(), "{report:?}");
}

/// With every snapshot record of a wedding unreadable, recovery says so
/// (an Unrecoverable error naming the wedding), not "no snapshot".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_record_is_not_reported_as_no_snapshot() {
    let repo = TestRepo::new(5);
    let (engine, _) = backed_up(&repo, "w", 85).await;
    drop(engine);
    let record = coded_keys(&repo, 0)
        .into_iter()
        .find(|k| k.starts_with("snapshots/"))
        .unwrap();
    for i in [1, 2, 3] {
        std::fs::remove_file(file(&repo, i, &record)).unwrap();
    }
    let engine = Engine::open(repo.config("state-2")).await.expect("open");
    let err = engine
        .recover(EmergencyRecoveryRequest::to_folder("w", repo.path("out")))
        .await
        .unwrap_err();
    match err {
        Error::Unrecoverable { wedding, detail } => {
            assert_eq!(wedding, "w");
            assert!(detail.contains(&record), "{detail}");
        }
        other => panic!("expected Unrecoverable, got {other:?}"),
    }
}

/// Retiring one of six locations rebuilds its metadata shards on the
/// others; a full backup of the same folder then succeeds (its parts exist,
/// shards in other places than it would choose); afterwards the retired
/// location and two more can go, and the wedding still opens and restores
/// from the remaining three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retiring_a_location_moves_its_metadata_shards() {
    let repo = TestRepo::new(6);
    let (engine, src) = backed_up(&repo, "w", 86).await;
    let on_loc1 = coded_keys(&repo, 1);
    assert!(!on_loc1.is_empty());
    let r = engine.retire_location("loc1").await.unwrap();
    assert!(r.repair.is_complete(), "{:?}", r.repair);
    assert_eq!(r.repair.metadata_copied as usize, on_loc1.len());
    // A full backup writes every part again, placed over the five active
    // locations: the shards repair put elsewhere stand for theirs.
    let mut full = critical("w", &src);
    full.backup_type = BackupType::Full;
    engine
        .create_backup(full)
        .await
        .expect("full backup after retiring");
    drop(engine);
    for i in [1, 0, 2] {
        repo.remove_location(i);
    }
    let engine = Engine::open(repo.config("state-2")).await.expect("open");
    let out = repo.path("out");
    engine
        .recover(EmergencyRecoveryRequest::to_folder("w", &out))
        .await
        .expect("restore from three locations");
    assert_same_tree(&src, &out, true);
}
