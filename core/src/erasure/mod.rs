//! Erasure coding of packs into shards (placeholder, filled by the erasure work).
