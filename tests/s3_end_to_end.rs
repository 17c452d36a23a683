//! A wedding backed up to five S3 buckets on two servers survives a deleted
//! bucket and a server killed in the middle of the restore.
//!
//! Server A is the shared test server (`HEIRLOOM_TEST_S3_ENDPOINT`) with
//! four buckets; server B is a `moto_server` this test starts
//! (`HEIRLOOM_TEST_MOTO_SERVER`) with the fifth. After a 3+2 backup, one
//! bucket on A is emptied and deleted; the restore then runs with A's
//! buckets slowed down (so that B, fast, serves reads) and B is killed with
//! SIGKILL after it has served a few shards. Three buckets are left, which
//! is k: the restored tree must be byte-identical.

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use heirloom::api::{EmergencyRecoveryRequest, Priority, WeddingBackupRequest};
use heirloom::provider::latency::LatencyProvider;
use heirloom::provider::s3::S3Provider;
use heirloom::provider::{ObjectMeta, ProviderResult};
use heirloom::testing::s3::{
    create_bucket, delete_bucket, endpoint_or_skip, test_config, unique_bucket, MotoServer,
};
use heirloom::{Engine, EngineConfig, KdfParams, KeySource, Location, StorageProvider};
use heirloom_tests::*;

/// Shard reads B serves before it is killed.
const READS_BEFORE_KILL: usize = 4;

/// Passes calls through to the bucket on server B, and kills B after it
/// has served [`READS_BEFORE_KILL`] shard reads.
#[derive(Debug)]
struct KillAfterReads {
    inner: Arc<dyn StorageProvider>,
    server: Arc<Mutex<Option<MotoServer>>>,
    reads: AtomicUsize,
}

#[async_trait]
impl StorageProvider for KillAfterReads {
    async fn put(&self, key: &str, data: Bytes) -> ProviderResult<()> {
        self.inner.put(key, data).await
    }
    async fn put_if_absent(&self, key: &str, data: Bytes) -> ProviderResult<()> {
        self.inner.put_if_absent(key, data).await
    }
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> ProviderResult<Bytes> {
        let r = self.inner.get(key, range).await;
        if r.is_ok()
            && key.starts_with("packs/")
            && self.reads.fetch_add(1, Ordering::SeqCst) + 1 == READS_BEFORE_KILL
        {
            if let Some(mut server) = self.server.lock().expect("server lock").take() {
                eprintln!("killing server B after {READS_BEFORE_KILL} shard reads");
                server.kill();
            }
        }
        r
    }
    async fn head(&self, key: &str) -> ProviderResult<ObjectMeta> {
        self.inner.head(key).await
    }
    async fn list(&self, prefix: &str) -> ProviderResult<Vec<ObjectMeta>> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> ProviderResult<()> {
        self.inner.delete(key).await
    }
}

/// About 64 MiB: photos, two videos, documents, unicode names.
fn wedding(root: &Path) {
    for i in 0..24u64 {
        write_file(
            root,
            &format!("photos/IMG_{i:04}.jpg"),
            &photo(1_800_000 + (i as usize) * 10_000, 10 + i),
            1_700_000_000 + i as i64,
        );
    }
    write_file(
        root,
        "video/ceremony.mp4",
        &video(12_000_000, 1),
        1_700_001_000,
    );
    write_file(
        root,
        "video/première danse 💍.mp4",
        &video(9_000_000, 2),
        1_700_001_100,
    );
    for i in 0..10u64 {
        write_file(
            root,
            &format!("documents/婚礼/guests-{i}.csv"),
            &document(200, 100 + i),
            1_700_002_000,
        );
    }
    write_file(root, "empty.txt", b"", 1_700_003_000);
}

fn s3(endpoint: &str, bucket: &str) -> Arc<dyn StorageProvider> {
    Arc::new(S3Provider::new(test_config(endpoint, bucket)).expect("S3 provider"))
}

fn config(locations: Vec<Location>, state: &Path) -> EngineConfig {
    let mut cfg = EngineConfig::new(locations, state, KeySource::passphrase(PASSPHRASE));
    cfg.kdf = KdfParams::insecure_for_tests();
    cfg.pack_size = 4 * 1024 * 1024;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_wedding_survives_a_deleted_bucket_and_a_killed_server() {
    let test = "s3_wedding_survives_a_deleted_bucket_and_a_killed_server";
    let Some(endpoint_a) = endpoint_or_skip(test) else {
        return;
    };
    let Some(server_b) = MotoServer::spawn_or_skip(test, &[]) else {
        return;
    };
    let server_b = server_b.expect("start server B");
    let endpoint_b = server_b.endpoint().to_owned();
    let server_b = Arc::new(Mutex::new(Some(server_b)));

    // Buckets 0..4 on A, bucket 4 on B.
    let buckets: Vec<(String, String)> = (0..5)
        .map(|i| {
            let endpoint = if i < 4 { &endpoint_a } else { &endpoint_b };
            (endpoint.clone(), unique_bucket(&format!("e2e{i}")))
        })
        .collect();
    for (endpoint, bucket) in &buckets {
        create_bucket(endpoint, bucket)
            .await
            .unwrap_or_else(|e| panic!("create {bucket}: {e}"));
    }
    let location = |i: usize, provider: Arc<dyn StorageProvider>| {
        Location::new(format!("s3-{i}"), format!("region-{i}"), provider)
    };

    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    wedding(&src);
    let backup_locations = buckets
        .iter()
        .enumerate()
        .map(|(i, (e, b))| location(i, s3(e, b)))
        .collect();
    let engine = Engine::open(config(backup_locations, &tmp.path().join("state")))
        .await
        .expect("open");
    let mut req = WeddingBackupRequest::directory("w-s3", &src);
    req.priority = Priority::Critical;
    let b = engine.create_backup(req).await.expect("backup");
    assert_eq!((b.data_shards, b.parity_shards), (3, 2));
    assert_eq!(b.locations_used.len(), 5);
    drop(engine);

    // Bucket 0 is emptied and deleted.
    let (endpoint0, bucket0) = &buckets[0];
    let doomed = s3(endpoint0, bucket0);
    for meta in doomed.list("").await.expect("list bucket 0") {
        doomed.delete(&meta.key).await.expect("delete object");
    }
    delete_bucket(endpoint0, bucket0)
        .await
        .expect("delete bucket 0");

    // A new engine with fresh local state, as on a replacement laptop: A's
    // buckets slowed down, B fast until it is killed.
    let reads = Arc::new(KillAfterReads {
        inner: s3(&buckets[4].0, &buckets[4].1),
        server: Arc::clone(&server_b),
        reads: AtomicUsize::new(0),
    });
    let mut restore_locations: Vec<Location> = buckets[..4]
        .iter()
        .enumerate()
        .map(|(i, (e, b))| {
            let slow = LatencyProvider::new(s3(e, b), Duration::from_millis(40))
                .with_bandwidth(20 * 1024 * 1024);
            location(i, Arc::new(slow))
        })
        .collect();
    restore_locations.push(location(4, Arc::clone(&reads) as Arc<dyn StorageProvider>));
    let mut cfg = config(restore_locations, &tmp.path().join("state-2"));
    cfg.create_if_missing = false;
    let engine = Engine::open(cfg).await.expect("open with a bucket gone");
    let out = tmp.path().join("out");
    let r = engine
        .recover(EmergencyRecoveryRequest::to_folder("w-s3", &out))
        .await
        .expect("recover");
    assert!(
        server_b.lock().expect("server lock").is_none(),
        "server B was never killed: it served {} shard reads",
        reads.reads.load(Ordering::SeqCst)
    );
    assert!(
        r.bad_shards.iter().any(|s| s.location == "s3-4"),
        "no read failed on the killed server: {:?}",
        r.bad_shards
    );
    assert_eq!(r.recovered_files, 37);
    assert_eq!(r.files_verified, 37);
    assert_same_tree(&src, &out, true);
}
