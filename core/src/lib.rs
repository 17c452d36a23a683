//! # heirloom
//!
//! An embeddable backup engine for wedding media: content-defined chunking,
//! keyed chunk ids, AEAD encryption, packs, Reed–Solomon erasure coding
//! across several storage locations, and point-in-time recovery.
//!
//! ## Feature flags
//! - `simd-accel` (default): SIMD Reed–Solomon kernels (needs a C compiler).
//! - `testing`: exposes [`testing`], the provider conformance suite.

#![warn(missing_docs)]

mod context;
pub mod erasure;
mod error;
pub mod provider;
#[cfg(feature = "testing")]
pub mod testing;

pub use context::{Clock, Context, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use provider::{Location, ObjectMeta, ProviderError, StorageProvider, Tier};
