//! A realistic folder round trip, and an incremental backup that does not
//! read unchanged files.

use heirloom::api::{BackupType, EmergencyRecoveryRequest, Priority, WeddingBackupRequest};
use heirloom_tests::*;

/// Nested folders, empty files, a 200 MiB file, 1,000 small files and
/// unicode names back up and restore byte-identical, with mtimes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_wedding_folder_roundtrips_with_mtimes() {
    let repo = TestRepo::new(5);
    let src = repo.path("src");
    write_file(
        &src,
        "video/ceremony-full.mp4",
        &video(200 * 1024 * 1024, 9),
        1_690_000_000,
    );
    for i in 0..1000u64 {
        let dir = format!("documents/batch-{}/sub-{}", i % 10, i % 3);
        write_file(
            &src,
            &format!("{dir}/note-{i}.txt"),
            &document(1 + (i as usize % 40), i),
            1_690_000_000 + i as i64,
        );
    }
    for i in 0..5u64 {
        write_file(
            &src,
            &format!("photos/Ünïcødé 婚礼 💍/IMG_{i}.jpg"),
            &photo(3_000_000, 100 + i),
            1_690_100_000,
        );
        write_file(&src, &format!("empty/e{i}.txt"), b"", 1_690_200_000);
    }
    std::fs::create_dir_all(src.join("deeply/nested/empty/folder")).unwrap();

    let engine = repo.engine().await;
    let mut req = WeddingBackupRequest::directory("w-large", &src);
    req.priority = Priority::Critical;
    req.backup_type = BackupType::Full;
    let b = engine.create_backup(req).await.expect("backup");
    assert_eq!(b.stats.files_total, 1011);
    assert_eq!(b.stats.files_read, 1011);

    let out = repo.path("out");
    let r = engine
        .recover(EmergencyRecoveryRequest::to_folder("w-large", &out))
        .await
        .expect("recover");
    assert_eq!(r.files_verified, 1011);
    assert_same_tree(&src, &out, true);
}

/// An incremental backup of an unchanged 1 GiB folder reads (almost) none
/// of its content: the counter of bytes read stays near zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_of_unchanged_folder_reads_nothing() {
    let repo = TestRepo::new(3);
    let src = repo.path("src");
    for i in 0..16u64 {
        write_file(
            &src,
            &format!("photos/IMG_{i}.jpg"),
            &photo(64 * 1024 * 1024, i),
            1_700_000_000,
        );
    }
    let engine = repo.engine().await;
    let first = engine
        .create_backup(WeddingBackupRequest::directory("w-inc", &src))
        .await
        .expect("first");
    assert_eq!(first.stats.bytes_read, 1 << 30);

    let second = engine
        .create_backup(WeddingBackupRequest::directory("w-inc", &src))
        .await
        .expect("second");
    assert_eq!(second.stats.files_unchanged, 16);
    assert_eq!(second.stats.bytes_read, 0, "an unchanged file was read");
    assert_eq!(second.stats.packs_written, 0);
    assert_eq!(second.parent_id.as_deref(), Some(first.backup_id.as_str()));

    // One changed file: only it is read, and only its new chunks are stored.
    let mut data = std::fs::read(src.join("photos/IMG_3.jpg")).unwrap();
    data[1000] ^= 0xff;
    write_file(&src, "photos/IMG_3.jpg", &data, 1_700_000_500);
    let third = engine
        .create_backup(WeddingBackupRequest::directory("w-inc", &src))
        .await
        .expect("third");
    assert_eq!(third.stats.files_read, 1);
    assert_eq!(third.stats.bytes_read, 64 * 1024 * 1024);
    assert!(
        third.stats.bytes_new < 9 * 1024 * 1024,
        "{} new bytes for a one-byte edit",
        third.stats.bytes_new
    );
}
