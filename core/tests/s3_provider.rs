//! The S3 provider against a real S3 server (moto in CI): the conformance
//! suite, and how the server's refusals map to error categories.
//!
//! Needs `HEIRLOOM_TEST_S3_ENDPOINT` (and `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`), as set by `source .ci/s3-env.sh`; every test
//! is skipped, saying so, when the endpoint is unset.

use std::sync::Arc;

use bytes::Bytes;
use heirloom::provider::s3::{S3Config, S3Provider, Secret, MULTIPART_THRESHOLD, PART_SIZE};
use heirloom::provider::{ProviderError, StorageProvider};
use heirloom::testing::conformance_suite;
use heirloom::testing::s3::{
    create_bucket, endpoint_or_skip, test_config, unique_bucket, MotoServer,
};

async fn fresh_bucket(endpoint: &str, tag: &str) -> String {
    let bucket = unique_bucket(tag);
    create_bucket(endpoint, &bucket)
        .await
        .unwrap_or_else(|e| panic!("create bucket {bucket}: {e}"));
    bucket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_conformance() {
    let Some(endpoint) = endpoint_or_skip("s3_conformance") else {
        return;
    };
    let bucket = fresh_bucket(&endpoint, "conf").await;
    let provider = S3Provider::new(test_config(&endpoint, &bucket)).expect("provider");
    conformance_suite(Arc::new(provider)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_conformance_under_a_prefix() {
    let Some(endpoint) = endpoint_or_skip("s3_conformance_under_a_prefix") else {
        return;
    };
    let bucket = fresh_bucket(&endpoint, "prefix").await;
    let outside = S3Provider::new(test_config(&endpoint, &bucket)).expect("provider");
    outside
        .put("studio-b/other", Bytes::from_static(b"not ours"))
        .await
        .expect("put outside");
    let cfg = test_config(&endpoint, &bucket).with_prefix("studio-a/");
    let provider = S3Provider::new(cfg).expect("provider");
    conformance_suite(Arc::new(provider.clone())).await;

    provider
        .put("config", Bytes::from_static(b"x"))
        .await
        .expect("put");
    let keys: Vec<String> = provider
        .list("")
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(keys, ["config"], "keys are relative to the prefix");
    assert_eq!(
        outside.head("studio-a/config").await.expect("head").size,
        1,
        "objects live under the prefix"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_missing_objects_are_not_found() {
    let Some(endpoint) = endpoint_or_skip("s3_missing_objects_are_not_found") else {
        return;
    };
    let bucket = fresh_bucket(&endpoint, "missing").await;
    let p = S3Provider::new(test_config(&endpoint, &bucket)).expect("provider");
    assert!(p.get("no/such", None).await.unwrap_err().is_not_found());
    assert!(p
        .get("no/such", Some(0..0))
        .await
        .unwrap_err()
        .is_not_found());
    assert!(p
        .get("no/such", Some(5..9))
        .await
        .unwrap_err()
        .is_not_found());
    assert!(p.head("no/such").await.unwrap_err().is_not_found());
    p.delete("no/such").await.expect("deleting nothing is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_a_missing_bucket_is_a_location_down() {
    let Some(endpoint) = endpoint_or_skip("s3_a_missing_bucket_is_a_location_down") else {
        return;
    };
    let p =
        S3Provider::new(test_config(&endpoint, &unique_bucket("never-made"))).expect("provider");
    let down = |r: ProviderError| assert!(r.is_transient(), "{r:?}");
    down(p.get("a", None).await.unwrap_err());
    down(p.head("a").await.unwrap_err());
    down(p.list("").await.unwrap_err());
    down(p.put("a", Bytes::from_static(b"x")).await.unwrap_err());
    down(
        p.put_if_absent("a", Bytes::from_static(b"x"))
            .await
            .unwrap_err(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_an_unreachable_server_is_a_location_down() {
    // Nothing listens on port 1 of the loopback address.
    let mut cfg = test_config("http://127.0.0.1:1", "b");
    cfg.retry_attempts = 1;
    cfg.allow_plaintext_credentials = true;
    cfg.access_key_id = Some(Secret::new("test"));
    cfg.secret_access_key = Some(Secret::new("test"));
    let p = S3Provider::new(cfg).expect("provider");
    let err = p.get("a", None).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_refused_credentials_are_denied() {
    // The shared moto accepts any credentials. A private one started with
    // INITIAL_NO_AUTH_ACTION_COUNT=0 checks every request against its IAM,
    // where no access key exists: S3 answers 403 (InvalidAccessKeyId).
    let Some(server) = MotoServer::spawn_or_skip(
        "s3_refused_credentials_are_denied",
        &[("INITIAL_NO_AUTH_ACTION_COUNT", "0")],
    ) else {
        return;
    };
    let server = server.expect("start moto_server");
    let mut cfg = test_config(server.endpoint(), "any-bucket");
    cfg.allow_plaintext_credentials = true;
    cfg.access_key_id = Some(Secret::new("AKIAWRONGWRONGWRONG1"));
    cfg.secret_access_key = Some(Secret::new("definitely-not-the-secret"));
    let p = S3Provider::new(cfg).expect("provider");
    let results = [
        ("put", p.put("k", Bytes::from_static(b"x")).await.err()),
        ("get", p.get("k", None).await.err()),
        ("list", p.list("").await.err()),
    ];
    for (op, err) in results {
        match err {
            Some(ProviderError::Denied { detail }) => {
                assert!(!detail.contains("definitely-not-the-secret"), "{detail}");
            }
            other => panic!("{op} with unknown credentials gave {other:?}, not Denied"),
        }
    }
}

#[test]
fn s3_config_reads_like_toml() {
    let cfg: S3Config = serde_json::from_value(serde_json::json!({
        "endpoint": "http://127.0.0.1:9000",
        "region": "eu-west-1",
        "bucket": "wedding-archive",
        "prefix": "studio-a",
        "timeout_secs": 10,
        "retry_attempts": 5,
        "credentials": "environment"
    }))
    .expect("parse");
    assert!(cfg.uses_path_style());
    assert_eq!(cfg.retry_attempts, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_large_put_if_absent_is_conditional_too() {
    let Some(endpoint) = endpoint_or_skip("s3_large_put_if_absent_is_conditional_too") else {
        return;
    };
    let bucket = fresh_bucket(&endpoint, "multipart").await;
    let p = S3Provider::new(test_config(&endpoint, &bucket)).expect("provider");
    // Above the multipart threshold: If-None-Match rides on the
    // CompleteMultipartUpload.
    let big = |b: u8| Bytes::from(vec![b; MULTIPART_THRESHOLD + PART_SIZE / 2]);
    p.put_if_absent("packs/big", big(1)).await.expect("first");
    match p.put_if_absent("packs/big", big(2)).await {
        Err(ProviderError::AlreadyExists { .. }) => {}
        other => panic!("second large put_if_absent gave {other:?}"),
    }
    assert!(p.get("packs/big", None).await.expect("get") == big(1));
    p.put("packs/big", big(3))
        .await
        .expect("large put replaces");
    assert!(p.get("packs/big", None).await.expect("get") == big(3));
}
