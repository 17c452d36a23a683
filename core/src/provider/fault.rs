//! [`FaultyProvider`]: a wrapper that injects failures, corruption, latency
//! and pauses into another provider, reconfigurable while a test runs.
//!
//! Each call goes through these steps, in order: it is counted, sleeps for
//! the configured latency, waits at the [`WriteGate`] (writes only), then
//! fails if the provider is down, if it is the chosen call
//! ([`FaultyProvider::fail_nth_call`]), if the write budget is spent
//! ([`FaultyProvider::crash_after_writes`]) or by the seeded coin
//! ([`FaultyProvider::fail_fraction`]); otherwise it reaches the inner
//! provider, and data returned by `get` may have one bit flipped
//! ([`FaultyProvider::flip_bits_on_read`]). Injected failures are
//! [`ProviderError::Unavailable`] and never reach the inner provider.
//!
//! Random faults come from seeded ChaCha8 streams, so a sequential run
//! replays exactly from its seeds.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::watch;

use super::{ObjectMeta, ProviderError, ProviderResult, StorageProvider};

/// A provider that fails, corrupts, slows down or pauses calls to the
/// provider it wraps, as configured through `&self` methods.
#[derive(Debug)]
pub struct FaultyProvider {
    inner: Arc<dyn StorageProvider>,
    faults: Mutex<Faults>,
    calls: AtomicU64,
    writes: AtomicU64,
    reads: AtomicU64,
    shard_reads: AtomicU64,
    bytes_read: AtomicU64,
}

#[derive(Debug, Default)]
struct Faults {
    down: bool,
    /// Call number (as counted by `calls`) that fails.
    fail_call: Option<u64>,
    /// Writes numbered above this fail.
    write_budget: Option<u64>,
    fail_fraction: Option<(f64, ChaCha8Rng)>,
    flip_bits: Option<(f64, ChaCha8Rng)>,
    latency: Duration,
    gate: Option<(u64, GateSignals)>,
}

#[derive(Debug, Clone)]
struct GateSignals {
    reached: watch::Sender<bool>,
    released: watch::Sender<bool>,
}

/// A pause point for writes, from [`FaultyProvider::gate_writes_after`].
/// Dropping the gate releases it, so a forgotten gate never hangs a test.
#[derive(Debug)]
pub struct WriteGate {
    signals: GateSignals,
}

impl WriteGate {
    /// Waits until a write is held at the gate (returns at once if one
    /// already was).
    pub async fn wait_reached(&self) {
        let mut rx = self.signals.reached.subscribe();
        // The sender lives in `self`, so the channel cannot close here.
        let _ = rx.wait_for(|reached| *reached).await;
    }

    /// Lets the held writes, and every later one, through.
    pub fn release(&self) {
        self.signals.released.send_replace(true);
    }
}

impl Drop for WriteGate {
    fn drop(&mut self) {
        self.release();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Write,
    Read,
    Other,
}

fn injected(what: &str) -> ProviderError {
    ProviderError::Unavailable {
        detail: format!("injected fault: {what}"),
    }
}

impl FaultyProvider {
    /// Wraps `inner` with no fault configured.
    pub fn new(inner: Arc<dyn StorageProvider>) -> Self {
        FaultyProvider {
            inner,
            faults: Mutex::new(Faults::default()),
            calls: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            shard_reads: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
        }
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Removes every configured fault, latency and gate (releasing it).
    /// Counters are kept.
    pub fn clear(&self) {
        let old = std::mem::take(&mut *self.faults());
        if let Some((_, signals)) = old.gate {
            signals.released.send_replace(true);
        }
    }

    /// While `down`, every call fails.
    pub fn set_down(&self, down: bool) {
        self.faults().down = down;
    }

    /// The `n`th call of any kind from now on (counting from 1) fails; the
    /// others are unaffected. `n = 0` cancels.
    pub fn fail_nth_call(&self, n: u64) {
        let now = self.calls();
        self.faults().fail_call = (n > 0).then(|| now + n);
    }

    /// Lets `n` more writes (`put`, `put_if_absent`) through, then fails
    /// every write after them: a process that died after `n` writes. Reads
    /// keep working.
    pub fn crash_after_writes(&self, n: u64) {
        let now = self.writes();
        self.faults().write_budget = Some(now + n);
    }

    /// Each call fails with probability `p`, drawn from a stream seeded
    /// with `seed`. `p = 0` cancels.
    pub fn fail_fraction(&self, p: f64, seed: u64) {
        self.faults().fail_fraction = (p > 0.0).then(|| (p, ChaCha8Rng::seed_from_u64(seed)));
    }

    /// Each successful `get` returning data has one random bit flipped with
    /// probability `p`, drawn from a stream seeded with `seed`. `p = 0`
    /// cancels.
    pub fn flip_bits_on_read(&self, p: f64, seed: u64) {
        self.faults().flip_bits = (p > 0.0).then(|| (p, ChaCha8Rng::seed_from_u64(seed)));
    }

    /// Every call first sleeps for `latency` (tokio time).
    pub fn set_latency(&self, latency: Duration) {
        self.faults().latency = latency;
    }

    /// Lets `n` more writes through, then holds every later write before it
    /// reaches the inner provider until the returned gate is released (or
    /// dropped). Replaces (and releases) any earlier gate.
    pub fn gate_writes_after(&self, n: u64) -> WriteGate {
        let signals = GateSignals {
            reached: watch::channel(false).0,
            released: watch::channel(false).0,
        };
        let now = self.writes();
        let old = self.faults().gate.replace((now + n, signals.clone()));
        if let Some((_, old)) = old {
            old.released.send_replace(true);
        }
        WriteGate { signals }
    }

    /// Calls received, of every kind, including failed ones.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Write calls (`put`, `put_if_absent`) received, including failed ones.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// `get` calls received, including failed ones.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }

    /// `get` calls for shard objects (keys under `packs/`), including
    /// failed ones: what a restore asks of a location for data alone.
    pub fn shard_reads(&self) -> u64 {
        self.shard_reads.load(Ordering::SeqCst)
    }

    /// Bytes returned by successful `get` calls.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::SeqCst)
    }

    /// Counts the call, applies latency and the gate, and decides whether it
    /// fails. Returns `Ok` when the call may reach the inner provider.
    async fn before(&self, kind: Kind) -> ProviderResult<()> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let write = match kind {
            Kind::Write => self.writes.fetch_add(1, Ordering::SeqCst) + 1,
            Kind::Read => {
                self.reads.fetch_add(1, Ordering::SeqCst);
                0
            }
            Kind::Other => 0,
        };
        let (latency, gate) = {
            let f = self.faults();
            let gate = f
                .gate
                .as_ref()
                .filter(|(after, _)| kind == Kind::Write && write > *after);
            (f.latency, gate.map(|(_, s)| s.clone()))
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if let Some(signals) = gate {
            let mut released = signals.released.subscribe();
            signals.reached.send_replace(true);
            // The sender is kept in `signals`, so the channel stays open.
            let _ = released.wait_for(|r| *r).await;
        }
        let mut f = self.faults();
        if f.down {
            return Err(injected("location down"));
        }
        if f.fail_call == Some(call) {
            return Err(injected("chosen call"));
        }
        if kind == Kind::Write && f.write_budget.is_some_and(|budget| write > budget) {
            return Err(injected("writer crashed"));
        }
        if let Some((p, rng)) = &mut f.fail_fraction {
            if rng.random::<f64>() < *p {
                return Err(injected("random failure"));
            }
        }
        Ok(())
    }

    fn maybe_flip(&self, data: Bytes) -> Bytes {
        let mut f = self.faults();
        let Some((p, rng)) = &mut f.flip_bits else {
            return data;
        };
        if data.is_empty() || rng.random::<f64>() >= *p {
            return data;
        }
        let mut bytes = data.to_vec();
        let i = rng.random_range(0..bytes.len());
        bytes[i] ^= 1 << rng.random_range(0..8u32);
        Bytes::from(bytes)
    }
}

#[async_trait]
impl StorageProvider for FaultyProvider {
    async fn put(&self, key: &str, data: Bytes) -> ProviderResult<()> {
        self.before(Kind::Write).await?;
        self.inner.put(key, data).await
    }

    async fn put_if_absent(&self, key: &str, data: Bytes) -> ProviderResult<()> {
        self.before(Kind::Write).await?;
        self.inner.put_if_absent(key, data).await
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> ProviderResult<Bytes> {
        if key.starts_with(crate::repo::PACK_PREFIX) {
            self.shard_reads.fetch_add(1, Ordering::SeqCst);
        }
        self.before(Kind::Read).await?;
        let data = self.inner.get(key, range).await?;
        self.bytes_read
            .fetch_add(data.len() as u64, Ordering::SeqCst);
        Ok(self.maybe_flip(data))
    }

    async fn head(&self, key: &str) -> ProviderResult<ObjectMeta> {
        self.before(Kind::Other).await?;
        self.inner.head(key).await
    }

    async fn list(&self, prefix: &str) -> ProviderResult<Vec<ObjectMeta>> {
        self.before(Kind::Other).await?;
        self.inner.list(prefix).await
    }

    async fn delete(&self, key: &str) -> ProviderResult<()> {
        self.before(Kind::Other).await?;
        self.inner.delete(key).await
    }

    async fn prepare_prefixes(&self, prefixes: &[String]) -> ProviderResult<()> {
        self.before(Kind::Other).await?;
        self.inner.prepare_prefixes(prefixes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::memory::MemoryProvider;

    fn faulty() -> (MemoryProvider, Arc<FaultyProvider>) {
        let mem = MemoryProvider::new();
        (mem.clone(), Arc::new(FaultyProvider::new(Arc::new(mem))))
    }

    fn data(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[tokio::test]
    async fn a_down_provider_fails_every_call_until_it_is_up() {
        let (mem, p) = faulty();
        p.set_down(true);
        assert!(p.put("a", data("x")).await.unwrap_err().is_transient());
        assert!(p.get("a", None).await.unwrap_err().is_transient());
        assert!(p.head("a").await.unwrap_err().is_transient());
        assert!(p.list("").await.unwrap_err().is_transient());
        assert!(p.delete("a").await.unwrap_err().is_transient());
        assert!(mem.is_empty());
        p.set_down(false);
        p.put("a", data("x")).await.unwrap();
        assert_eq!(p.calls(), 6);
    }

    #[tokio::test]
    async fn only_the_chosen_call_fails() {
        let (_, p) = faulty();
        p.put("a", data("x")).await.unwrap();
        p.fail_nth_call(3);
        p.head("a").await.unwrap();
        p.get("a", None).await.unwrap();
        assert!(p.list("").await.unwrap_err().is_transient());
        p.list("").await.unwrap();
        p.put("b", data("y")).await.unwrap();
    }

    #[tokio::test]
    async fn a_crashed_writer_stops_writing_but_reads_work() {
        let (mem, p) = faulty();
        p.put("before", data("x")).await.unwrap();
        p.crash_after_writes(2);
        p.put("a", data("1")).await.unwrap();
        p.put_if_absent("b", data("2")).await.unwrap();
        assert!(p.put("c", data("3")).await.unwrap_err().is_transient());
        assert!(p
            .put_if_absent("d", data("4"))
            .await
            .unwrap_err()
            .is_transient());
        assert_eq!(p.get("a", None).await.unwrap(), "1");
        assert_eq!(mem.len(), 3);
        assert_eq!(p.writes(), 5);
        p.clear();
        p.put("c", data("3")).await.unwrap();
    }

    async fn failure_pattern(p: &FaultyProvider, calls: usize) -> Vec<bool> {
        let mut out = Vec::new();
        for _ in 0..calls {
            out.push(p.list("").await.is_err());
        }
        out
    }

    #[tokio::test]
    async fn a_seeded_failure_fraction_replays() {
        let (_, a) = faulty();
        let (_, b) = faulty();
        let (_, c) = faulty();
        a.fail_fraction(0.3, 7);
        b.fail_fraction(0.3, 7);
        c.fail_fraction(0.3, 8);
        let pa = failure_pattern(&a, 400).await;
        assert_eq!(pa, failure_pattern(&b, 400).await);
        assert_ne!(pa, failure_pattern(&c, 400).await);
        let failed = pa.iter().filter(|f| **f).count();
        assert!(
            (60..180).contains(&failed),
            "{failed} of 400 failed at p=0.3"
        );
        a.fail_fraction(0.0, 7);
        assert!(failure_pattern(&a, 50).await.iter().all(|f| !f));
    }

    #[tokio::test]
    async fn flipped_reads_differ_by_one_bit_and_replay() {
        let (_, p) = faulty();
        let original = Bytes::from(vec![0u8; 64]);
        p.put("a", original.clone()).await.unwrap();
        p.flip_bits_on_read(1.0, 42);
        let first = p.get("a", None).await.unwrap();
        let ones: u32 = first.iter().map(|b| b.count_ones()).sum();
        assert_eq!(ones, 1);
        p.flip_bits_on_read(1.0, 42);
        assert_eq!(p.get("a", None).await.unwrap(), first);
        assert_eq!(p.get("a", Some(0..0)).await.unwrap(), "");
        p.flip_bits_on_read(0.0, 42);
        assert_eq!(p.get("a", None).await.unwrap(), original);
        assert_eq!(p.reads(), 4);
        assert_eq!(p.bytes_read(), 192);
    }

    #[tokio::test(start_paused = true)]
    async fn latency_delays_each_call() {
        let (_, p) = faulty();
        p.set_latency(Duration::from_millis(250));
        let start = tokio::time::Instant::now();
        p.put("a", data("x")).await.unwrap();
        p.get("a", None).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(500));
    }

    #[tokio::test]
    async fn a_gate_pauses_a_writer_until_released() {
        let (mem, p) = faulty();
        let gate = p.gate_writes_after(1);
        let writer = {
            let p = Arc::clone(&p);
            tokio::spawn(async move {
                for k in ["a", "b", "c"] {
                    p.put(k, data("x")).await?;
                }
                Ok::<_, ProviderError>(())
            })
        };
        gate.wait_reached().await;
        assert_eq!(mem.len(), 1, "the second write passed the gate");
        // A fault set while the writer is held applies when it resumes.
        p.set_down(true);
        gate.release();
        assert!(writer.await.unwrap().unwrap_err().is_transient());
        assert_eq!(mem.len(), 1);
    }

    #[tokio::test]
    async fn a_dropped_gate_lets_writes_through() {
        let (mem, p) = faulty();
        drop(p.gate_writes_after(0));
        p.put("a", data("x")).await.unwrap();
        assert_eq!(mem.len(), 1);
    }
}
