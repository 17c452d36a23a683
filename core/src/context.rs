//! Where the engine gets time and randomness, so that tests and simulations
//! can replace both and replay a run from a seed.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to; for tests and simulation.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(start))
    }

    /// Moves the clock forward (or backward) by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }

    /// Sets the clock.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Time and randomness for one engine. Randomness is a ChaCha20 stream: from
/// the operating system by default, from a seed in tests. It is used for
/// nonces, keys and ids, so it must be cryptographically strong either way.
#[derive(Debug, Clone)]
pub struct Context {
    clock: Arc<dyn Clock>,
    rng: Arc<Mutex<ChaCha20Rng>>,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            clock: Arc::new(SystemClock),
            rng: Arc::new(Mutex::new(ChaCha20Rng::from_os_rng())),
        }
    }
}

impl Context {
    /// A context with the given clock and a seeded random stream. Only for
    /// tests and simulation: a fixed seed makes keys and nonces predictable.
    pub fn seeded(clock: Arc<dyn Clock>, seed: u64) -> Self {
        Context {
            clock,
            rng: Arc::new(Mutex::new(ChaCha20Rng::seed_from_u64(seed))),
        }
    }

    /// A context with the given clock and OS randomness.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Context {
            clock,
            ..Context::default()
        }
    }

    /// Now, from the context's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Fills `buf` with random bytes.
    pub fn fill_random(&self, buf: &mut [u8]) {
        self.rng
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fill_bytes(buf);
    }

    /// `N` random bytes.
    pub fn random_bytes<const N: usize>(&self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill_random(&mut out);
        out
    }

    /// A random 64-bit number.
    pub fn random_u64(&self) -> u64 {
        u64::from_le_bytes(self.random_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_contexts_replay() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let a = Context::seeded(clock.clone(), 7);
        let b = Context::seeded(clock, 7);
        assert_eq!(a.random_bytes::<32>(), b.random_bytes::<32>());
        assert_ne!(a.random_bytes::<32>(), a.random_bytes::<32>());
    }
}
