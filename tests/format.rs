//! Repository formats 3 and 4 (compressed chunks and metadata, manifests in
//! shared parts; BLAKE3 file digests from 4) on real folders, and older
//! repositories still written as their version says.

use std::fs;
use std::path::Path;

use heirloom::api::{EmergencyRecoveryRequest, WeddingBackupRequest};
use heirloom::Engine;
use heirloom_tests::*;

/// The bytes a backup's shards hold before erasure coding: `packs` × k/(k+m).
fn kept(packs: u64, b: &heirloom::api::BackupResult) -> f64 {
    packs as f64 * b.data_shards as f64 / (b.data_shards + b.parity_shards) as f64
}

/// Bytes under `prefix/` across every location.
fn stored(repo: &TestRepo, prefix: &str) -> (u64, usize) {
    let mut files = Vec::new();
    for l in &repo.locations {
        collect(&l.join(prefix), &mut files);
    }
    let bytes = files.iter().map(|f| fs::metadata(f).unwrap().len()).sum();
    (bytes, files.len())
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        if e.path().is_dir() {
            collect(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

/// A wedding of 200 small documents (2 MB of text) and two photos (2 MB).
fn wedding(root: &Path) {
    for i in 0..200 {
        write_file(
            root,
            &format!("documents/guests/list-{i:03}.txt"),
            &document(250, i),
            1_700_000_000,
        );
    }
    write_file(
        root,
        "photos/IMG_0001.jpg",
        &photo(1 << 20, 1),
        1_700_000_000,
    );
    write_file(
        root,
        "photos/IMG_0002.jpg",
        &photo(1 << 20, 2),
        1_700_000_000,
    );
}

fn text_bytes(root: &Path) -> u64 {
    (0..200)
        .map(|i| {
            fs::metadata(root.join(format!("documents/guests/list-{i:03}.txt")))
                .unwrap()
                .len()
        })
        .sum()
}

async fn restore_and_compare(engine: &Engine, src: &Path, dest: &Path) {
    engine
        .recover(EmergencyRecoveryRequest::to_folder("w", dest))
        .await
        .expect("restore");
    assert_same_tree(src, dest, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_stored_compressed_and_manifest_parts_are_shared() {
    let repo = TestRepo::new(5);
    let src = repo.path("src");
    wedding(&src);
    let (text, media) = (text_bytes(&src), 2u64 << 20);
    let engine = repo.engine().await;
    let b = engine
        .create_backup(WeddingBackupRequest::directory("w", &src))
        .await
        .expect("day 1");
    let (packs, _) = stored(&repo, "packs");
    // The text is kept at under a third of its size, the photos whole.
    let kept = kept(packs, &b);
    assert!(
        kept > media as f64,
        "{kept} bytes kept for {media} bytes of photos"
    );
    assert!(
        kept < media as f64 + text as f64 / 3.0,
        "{kept} kept: documents were not compressed ({text} bytes)"
    );
    let (_, parts_day1) = stored(&repo, "manifests");
    // Standard priority is 2+1: each part is 3 shard objects.
    assert!(
        parts_day1 >= 3 * 10,
        "{parts_day1} manifest objects: the manifest is not in parts"
    );

    // One edited document: one or two parts are new, the rest shared.
    write_file(
        &src,
        "documents/guests/list-100.txt",
        &document(260, 9_999),
        1_700_000_500,
    );
    engine
        .create_backup(WeddingBackupRequest::directory("w", &src))
        .await
        .expect("day 2");
    let (_, parts_day2) = stored(&repo, "manifests");
    let new = parts_day2 - parts_day1;
    assert!(
        (3..=6).contains(&new),
        "{new} new manifest objects for one edited file"
    );
    restore_and_compare(&engine, &src, &repo.path("dest")).await;

    // A fresh engine (catalog rebuilt from the locations) restores it too.
    let fresh = Engine::open(repo.config("state2")).await.expect("reopen");
    restore_and_compare(&fresh, &src, &repo.path("dest2")).await;
}

/// Rewrites every location's config to an older format `version`.
fn downgrade(repo: &TestRepo, version: u32) {
    for l in &repo.locations {
        let path = l.join("config");
        let mut config: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(config["version"], 5);
        config["version"] = version.into();
        fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    }
}

fn config_version(repo: &TestRepo) -> serde_json::Value {
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(repo.locations[0].join("config")).unwrap()).unwrap();
    config["version"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_repository_is_still_written_as_version_2() {
    let repo = TestRepo::new(5);
    drop(repo.engine().await);
    downgrade(&repo, 2);
    let src = repo.path("src");
    wedding(&src);
    let text = text_bytes(&src);
    let engine = Engine::open(repo.config("state-v2"))
        .await
        .expect("open version 2");
    let b = engine
        .create_backup(WeddingBackupRequest::directory("w", &src))
        .await
        .expect("backup");
    let (packs, _) = stored(&repo, "packs");
    let kept = kept(packs, &b);
    assert!(
        kept >= ((2u64 << 20) + text) as f64,
        "{kept}: a version-2 repository got compressed chunks"
    );
    // One whole manifest, on each of the five locations.
    assert_eq!(stored(&repo, "manifests").1, 5);
    restore_and_compare(&engine, &src, &repo.path("dest")).await;
    assert_eq!(config_version(&repo), 2, "the config was rewritten");
}

/// A version-3 repository (SHA-256 file digests) keeps its version, and its
/// files, checked by SHA-256, restore from a fresh engine too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_repository_restores_by_sha256() {
    let repo = TestRepo::new(5);
    drop(repo.engine().await);
    downgrade(&repo, 3);
    let src = repo.path("src");
    wedding(&src);
    let engine = Engine::open(repo.config("state-v3"))
        .await
        .expect("open version 3");
    engine
        .create_backup(WeddingBackupRequest::directory("w", &src))
        .await
        .expect("backup");
    restore_and_compare(&engine, &src, &repo.path("dest")).await;
    let fresh = Engine::open(repo.config("state-v3b"))
        .await
        .expect("reopen");
    restore_and_compare(&fresh, &src, &repo.path("dest2")).await;
    assert_eq!(config_version(&repo), 3, "the config was rewritten");
}
