//! [`LatencyProvider`]: a wrapper that makes a provider as slow as a distant
//! region, for placement and read-path tests.
//!
//! Every call sleeps for one round trip (plus optional seeded jitter) before
//! it reaches the inner provider. With a bandwidth set, `put` also sleeps
//! for its upload time before the call, and `get` for its download time
//! after the data arrives. Sleeps use tokio's clock, so tests with a paused
//! clock run instantly and deterministically.

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{ObjectMeta, ProviderResult, StorageProvider};

/// A provider that delays every call to the provider it wraps.
#[derive(Debug)]
pub struct LatencyProvider {
    inner: Arc<dyn StorageProvider>,
    rtt: Duration,
    /// Bytes per second; `None` for unlimited.
    bandwidth: Option<u64>,
    /// Maximum extra delay per call and its seeded stream.
    jitter: Option<(Duration, Mutex<ChaCha8Rng>)>,
}

impl LatencyProvider {
    /// Wraps `inner`, adding one round trip of `rtt` to every call.
    pub fn new(inner: Arc<dyn StorageProvider>, rtt: Duration) -> Self {
        LatencyProvider {
            inner,
            rtt,
            bandwidth: None,
            jitter: None,
        }
    }

    /// Also limits transfers to `bytes_per_sec` (0 means unlimited).
    pub fn with_bandwidth(mut self, bytes_per_sec: u64) -> Self {
        self.bandwidth = (bytes_per_sec > 0).then_some(bytes_per_sec);
        self
    }

    /// Adds up to `max` of extra delay to each round trip, drawn uniformly
    /// from a stream seeded with `seed`.
    pub fn with_jitter(mut self, max: Duration, seed: u64) -> Self {
        self.jitter = (!max.is_zero()).then(|| (max, Mutex::new(ChaCha8Rng::seed_from_u64(seed))));
        self
    }

    /// The round-trip delay of one call, jitter included.
    fn round_trip(&self) -> Duration {
        let Some((max, rng)) = &self.jitter else {
            return self.rtt;
        };
        let mut rng = rng.lock().unwrap_or_else(|p| p.into_inner());
        self.rtt + max.mul_f64(rng.random::<f64>())
    }

    /// How long moving `bytes` takes at the configured bandwidth.
    fn transfer(&self, bytes: usize) -> Duration {
        match self.bandwidth {
            Some(bw) => Duration::from_secs_f64(bytes as f64 / bw as f64),
            None => Duration::ZERO,
        }
    }

    async fn delay(&self, extra: Duration) {
        let d = self.round_trip() + extra;
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
}

#[async_trait]
impl StorageProvider for LatencyProvider {
    async fn put(&self, key: &str, data: Bytes) -> ProviderResult<()> {
        self.delay(self.transfer(data.len())).await;
        self.inner.put(key, data).await
    }

    async fn put_if_absent(&self, key: &str, data: Bytes) -> ProviderResult<()> {
        self.delay(self.transfer(data.len())).await;
        self.inner.put_if_absent(key, data).await
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> ProviderResult<Bytes> {
        self.delay(Duration::ZERO).await;
        let data = self.inner.get(key, range).await?;
        let download = self.transfer(data.len());
        if !download.is_zero() {
            tokio::time::sleep(download).await;
        }
        Ok(data)
    }

    async fn head(&self, key: &str) -> ProviderResult<ObjectMeta> {
        self.delay(Duration::ZERO).await;
        self.inner.head(key).await
    }

    async fn list(&self, prefix: &str) -> ProviderResult<Vec<ObjectMeta>> {
        self.delay(Duration::ZERO).await;
        self.inner.list(prefix).await
    }

    async fn delete(&self, key: &str) -> ProviderResult<()> {
        self.delay(Duration::ZERO).await;
        self.inner.delete(key).await
    }

    async fn prepare_prefixes(&self, prefixes: &[String]) -> ProviderResult<()> {
        self.delay(Duration::ZERO).await;
        self.inner.prepare_prefixes(prefixes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::memory::MemoryProvider;
    use tokio::time::Instant;

    fn slow(rtt_ms: u64) -> LatencyProvider {
        LatencyProvider::new(
            Arc::new(MemoryProvider::new()),
            Duration::from_millis(rtt_ms),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn every_call_costs_a_round_trip() {
        let p = slow(80);
        let start = Instant::now();
        p.put("a", Bytes::from_static(b"x")).await.unwrap();
        p.head("a").await.unwrap();
        p.list("").await.unwrap();
        p.get("a", None).await.unwrap();
        p.delete("a").await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn transfers_take_size_over_bandwidth() {
        let p = slow(100).with_bandwidth(1_000_000);
        let start = Instant::now();
        p.put("a", Bytes::from(vec![7u8; 500_000])).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(600));
        let start = Instant::now();
        p.get("a", Some(0..250_000)).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(350));
    }

    #[tokio::test(start_paused = true)]
    async fn seeded_jitter_is_bounded_and_replays() {
        async fn timings(p: &LatencyProvider) -> Vec<Duration> {
            let mut out = Vec::new();
            for _ in 0..20 {
                let start = Instant::now();
                p.list("").await.unwrap();
                out.push(start.elapsed());
            }
            out
        }
        let a = slow(50).with_jitter(Duration::from_millis(30), 3);
        let b = slow(50).with_jitter(Duration::from_millis(30), 3);
        let ta = timings(&a).await;
        assert_eq!(ta, timings(&b).await);
        assert!(ta
            .iter()
            .all(|t| *t >= Duration::from_millis(50) && *t <= Duration::from_millis(81)));
        assert!(ta.iter().any(|t| *t != ta[0]), "jitter never varied");
    }
}
