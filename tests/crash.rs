//! A backup that dies after its Nth storage write leaves the repository
//! consistent: earlier snapshots restore, the next backup succeeds.

use std::sync::Arc;

use heirloom::api::{EmergencyRecoveryRequest, Priority, WeddingBackupRequest};
use heirloom::provider::fault::FaultyProvider;
use heirloom::{Engine, Location, StorageProvider};
use heirloom_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_dying_after_n_writes_leaves_a_consistent_repository() {
    let repo = TestRepo::new(5);
    let day1 = repo.path("day1");
    small_wedding(&day1, 21);
    let engine = repo.engine().await;
    let mut req = WeddingBackupRequest::directory("w-crash", &day1);
    req.priority = Priority::Critical;
    engine
        .create_backup(req.clone())
        .await
        .expect("first backup");
    drop(engine);
    repo.save_locations("after-day1");

    let day2 = repo.path("day2");
    small_wedding(&day2, 22);
    write_file(
        &day2,
        "photos/late/extra.jpg",
        &photo(2_000_000, 23),
        1_700_001_000,
    );
    // Day 2 fits one pack (64 MiB target, so packing does not depend on the
    // order the two file workers finish in): 5 shards, then index, manifest
    // and snapshot record × 5 locations = 20 writes. The record needs 3 of
    // its 5, so every n ≤ 17 dies: in the shards, the index, the manifest or
    // between the record's copies.
    for n in [1u64, 3, 5, 7, 10, 12, 15, 16, 17] {
        // Each crash starts from the repository as day 1 left it.
        repo.load_locations("after-day1");
        let faulty: Vec<Arc<FaultyProvider>> = repo
            .location_list()
            .into_iter()
            .map(|l| Arc::new(FaultyProvider::new(l.provider)))
            .collect();
        // All five share one write budget: the process "dies" after n writes in all.
        let budget = Arc::new(std::sync::atomic::AtomicU64::new(n));
        let locations: Vec<Location> = faulty
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let p: Arc<dyn StorageProvider> = Arc::new(Budgeted {
                    inner: f.clone(),
                    budget: budget.clone(),
                });
                Location::new(format!("loc{i}"), format!("region-{i}"), p)
            })
            .collect();
        let mut cfg = repo.config(&format!("state-{n}"));
        cfg.locations = locations;
        cfg.pack_size = 64 * 1024 * 1024;
        let engine = Engine::open(cfg).await.expect("open");
        let mut req2 = WeddingBackupRequest::directory("w-crash", &day2);
        req2.priority = Priority::Critical;
        let died = engine.create_backup(req2).await;
        assert!(
            died.is_err(),
            "the backup should have died after {n} writes: {died:?}"
        );

        // A fresh process opens cleanly, and every snapshot it lists restores:
        // day 1's, and day 2's only if the crash came after its record was
        // written somewhere (then all its data was already stored).
        let engine = Engine::open(repo.config(&format!("state-after-{n}")))
            .await
            .expect("reopen");
        let snaps = engine.snapshots(Some("w-crash")).await.unwrap();
        assert!(
            !snaps.is_empty() && snaps.len() <= 2,
            "n = {n}: {} snapshots",
            snaps.len()
        );
        for (i, s) in snaps.iter().enumerate() {
            let out = repo.path(&format!("out-{n}-{i}"));
            let mut rr = EmergencyRecoveryRequest::to_folder("w-crash", &out);
            rr.snapshot_id = Some(s.id.clone());
            engine
                .recover(rr)
                .await
                .unwrap_or_else(|e| panic!("n = {n}: snapshot {i} does not restore: {e}"));
            assert_same_tree(if i == 0 { &day1 } else { &day2 }, &out, true);
        }
        if n <= 15 {
            assert_eq!(
                snaps.len(),
                1,
                "n = {n}: the record cannot have been written yet"
            );
        }
    }
    // The last crash's leftovers stay: the next backup succeeds and restores.
    let engine = repo.engine().await;
    let mut req2 = WeddingBackupRequest::directory("w-crash", &day2);
    req2.priority = Priority::Critical;
    engine
        .create_backup(req2)
        .await
        .expect("backup after the crashes");
    let out = repo.path("out-final");
    engine
        .recover(EmergencyRecoveryRequest::to_folder("w-crash", &out))
        .await
        .expect("restore");
    assert_same_tree(&day2, &out, true);
}

/// Lets a shared number of writes through, then fails every write: a
/// process that died mid-backup, seen from its locations.
#[derive(Debug)]
struct Budgeted {
    inner: Arc<FaultyProvider>,
    budget: Arc<std::sync::atomic::AtomicU64>,
}

impl Budgeted {
    fn take(&self) -> heirloom::provider::ProviderResult<()> {
        use std::sync::atomic::Ordering;
        let ok = self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1))
            .is_ok();
        if ok {
            Ok(())
        } else {
            Err(heirloom::ProviderError::Unavailable {
                detail: "process died".into(),
            })
        }
    }
}

#[async_trait::async_trait]
impl StorageProvider for Budgeted {
    async fn put(&self, key: &str, data: bytes::Bytes) -> heirloom::provider::ProviderResult<()> {
        self.take()?;
        self.inner.put(key, data).await
    }
    async fn put_if_absent(
        &self,
        key: &str,
        data: bytes::Bytes,
    ) -> heirloom::provider::ProviderResult<()> {
        self.take()?;
        self.inner.put_if_absent(key, data).await
    }
    async fn get(
        &self,
        key: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> heirloom::provider::ProviderResult<bytes::Bytes> {
        self.inner.get(key, range).await
    }
    async fn head(&self, key: &str) -> heirloom::provider::ProviderResult<heirloom::ObjectMeta> {
        self.inner.head(key).await
    }
    async fn list(
        &self,
        prefix: &str,
    ) -> heirloom::provider::ProviderResult<Vec<heirloom::ObjectMeta>> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> heirloom::provider::ProviderResult<()> {
        self.inner.delete(key).await
    }
}
