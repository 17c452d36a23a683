//! Test support: the one provider conformance suite.
//!
//! Every provider and every provider wrapper runs
//! [`conformance_suite`]; a backend that passes it behaves the way the
//! engine assumes.
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use heirloom::provider::memory::MemoryProvider;
//!
//! heirloom::testing::conformance_suite(Arc::new(MemoryProvider::new())).await;
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::provider::{ProviderError, StorageProvider};

#[cfg(feature = "s3")]
pub mod s3;

/// Runs every conformance check against `provider`, panicking with a
/// message naming the failed check.
///
/// All objects are written under a fresh random prefix
/// (`conformance-<hex>/`), one sub-prefix per check, so the suite can run
/// against a bucket shared with other data or other runs; the objects are
/// deleted at the end. Run it on a multi-threaded runtime so the
/// concurrency checks really race.
pub async fn conformance_suite(provider: Arc<dyn StorageProvider>) {
    let base = format!("conformance-{:016x}", rand::random::<u64>());
    let p = provider.as_ref();
    roundtrip_and_overwrite(p, &format!("{base}/roundtrip")).await;
    ranged_get(p, &format!("{base}/range")).await;
    missing_objects(p, &format!("{base}/missing")).await;
    list_by_prefix(p, &format!("{base}/list")).await;
    delete(p, &format!("{base}/delete")).await;
    put_if_absent(p, &format!("{base}/absent")).await;
    put_if_absent_race(&provider, &format!("{base}/race")).await;
    large_object(p, &format!("{base}/large")).await;
    unicode_keys(p, &format!("{base}/unicode")).await;
    invalid_keys(p, &base).await;
    concurrent_writers(&provider, &format!("{base}/writers")).await;
    cleanup(p, &base).await;
}

fn bytes(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn get_all(p: &dyn StorageProvider, key: &str, check: &str) -> Bytes {
    p.get(key, None)
        .await
        .unwrap_or_else(|e| panic!("{check}: get {key:?} failed: {e}"))
}

async fn list_keys(p: &dyn StorageProvider, prefix: &str, check: &str) -> Vec<String> {
    let listed = p
        .list(prefix)
        .await
        .unwrap_or_else(|e| panic!("{check}: list {prefix:?} failed: {e}"));
    let mut keys: Vec<String> = listed.into_iter().map(|m| m.key).collect();
    keys.sort();
    keys
}

async fn roundtrip_and_overwrite(p: &dyn StorageProvider, dir: &str) {
    let key = format!("{dir}/obj");
    p.put(&key, bytes("first version"))
        .await
        .expect("roundtrip: put failed");
    assert_eq!(
        get_all(p, &key, "roundtrip").await,
        "first version",
        "roundtrip: wrong data"
    );
    let meta = p.head(&key).await.expect("roundtrip: head failed");
    assert_eq!(meta.key, key, "roundtrip: head names another key");
    assert_eq!(meta.size, 13, "roundtrip: head gives the wrong size");

    p.put(&key, bytes("v2"))
        .await
        .expect("overwrite: put failed");
    assert_eq!(
        get_all(p, &key, "overwrite").await,
        "v2",
        "overwrite: old data remains"
    );
    assert_eq!(
        p.head(&key).await.expect("overwrite: head").size,
        2,
        "overwrite: stale size"
    );

    let empty = format!("{dir}/empty");
    p.put(&empty, Bytes::new())
        .await
        .expect("empty object: put failed");
    assert_eq!(
        get_all(p, &empty, "empty object").await,
        "",
        "empty object: data"
    );
    assert_eq!(p.head(&empty).await.expect("empty object: head").size, 0);
}

async fn ranged_get(p: &dyn StorageProvider, dir: &str) {
    let key = format!("{dir}/digits");
    p.put(&key, bytes("0123456789"))
        .await
        .expect("range: put failed");
    let cases: [(std::ops::Range<u64>, &str, &str); 5] = [
        (2..5, "234", "middle"),
        (0..10, "0123456789", "whole"),
        (7..100, "789", "end past the object is clamped"),
        (10..20, "", "start at the end is empty"),
        (50..60, "", "start past the end is empty"),
    ];
    for (range, want, what) in cases {
        let got = p
            .get(&key, Some(range.clone()))
            .await
            .unwrap_or_else(|e| panic!("range {range:?} ({what}): {e}"));
        assert_eq!(got, want, "range {range:?}: {what}");
    }
}

fn assert_not_found<T: std::fmt::Debug>(r: Result<T, ProviderError>, what: &str) {
    match r {
        Err(ProviderError::NotFound { .. }) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

async fn missing_objects(p: &dyn StorageProvider, dir: &str) {
    let key = format!("{dir}/never-written");
    assert_not_found(p.get(&key, None).await, "get of a missing object");
    assert_not_found(
        p.get(&key, Some(0..1)).await,
        "ranged get of a missing object",
    );
    assert_not_found(p.head(&key).await, "head of a missing object");
    let deep = format!("{dir}/no/such/dir");
    assert_not_found(p.head(&deep).await, "head under a missing prefix");
}

async fn list_by_prefix(p: &dyn StorageProvider, dir: &str) {
    let keys = [
        "packs/ab/1",
        "packs/ab/2",
        "packs/abc/3",
        "packs/b/4",
        "packs/ab-x",
        "index/1",
    ];
    for (i, k) in keys.iter().enumerate() {
        p.put(&format!("{dir}/{k}"), Bytes::from(vec![b'x'; i + 1]))
            .await
            .unwrap_or_else(|e| panic!("list: put {k:?} failed: {e}"));
    }
    let expect = |names: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|k| format!("{dir}/{k}")).collect();
        v.sort();
        v
    };
    let cases: [(&str, &[&str]); 6] = [
        ("", &keys),
        ("packs/", &keys[..5]),
        (
            "packs/ab",
            &["packs/ab/1", "packs/ab/2", "packs/abc/3", "packs/ab-x"],
        ),
        ("packs/ab/", &["packs/ab/1", "packs/ab/2"]),
        ("pa", &keys[..5]),
        ("snapshots/", &[]),
    ];
    for (prefix, want) in cases {
        let full = format!("{dir}/{prefix}");
        assert_eq!(
            list_keys(p, &full, "list").await,
            expect(want),
            "list {prefix:?}"
        );
    }
    let listed = p.list(&format!("{dir}/index/")).await.expect("list: sizes");
    assert_eq!(listed.len(), 1, "list: index/");
    assert_eq!(listed[0].size, 6, "list: wrong size for index/1");
    assert!(list_keys(p, &format!("{dir}-nothing/"), "list")
        .await
        .is_empty());
}

async fn delete(p: &dyn StorageProvider, dir: &str) {
    let key = format!("{dir}/obj");
    p.put(&key, bytes("x")).await.expect("delete: put failed");
    p.delete(&key).await.expect("delete: delete failed");
    assert_not_found(p.get(&key, None).await, "get after delete");
    assert_not_found(p.head(&key).await, "head after delete");
    assert!(
        list_keys(p, dir, "delete").await.is_empty(),
        "delete: still listed"
    );
    p.delete(&key)
        .await
        .expect("delete of a missing object must be Ok");
    p.delete(&format!("{dir}/never/was"))
        .await
        .expect("delete under a missing prefix");
}

async fn put_if_absent(p: &dyn StorageProvider, dir: &str) {
    let key = format!("{dir}/obj");
    p.put_if_absent(&key, bytes("first"))
        .await
        .expect("put_if_absent: first write failed");
    match p.put_if_absent(&key, bytes("second")).await {
        Err(ProviderError::AlreadyExists { .. }) => {}
        other => panic!("put_if_absent on an existing key: expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        get_all(p, &key, "put_if_absent").await,
        "first",
        "put_if_absent replaced data"
    );
    let put_key = format!("{dir}/put-first");
    p.put(&put_key, bytes("by put"))
        .await
        .expect("put_if_absent: put failed");
    assert!(
        matches!(
            p.put_if_absent(&put_key, bytes("x")).await,
            Err(ProviderError::AlreadyExists { .. })
        ),
        "put_if_absent over an object written by put must fail"
    );
}

async fn put_if_absent_race(provider: &Arc<dyn StorageProvider>, dir: &str) {
    // Several rounds, each with 16 writers released together, so that a
    // check-then-write implementation loses the race reliably.
    for round in 0..8 {
        let key = format!("{dir}/contended-{round}");
        let start = Arc::new(tokio::sync::Barrier::new(16));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let p = Arc::clone(provider);
                let key = key.clone();
                let start = Arc::clone(&start);
                let data = Bytes::from(format!("writer {i} ").repeat(100 + i));
                tokio::spawn(async move {
                    start.wait().await;
                    (p.put_if_absent(&key, data.clone()).await, data)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            let (result, data) = t.await.expect("race: a writer task panicked");
            match result {
                Ok(()) => winners.push(data),
                Err(ProviderError::AlreadyExists { .. }) => {}
                Err(e) => panic!("race: a losing writer got {e} instead of AlreadyExists"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "race round {round}: {} of 16 put_if_absent calls won",
            winners.len()
        );
        let stored = get_all(provider.as_ref(), &key, "race").await;
        assert!(
            stored == winners[0],
            "race round {round}: stored data is not the winner's"
        );
    }
}

async fn large_object(p: &dyn StorageProvider, dir: &str) {
    let key = format!("{dir}/blob");
    let len = 8 * 1024 * 1024 + 1;
    let data = Bytes::from((0..len).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>());
    p.put(&key, data.clone()).await.expect("large: put failed");
    assert_eq!(
        p.head(&key).await.expect("large: head").size,
        len as u64,
        "large: size"
    );
    assert!(
        get_all(p, &key, "large").await == data,
        "large: roundtrip differs"
    );
    let mid = (len / 2) as u64;
    let got = p
        .get(&key, Some(mid - 1000..mid + 1000))
        .await
        .expect("large: range");
    assert!(
        got == data.slice(mid as usize - 1000..mid as usize + 1000),
        "large: range differs"
    );
    let tail = p
        .get(&key, Some(len as u64 - 1..len as u64 + 10))
        .await
        .expect("large: tail");
    assert_eq!(tail, data.slice(len - 1..), "large: last byte");
}

async fn unicode_keys(p: &dyn StorageProvider, dir: &str) {
    let key = format!("{dir}/snapshots/Ünïcødé-婚礼-💍");
    p.put(&key, bytes("💍")).await.expect("unicode: put failed");
    assert_eq!(get_all(p, &key, "unicode").await, "💍", "unicode: data");
    assert_eq!(
        p.head(&key).await.expect("unicode: head").key,
        key,
        "unicode: head key"
    );
    assert_eq!(
        list_keys(p, &format!("{dir}/snapshots/Ünï"), "unicode").await,
        std::slice::from_ref(&key),
        "unicode: list by a prefix ending inside a multi-byte component"
    );
    p.delete(&key).await.expect("unicode: delete failed");
    assert_not_found(p.head(&key).await, "unicode: head after delete");
}

async fn invalid_keys(p: &dyn StorageProvider, base: &str) {
    let bad = [
        "../x".to_owned(),
        "/abs".to_owned(),
        "a//b".to_owned(),
        format!("{base}/../x"),
        format!("{base}//x"),
        String::new(),
    ];
    for key in &bad {
        let results = [
            ("put", p.put(key, bytes("x")).await.err()),
            (
                "put_if_absent",
                p.put_if_absent(key, bytes("x")).await.err(),
            ),
            ("get", p.get(key, None).await.err()),
            ("head", p.head(key).await.err()),
            ("delete", p.delete(key).await.err()),
        ];
        for (op, err) in results {
            assert!(
                matches!(err, Some(ProviderError::InvalidKey { .. })),
                "invalid key {key:?}: {op} gave {err:?} instead of InvalidKey"
            );
        }
    }
}

async fn concurrent_writers(provider: &Arc<dyn StorageProvider>, dir: &str) {
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let p = Arc::clone(provider);
            let key = format!("{dir}/w{i:02}");
            tokio::spawn(async move { p.put(&key, Bytes::from(vec![i as u8; i + 1])).await })
        })
        .collect();
    for t in tasks {
        t.await
            .expect("writers: task panicked")
            .expect("writers: put failed");
    }
    let listed = provider
        .list(&format!("{dir}/"))
        .await
        .expect("writers: list failed");
    let sizes: BTreeMap<String, u64> = listed.into_iter().map(|m| (m.key, m.size)).collect();
    let want: BTreeMap<String, u64> = (0..32).map(|i| (format!("{dir}/w{i:02}"), i + 1)).collect();
    assert_eq!(sizes, want, "writers: not every concurrent write is listed");
}

async fn cleanup(p: &dyn StorageProvider, base: &str) {
    let prefix = format!("{base}/");
    for key in list_keys(p, &prefix, "cleanup").await {
        p.delete(&key)
            .await
            .unwrap_or_else(|e| panic!("cleanup: delete {key:?}: {e}"));
    }
    assert!(
        list_keys(p, &prefix, "cleanup").await.is_empty(),
        "cleanup: objects remain"
    );
}
