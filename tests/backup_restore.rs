//! Backup and restore round trips on local-folder locations.

use heirloom::api::{
    DataType, EmergencyRecoveryRequest, EncryptionLevel, Priority, RecoveryLocation,
    WeddingBackupRequest,
};
use heirloom_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_wedding_roundtrip_with_every_data_type() {
    let repo = TestRepo::new(5);
    let src = repo.path("src");
    small_wedding(&src, 1);
    let engine = repo.engine().await;
    let mut req = WeddingBackupRequest::directory("w-ada", &src);
    req.priority = Priority::Critical;
    let b = engine.create_backup(req).await.expect("backup");
    assert_eq!((b.data_shards, b.parity_shards), (3, 2));
    assert_eq!(b.locations_used.len(), 5);
    assert_eq!(b.stats.files_total, 29);

    let out = repo.path("out");
    let r = engine
        .recover(EmergencyRecoveryRequest::to_folder("w-ada", &out))
        .await
        .expect("recover");
    assert_eq!(r.recovered_files, 29);
    assert_eq!(r.files_verified, 29);
    assert!(r.bad_shards.is_empty());
    assert_same_tree(&src, &out, true);

    let mut photos = EmergencyRecoveryRequest::to_folder("w-ada", repo.path("photos"));
    photos.data_type = DataType::PhotosOnly;
    let r = engine.recover(photos).await.expect("photos");
    assert_eq!(
        r.recovered_files, 5,
        "4 ceremony photos and 1 reception photo"
    );
    let mut docs = EmergencyRecoveryRequest::to_folder("w-ada", repo.path("docs"));
    docs.data_type = DataType::DocumentsOnly;
    let r = engine.recover(docs).await.expect("documents");
    assert_eq!(
        r.recovered_files, 23,
        "20 csv, the contract, the notes and empty.txt (by extension)"
    );
    let mut items = EmergencyRecoveryRequest::to_folder("w-ada", repo.path("items"));
    items.data_type = DataType::SpecificItems;
    items.items = vec!["photos/reception".into(), "documents/contract.txt".into()];
    let r = engine.recover(items).await.expect("items");
    assert_eq!(r.recovered_files, 2);
    assert_eq!(
        std::fs::read(repo.path("items/documents/contract.txt")).unwrap(),
        std::fs::read(src.join("documents/contract.txt")).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enhanced_encryption_and_temporary_destination() {
    let repo = TestRepo::new(3);
    let src = repo.path("src");
    small_wedding(&src, 2);
    let engine = repo.engine().await;
    let mut req = WeddingBackupRequest::directory("w-enh", &src);
    req.encryption = EncryptionLevel::Enhanced;
    engine.create_backup(req).await.expect("backup");
    let mut rr = EmergencyRecoveryRequest::to_folder("w-enh", "unused");
    rr.recovery_location = RecoveryLocation::Temporary;
    rr.destination = None;
    let r = engine.recover(rr).await.expect("recover");
    assert!(r
        .destination
        .starts_with(std::env::temp_dir().canonicalize().unwrap()));
    assert_same_tree(&src, &r.destination, true);
    std::fs::remove_dir_all(&r.destination).unwrap();
}
