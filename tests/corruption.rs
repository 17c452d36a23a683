//! Bit rot and garbage in shards, and the wrong key.

use std::collections::BTreeSet;

use heirloom::api::{EmergencyRecoveryRequest, Priority, WeddingBackupRequest};
use heirloom::{Engine, Error, KeySource};
use heirloom_tests::*;

/// (location index, shard index, path) of every shard file.
fn shards(repo: &TestRepo) -> Vec<(usize, usize, std::path::PathBuf)> {
    let mut out = Vec::new();
    for loc in 0..repo.locations.len() {
        for p in repo.shard_files(loc) {
            let idx: usize = p
                .extension()
                .and_then(|e| e.to_str())
                .and_then(|e| e.parse().ok())
                .expect("shard index");
            out.push((loc, idx, p));
        }
    }
    out
}

fn pack_of(p: &std::path::Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

async fn backup(repo: &TestRepo, seed: u64) -> std::path::PathBuf {
    let src = repo.path("src");
    small_wedding(&src, seed);
    let engine = repo.engine().await;
    let mut req = WeddingBackupRequest::directory("w-rot", &src);
    req.priority = Priority::Critical;
    engine.create_backup(req).await.expect("backup");
    src
}

/// Two data shards of every pack get a flipped byte (body or header, at a
/// seeded random place). Recovery reports exactly those shards, rebuilds
/// from parity, and restores byte-identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_bytes_are_detected_and_worked_around() {
    let repo = TestRepo::new(5);
    let src = backup(&repo, 11).await;
    let all = shards(&repo);
    let packs: BTreeSet<String> = all.iter().map(|(_, _, p)| pack_of(p)).collect();
    assert!(packs.len() >= 2, "want several packs, got {}", packs.len());
    let mut rng = 0x5eed_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut corrupted = BTreeSet::new();
    for pack in &packs {
        let data_shards: Vec<_> = all
            .iter()
            .filter(|(_, i, p)| *i < 3 && &pack_of(p) == pack)
            .collect();
        let skip = (next() % 3) as usize;
        for (n, (loc, _, path)) in data_shards.iter().enumerate() {
            if n == skip {
                continue;
            }
            let mut bytes = std::fs::read(path).unwrap();
            let at = (next() as usize) % bytes.len();
            bytes[at] ^= 1 << (next() % 8);
            std::fs::write(path, &bytes).unwrap();
            let key = path
                .strip_prefix(&repo.locations[*loc])
                .unwrap()
                .to_string_lossy()
                .into_owned();
            corrupted.insert((format!("loc{loc}"), key));
        }
    }
    let engine = Engine::open(repo.config("state2")).await.unwrap();
    let out = repo.path("out");
    let r = engine
        .recover(EmergencyRecoveryRequest::to_folder("w-rot", &out))
        .await
        .expect("recover");
    assert_same_tree(&src, &out, true);
    let reported: BTreeSet<(String, String)> = r
        .bad_shards
        .iter()
        .map(|b| (b.location.clone(), b.object.clone()))
        .collect();
    assert_eq!(
        reported, corrupted,
        "reported bad shards differ from the corrupted ones"
    );
    assert_eq!(r.packs_reconstructed as usize, packs.len());
}

/// A shard replaced by garbage, another truncated inside its header, a
/// third emptied: each is a typed finding, not a panic, and the data comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_truncated_shards_are_typed_errors() {
    let repo = TestRepo::new(5);
    let src = backup(&repo, 12).await;
    let all = shards(&repo);
    let pack = pack_of(&all[0].2);
    let of_pack: Vec<_> = all
        .iter()
        .filter(|(_, i, p)| pack_of(p) == pack && *i < 3)
        .collect();
    std::fs::write(&of_pack[0].2, b"this is not a shard at all").unwrap();
    let bytes = std::fs::read(&of_pack[1].2).unwrap();
    std::fs::write(&of_pack[1].2, &bytes[..40]).unwrap();
    let engine = repo.engine().await;
    let out = repo.path("out");
    let r = engine
        .recover(EmergencyRecoveryRequest::to_folder("w-rot", &out))
        .await
        .expect("recover");
    assert_same_tree(&src, &out, true);
    assert_eq!(r.bad_shards.len(), 2, "{:?}", r.bad_shards);
    for b in &r.bad_shards {
        assert!(!b.reason.is_empty());
    }
}

/// The wrong passphrase is refused with a typed error and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passphrase_is_refused_and_writes_nothing() {
    let repo = TestRepo::new(5);
    backup(&repo, 13).await;
    let before: Vec<_> = (0..5).map(|i| list_tree(&repo.locations[i])).collect();
    let mut cfg = repo.config("state-wrong");
    cfg.key = KeySource::passphrase("not the passphrase");
    match Engine::open(cfg).await {
        Err(Error::WrongKey(msg)) => assert!(!msg.contains("not the passphrase")),
        other => panic!("expected WrongKey, got {other:?}"),
    }
    let after: Vec<_> = (0..5).map(|i| list_tree(&repo.locations[i])).collect();
    assert_eq!(before, after);
}
