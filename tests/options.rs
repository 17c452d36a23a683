//! Request options that must do what their names say.

use std::sync::Arc;

use heirloom::api::{
    BackupType, DataType, EmergencyRecoveryRequest, EncryptionLevel, Priority, RecoveryLocation,
    SourceItem, WeddingBackupRequest,
};
use heirloom::{Engine, Error, KeyProvider, KeyProviderError};
use heirloom_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_n_is_honoured_or_refused() {
    let repo = TestRepo::new(5);
    let src = repo.path("src");
    small_wedding(&src, 31);
    let engine = repo.engine().await;
    let mut req = WeddingBackupRequest::directory("w-n", &src);
    req.locations = Some(4);
    let b = engine.create_backup(req.clone()).await.expect("4 of 5");
    assert_eq!((b.data_shards, b.parity_shards), (3, 1));
    // Each pack on 4 distinct locations; packs spread over all 5.
    assert!(b.locations_used.len() >= 4);
    req.locations = Some(6);
    match engine.create_backup(req.clone()).await {
        Err(Error::InsufficientLocations {
            wedding,
            needed: 6,
            available: 5,
        }) => assert_eq!(wedding, "w-n"),
        other => panic!("expected InsufficientLocations, got {other:?}"),
    }
    req.locations = Some(4);
    req.priority = Priority::WeddingDayUrgent;
    assert!(
        matches!(
            engine.create_backup(req.clone()).await,
            Err(Error::InvalidRequest(_))
        ),
        "critical needs 5"
    );
    // Two locations down: a critical backup (5 needed) is refused before anything is written.
    repo.remove_location(0);
    repo.remove_location(1);
    req.locations = None;
    match engine.create_backup(req).await {
        Err(Error::InsufficientLocations {
            needed: 5,
            available: 3,
            ..
        }) => {}
        other => panic!("expected InsufficientLocations, got {other:?}"),
    }
}

#[derive(Debug)]
struct Vault;

impl KeyProvider for Vault {
    fn id(&self) -> String {
        "test-vault".into()
    }
    fn wrap(&self, wedding: &str, key: &[u8]) -> Result<Vec<u8>, KeyProviderError> {
        let mut v = format!("{wedding}:").into_bytes();
        v.extend(key.iter().map(|b| b ^ 0xa5));
        Ok(v)
    }
    fn unwrap(&self, wedding: &str, wrapped: &[u8]) -> Result<Vec<u8>, KeyProviderError> {
        let prefix = format!("{wedding}:");
        let rest = wrapped
            .strip_prefix(prefix.as_bytes())
            .ok_or_else(|| KeyProviderError("not this wedding's key".into()))?;
        Ok(rest.iter().map(|b| b ^ 0xa5).collect())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn government_grade_needs_a_key_provider() {
    let repo = TestRepo::new(3);
    let src = repo.path("src");
    small_wedding(&src, 32);
    let engine = repo.engine().await;
    let mut req = WeddingBackupRequest::directory("w-gov", &src);
    req.encryption = EncryptionLevel::GovernmentGrade;
    assert!(matches!(
        engine.create_backup(req.clone()).await,
        Err(Error::KeyProviderRequired)
    ));
    assert!(engine.snapshots(Some("w-gov")).await.unwrap().is_empty());

    let mut cfg = repo.config("state-gov");
    cfg.key_provider = Some(Arc::new(Vault));
    let engine = Engine::open(cfg).await.unwrap();
    engine
        .create_backup(req)
        .await
        .expect("with a key provider");
    let out = repo.path("out");
    engine
        .recover(EmergencyRecoveryRequest::to_folder("w-gov", &out))
        .await
        .expect("recover");
    assert_same_tree(&src, &out, true);

    // Without the provider the snapshot is listed but cannot be read.
    let engine = Engine::open(repo.config("state-nogov")).await.unwrap();
    assert_eq!(engine.snapshots(Some("w-gov")).await.unwrap().len(), 1);
    let err = engine
        .recover(EmergencyRecoveryRequest::to_folder(
            "w-gov",
            repo.path("out2"),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::KeyProviderRequired), "{err:?}");
    assert!(!repo.path("out2").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_in_time_critical_only_and_original_location() {
    let repo = TestRepo::new(3);
    let src = repo.path("src");
    small_wedding(&src, 33);
    let engine = repo.engine().await;
    let first = engine
        .create_backup(WeddingBackupRequest::directory("w-pit", &src))
        .await
        .unwrap();
    let v1 = std::fs::read(src.join("documents/contract.txt")).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    // Day 2: a document edited, a new photo, a changed video.
    write_file(
        &src,
        "documents/contract.txt",
        b"amended contract",
        1_700_100_000,
    );
    write_file(&src, "photos/new.jpg", &photo(700_000, 34), 1_700_100_000);
    write_file(
        &src,
        "video/highlights.mp4",
        &video(1_000_000, 35),
        1_700_100_000,
    );
    let mut req = WeddingBackupRequest::directory("w-pit", &src);
    req.backup_type = BackupType::CriticalOnly;
    let second = engine.create_backup(req).await.unwrap();
    assert_eq!(
        second.stats.files_read, 2,
        "the document and the photo; not the video"
    );
    assert_eq!(second.stats.files_unchanged, 27);

    // The newest snapshot at or before the first one's time is the first.
    let mut rr = EmergencyRecoveryRequest::to_folder("w-pit", repo.path("at-first"));
    rr.target_timestamp = Some(first.completed_at);
    let r = engine.recover(rr).await.unwrap();
    assert_eq!(r.snapshot_id, first.backup_id);
    assert_eq!(
        std::fs::read(repo.path("at-first/documents/contract.txt")).unwrap(),
        v1
    );
    let mut too_early = EmergencyRecoveryRequest::to_folder("w-pit", repo.path("never"));
    too_early.target_timestamp = Some(first.started_at - chrono::Duration::days(1));
    assert!(matches!(
        engine.recover(too_early).await,
        Err(Error::NotFound(_))
    ));

    // critical_only carried the old video over; the new photo and document are in.
    let mut only = EmergencyRecoveryRequest::to_folder("w-pit", repo.path("latest"));
    only.data_type = DataType::CompleteWedding;
    engine.recover(only).await.unwrap();
    assert_eq!(
        std::fs::read(repo.path("latest/documents/contract.txt")).unwrap(),
        b"amended contract"
    );
    assert!(repo.path("latest/photos/new.jpg").exists());
    assert_ne!(
        std::fs::read(repo.path("latest/video/highlights.mp4")).unwrap(),
        std::fs::read(src.join("video/highlights.mp4")).unwrap()
    );

    // Original location: the deleted photo comes back in place.
    std::fs::remove_file(src.join("photos/new.jpg")).unwrap();
    let mut orig = EmergencyRecoveryRequest::to_folder("w-pit", "ignored");
    orig.recovery_location = RecoveryLocation::Original;
    orig.data_type = DataType::PhotosOnly;
    engine.recover(orig).await.unwrap();
    assert!(src.join("photos/new.jpg").exists());
    assert!(list_tree(&src)
        .iter()
        .all(|(p, _)| !p.starts_with(".heirloom-restore")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_source_and_refused_names() {
    let repo = TestRepo::new(3);
    let engine = repo.engine().await;
    let item = |name: &str, data: &[u8]| SourceItem {
        name: name.into(),
        path: None,
        data: Some(data.to_vec()),
    };
    let mut req = WeddingBackupRequest::directory("w-items", "unused");
    req.source = heirloom::api::BackupSource::Items {
        items: vec![
            item("contracts/venue.txt", b"venue"),
            item("photos/a.jpg", &photo(5000, 1)),
        ],
    };
    let b = engine.create_backup(req.clone()).await.unwrap();
    assert_eq!(b.stats.files_total, 2);
    engine
        .recover(EmergencyRecoveryRequest::to_folder(
            "w-items",
            repo.path("out"),
        ))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(repo.path("out/contracts/venue.txt")).unwrap(),
        b"venue"
    );

    for bad in ["../escape.txt", "/etc/passwd", "a/../../b"] {
        req.source = heirloom::api::BackupSource::Items {
            items: vec![item(bad, b"x")],
        };
        assert!(
            matches!(
                engine.create_backup(req.clone()).await,
                Err(Error::PathEscape { .. })
            ),
            "{bad}"
        );
    }
    let mut to_file =
        EmergencyRecoveryRequest::to_folder("w-items", repo.path("out/contracts/venue.txt"));
    to_file.data_type = DataType::CompleteWedding;
    assert!(matches!(
        engine.recover(to_file).await,
        Err(Error::InvalidRequest(_))
    ));
}
