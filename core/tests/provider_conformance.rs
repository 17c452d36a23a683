//! Every provider and provider wrapper runs the one conformance suite.

use std::sync::Arc;
use std::time::Duration;

use heirloom::provider::fault::FaultyProvider;
use heirloom::provider::latency::LatencyProvider;
use heirloom::provider::local::LocalDirProvider;
use heirloom::provider::memory::MemoryProvider;
use heirloom::testing::conformance_suite;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory() {
    conformance_suite(Arc::new(MemoryProvider::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let provider = LocalDirProvider::new(dir.path().join("location")).expect("new");
    conformance_suite(Arc::new(provider)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faulty_without_faults_around_memory() {
    let provider = FaultyProvider::new(Arc::new(MemoryProvider::new()));
    conformance_suite(Arc::new(provider)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faulty_without_faults_around_local_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let local = LocalDirProvider::new(dir.path()).expect("new");
    conformance_suite(Arc::new(FaultyProvider::new(Arc::new(local)))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn latency_around_memory() {
    let provider = LatencyProvider::new(Arc::new(MemoryProvider::new()), Duration::from_millis(1))
        .with_bandwidth(1 << 30)
        .with_jitter(Duration::from_millis(1), 1);
    conformance_suite(Arc::new(provider)).await;
}
