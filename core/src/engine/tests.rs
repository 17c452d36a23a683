//! Engine tests that need the repository's internals: crafted metadata.

use std::sync::Arc;

use super::backup::manifest_aad;
use super::store::seal_json;
use super::*;
use crate::api::{BackupSource, SourceItem};
use crate::crypto::{KdfParams, KeySource};
use crate::provider::memory::MemoryProvider;
use crate::provider::{Location, StorageProvider};
use crate::repo::{MetaKind, MANIFEST_PREFIX, SNAPSHOT_PREFIX};
use crate::snapshot::{EntryKind, Manifest};
use crate::Error;

fn config(providers: &[Arc<MemoryProvider>], state: &std::path::Path) -> EngineConfig {
    let locations = providers
        .iter()
        .enumerate()
        .map(|(i, p)| Location::new(format!("m{i}"), format!("r{i}"), p.clone()))
        .collect();
    let mut cfg = EngineConfig::new(locations, state, KeySource::passphrase("pw"));
    cfg.kdf = KdfParams::insecure_for_tests();
    cfg
}

/// Three memory locations and an engine on them holding one backup of wedding `w`
/// (one file, `data`), with that backup's record and manifest. `version`
/// rewrites the repository's format version before the backup.
async fn one_file_wedding(
    dir: &std::path::Path,
    data: &[u8],
    version: Option<u32>,
) -> (
    Vec<Arc<MemoryProvider>>,
    Engine,
    crate::snapshot::SnapshotRecord,
    Manifest,
) {
    let providers: Vec<_> = (0..3).map(|_| Arc::new(MemoryProvider::new())).collect();
    let mut engine = Engine::open(config(&providers, &dir.join("s")))
        .await
        .unwrap();
    if let Some(v) = version {
        drop(engine);
        for p in &providers {
            let mut cfg: serde_json::Value =
                serde_json::from_slice(&p.get(crate::repo::CONFIG_KEY, None).await.unwrap())
                    .unwrap();
            cfg["version"] = v.into();
            let bytes = serde_json::to_vec(&cfg).unwrap();
            p.put(crate::repo::CONFIG_KEY, bytes.into()).await.unwrap();
        }
        engine = Engine::open(config(&providers, &dir.join("s-old")))
            .await
            .unwrap();
    }
    let mut req = WeddingBackupRequest::directory("w", "unused");
    req.source = BackupSource::Items {
        items: vec![SourceItem {
            name: "ok.txt".into(),
            path: None,
            data: Some(data.to_vec()),
        }],
    };
    engine.create_backup(req).await.unwrap();
    let inner = &engine.inner;
    let record = inner
        .catalog
        .read()
        .await
        .latest("w", None)
        .unwrap()
        .1
        .clone();
    let keys = super::keys::repository_keys(inner);
    let manifest = recover::load_manifest(inner, &record, &keys).await.unwrap();
    (providers, engine, record, manifest)
}

/// A manifest of format 4 on keeps each file's BLAKE3, not its SHA-256; a
/// format-3 one its SHA-256, not its BLAKE3.
#[tokio::test]
async fn files_carry_the_digest_of_their_format() {
    use sha2::Digest;
    let data = b"the first dance, 21:40";
    for version in [None, Some(3)] {
        let dir = tempfile::tempdir().unwrap();
        let (_, engine, _, manifest) = one_file_wedding(dir.path(), data, version).await;
        let want = version.unwrap_or(crate::repo::FORMAT_VERSION);
        assert_eq!(engine.inner.repo.version, want);
        let file = manifest
            .entries
            .iter()
            .find(|e| e.kind == EntryKind::File)
            .unwrap();
        let blake3 = blake3::hash(data).to_hex().to_string();
        let sha256 = hex::encode(sha2::Sha256::digest(data));
        match want {
            4.. => assert_eq!((&file.blake3, &file.sha256), (&Some(blake3), &None)),
            _ => assert_eq!((&file.blake3, &file.sha256), (&None, &Some(sha256))),
        }
    }
}

/// A manifest that names `../` or absolute paths, sealed with the right
/// key and committed like a real one, is refused before anything is written.
#[tokio::test]
async fn crafted_manifest_with_escaping_paths_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (providers, engine, record, good) = one_file_wedding(dir.path(), b"fine", None).await;
    let inner = &engine.inner;
    let keys = super::keys::repository_keys(inner);
    let template = good
        .entries
        .iter()
        .find(|e| e.kind == EntryKind::File)
        .unwrap()
        .clone();

    for evil in [
        "../outside.txt",
        "/tmp/absolute.txt",
        "a/../../x.txt",
        "sub/./../../y",
    ] {
        let mut entry = template.clone();
        entry.path = evil.to_owned();
        let manifest = Manifest {
            version: 1,
            entries: vec![entry],
        };
        let ctx = &inner.config.context;
        let sealed = seal_json(
            &keys.data,
            ctx,
            &manifest_aad(&inner.repo.repo_id, "w"),
            &manifest,
            inner.repo.compresses(),
        )
        .unwrap();
        let (name, _) = inner
            .store
            .put_replicated(MANIFEST_PREFIX, sealed, 1)
            .await
            .unwrap();
        let mut rec = record.clone();
        // A one-part manifest (the form this format writes).
        rec.manifest = String::new();
        rec.manifest_parts = vec![name];
        rec.time = ctx.now();
        let sealed = seal_json(
            &inner.master.metadata,
            ctx,
            &MetaKind::Snapshot.aad(&inner.repo.repo_id),
            &rec,
            inner.repo.compresses(),
        )
        .unwrap();
        let (snap, _) = inner
            .store
            .put_replicated(SNAPSHOT_PREFIX, sealed, 1)
            .await
            .unwrap();

        let fresh = Engine::open(config(&providers, &dir.path().join("s2")))
            .await
            .unwrap();
        let dest = dir.path().join("dest");
        let mut rr = EmergencyRecoveryRequest::to_folder("w", &dest);
        rr.snapshot_id = Some(snap.clone());
        match fresh.recover(rr).await {
            Err(Error::PathEscape { path }) => assert_eq!(path, evil),
            other => panic!("{evil}: expected PathEscape, got {other:?}"),
        }
        assert!(!dest.exists(), "{evil}: the destination was created");
        assert!(!dir.path().join("outside.txt").exists());
        // Remove the crafted snapshot so the next round starts clean.
        for p in &providers {
            p.delete(&format!("{SNAPSHOT_PREFIX}{snap}")).await.unwrap();
        }
    }
}

/// The same snapshot record under another repository's key does not open.
#[tokio::test]
async fn wrong_passphrase_on_open_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let providers: Vec<_> = (0..3).map(|_| Arc::new(MemoryProvider::new())).collect();
    Engine::open(config(&providers, &dir.path().join("s")))
        .await
        .unwrap();
    let mut cfg = config(&providers, &dir.path().join("s2"));
    cfg.key = KeySource::passphrase("PW");
    assert!(matches!(Engine::open(cfg).await, Err(Error::WrongKey(_))));
}
