//! The open pack the file workers share, and the bounded set of buffers
//! that a backup's memory is made of.
//!
//! A worker seals each new chunk straight into the open pack (a short lock
//! for one AES-GCM pass over the chunk). The worker that fills the pack
//! takes it out, closes and erasure-codes it on its own core, gives the
//! pack buffer back and hands the shard objects to the uploader. Shard
//! objects are built in one of [`SHARD_SETS`] sets of buffers, taken from a
//! pool before encoding and given back once written: a worker with a full
//! pack waits for a set, so the packs in memory are bounded by construction,
//! whatever the dataset. Pack buffers are kept too (fresh pages cost the
//! kernel a fault each), so after the first few packs a backup allocates no
//! large buffer (a buffer grown past a pack by one oversized chunk is
//! dropped after use), and its memory does not grow with the dataset.

use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::crypto::aead::{SecretKey, SEAL_OVERHEAD};
use crate::erasure::{encode_pack_reusing, ReedSolomon, SHARD_HEADER_LEN};
use crate::error::Error;
use crate::pack::PackBuilder;
use crate::snapshot::ChunkEntry;
use crate::Context;

/// Packs being written at once.
pub(super) const PACKS_IN_FLIGHT: usize = 2;
/// Sets of shard-object buffers: one per pack being written, and one for the
/// pack being encoded (or waiting in the hand-off) meanwhile.
pub(super) const SHARD_SETS: usize = PACKS_IN_FLIGHT + 1;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A closed, erasure-coded pack, ready to write.
pub(super) struct EncodedPack {
    /// Hex pack id.
    pub id: String,
    pub pack_len: u64,
    pub chunks: Vec<ChunkEntry>,
    /// Shard objects, `k` data then `m` parity.
    pub shards: Vec<Bytes>,
}

/// The pipeline has stopped: the uploader failed (its error is reported by
/// the backup), or closing a pack failed (the error is kept here).
pub(super) enum Stopped {
    Uploader,
    Failed(Error),
}

/// The open pack and the buffers around it.
pub(super) struct Packer {
    open: Mutex<PackBuilder>,
    key: SecretKey,
    ctx: Context,
    /// Pack headers are zstd-compressed (format 5 on).
    compress_headers: bool,
    pack_size: usize,
    k: usize,
    m: usize,
    /// Pack buffers not in use.
    spare_packs: Mutex<Vec<Vec<u8>>>,
    /// Allocated once per pack buffer: one pack plus 64 KiB for the header
    /// (~500 chunk entries). A chunk larger than a pack grows one buffer for
    /// one pack; that buffer is then dropped rather than kept.
    capacity: usize,
    /// The pool of shard-buffer sets (a set per message).
    shard_sets: Mutex<mpsc::Receiver<Vec<Vec<u8>>>>,
    encoded: mpsc::Sender<EncodedPack>,
}

/// What the uploader needs from the packer: the encoded packs, and where to
/// give each pack's shard buffers back once it is written.
pub(super) struct PackStream {
    pub packs: mpsc::Receiver<EncodedPack>,
    pub returns: ShardReturns,
}

/// Where shard-buffer sets go back to the pool. Every set taken must come
/// back (empty if its buffers are gone), or a worker would wait for it.
/// Only the uploader's side holds these: once it and its writes are gone,
/// a worker waiting for a set learns that the pipeline stopped.
#[derive(Clone)]
pub(super) struct ShardReturns {
    tx: mpsc::Sender<Vec<Vec<u8>>>,
    /// The largest shard object kept: one of a full pack. A pack made
    /// larger by one oversized chunk does not grow the pool for good.
    max_capacity: usize,
}

impl ShardReturns {
    /// Gives a written pack's shard buffers back: those nothing else holds
    /// (a provider that keeps the bytes, as the memory one does, keeps
    /// them; the next encoding then allocates).
    pub(super) fn give_back(&self, shards: Vec<Bytes>) {
        let set: Vec<Vec<u8>> = shards
            .into_iter()
            .filter_map(|b| b.try_into_mut().ok().map(Vec::from))
            .filter(|v| v.capacity() <= self.max_capacity)
            .collect();
        // Exactly SHARD_SETS sets exist, so the pool always has room; after
        // the packer is gone there is no one left to give it to.
        let _ = self.tx.try_send(set);
    }

    /// Gives back a set whose buffers were lost (a failed write).
    pub(super) fn give_back_empty(&self) {
        let _ = self.tx.try_send(Vec::new());
    }
}

impl Packer {
    /// A packer sealing under `key`, closing packs at `pack_size` bytes and
    /// encoding them `k`+`m`.
    pub(super) fn new(
        key: SecretKey,
        ctx: Context,
        pack_size: usize,
        (k, m): (usize, usize),
    ) -> (Self, PackStream) {
        let capacity = pack_size + 64 * 1024;
        let (tx, pool) = mpsc::channel(SHARD_SETS);
        let returns = ShardReturns {
            tx,
            max_capacity: SHARD_HEADER_LEN + capacity.div_ceil(k.max(1)),
        };
        for _ in 0..SHARD_SETS {
            returns.give_back_empty();
        }
        let (encoded, packs) = mpsc::channel(1);
        let packer = Packer {
            open: Mutex::new(PackBuilder::from_buffer(Vec::with_capacity(capacity))),
            key,
            ctx,
            compress_headers: false,
            pack_size,
            k,
            m,
            spare_packs: Mutex::new(Vec::new()),
            capacity,
            shard_sets: Mutex::new(pool),
            encoded,
        };
        (packer, PackStream { packs, returns })
    }

    /// Compresses pack headers (repository format 5 on).
    pub(super) fn with_compressed_headers(mut self, on: bool) -> Self {
        self.compress_headers = on;
        self
    }

    /// Seals a chunk (as stored: see [`crate::pack::compress`]) into the open pack; closes and hands on the pack when
    /// it is full. A chunk that would take the pack past its target starts
    /// the next pack instead, so packs (and the buffers reused for them) stay
    /// within the target; only a chunk larger than a pack makes a larger one.
    /// Blocks while every shard-buffer set is in use.
    pub(super) fn add(
        &self,
        id: [u8; 32],
        stored: &[u8],
        plain_len: u32,
    ) -> std::result::Result<(), Stopped> {
        let mut full = Vec::with_capacity(2);
        {
            let mut open = lock(&self.open);
            if !open.is_empty() && open.len() + stored.len() + SEAL_OVERHEAD > self.pack_size {
                full.push(self.replace_open(&mut open));
            }
            open.seal_chunk(&self.key, &self.ctx, id, stored, plain_len)
                .map_err(|e| Stopped::Failed(Error::Internal(format!("sealing a chunk: {e}"))))?;
            if open.len() >= self.pack_size {
                full.push(self.replace_open(&mut open));
            }
        }
        for pack in full {
            self.close(pack)?;
        }
        Ok(())
    }

    /// Closes and hands on the partly filled last pack, if any.
    pub(super) fn finish(&self) -> std::result::Result<(), Stopped> {
        let last = std::mem::take(&mut *lock(&self.open));
        if last.is_empty() {
            return Ok(());
        }
        self.close(last)
    }

    fn replace_open(&self, open: &mut PackBuilder) -> PackBuilder {
        let buf = lock(&self.spare_packs)
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.capacity));
        std::mem::replace(open, PackBuilder::from_buffer(buf))
    }

    /// Seals the pack's header, encodes it into a set of shard buffers,
    /// gives the pack buffer back and hands the shards to the uploader.
    fn close(&self, builder: PackBuilder) -> std::result::Result<(), Stopped> {
        let failed =
            |what: &str, e: String| Stopped::Failed(Error::Internal(format!("{what}: {e}")));
        let mut pack = builder
            .finish(&self.key, &self.ctx, self.compress_headers)
            .map_err(|e| failed("closing a pack", e.to_string()))?;
        // The set is taken only now: nothing fallible keeps it from the
        // uploader but encoding, which fails only for k and m the profile
        // already refused.
        let mut set = lock(&self.shard_sets)
            .blocking_recv()
            .ok_or(Stopped::Uploader)?;
        let shards = encode_pack_reusing(
            &ReedSolomon,
            pack.id_bytes,
            &pack.bytes,
            self.k,
            self.m,
            &mut set,
        )
        .map_err(|e| failed("encoding a pack", e.to_string()))?;
        let pack_len = pack.bytes.len() as u64;
        let bytes = std::mem::take(&mut pack.bytes);
        if bytes.capacity() <= self.capacity {
            lock(&self.spare_packs).push(bytes);
        }
        self.encoded
            .blocking_send(EncodedPack {
                id: pack.id,
                pack_len,
                chunks: pack.chunks,
                shards,
            })
            .map_err(|_| Stopped::Uploader)
    }
}

/// The packer's pools, for tests.
#[cfg(test)]
impl Packer {
    fn spare_pack_buffers(&self) -> usize {
        lock(&self.spare_packs).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn packer(pack_size: usize) -> (Arc<Packer>, PackStream) {
        let ctx = Context::default();
        let (p, s) = Packer::new(SecretKey::random(&ctx), ctx, pack_size, (2, 1));
        (Arc::new(p), s)
    }

    #[test]
    fn packs_stay_within_their_target_unless_one_chunk_is_larger() {
        let (p, mut s) = packer(100 + 2 * SEAL_OVERHEAD);
        let o = SEAL_OVERHEAD;
        let sizes = std::thread::spawn(move || {
            let mut sizes = Vec::new();
            while let Some(pack) = s.packs.blocking_recv() {
                let chunks: Vec<usize> = pack
                    .chunks
                    .iter()
                    .map(|c| c.sealed_len as usize - o)
                    .collect();
                sizes.push(chunks);
                s.returns.give_back(pack.shards);
            }
            sizes
        });
        for (i, len) in [40usize, 40, 40, 100, 150, 10, 90, 5]
            .into_iter()
            .enumerate()
        {
            assert!(p
                .add([i as u8; 32], &vec![i as u8; len], len as u32)
                .is_ok());
        }
        assert!(p.finish().is_ok());
        drop(p);
        let sizes = sizes.join().unwrap();
        // 40+40 | 40 (100 does not fit) | 100 | 150 alone | 10+90 | 5 at the end.
        assert_eq!(
            sizes,
            vec![
                vec![40, 40],
                vec![40],
                vec![100],
                vec![150],
                vec![10, 90],
                vec![5]
            ]
        );
    }

    #[test]
    fn a_full_pack_waits_for_a_free_shard_set_and_buffers_are_reused() {
        let (p, mut s) = packer(64);
        // Each chunk fills a pack. The writer keeps the first SHARD_SETS
        // packs' shards: the next pack cannot be encoded until a set is back.
        let q = p.clone();
        let adder = std::thread::spawn(move || {
            for i in 0..=SHARD_SETS {
                assert!(q.add([i as u8; 32], &[i as u8; 40], 40).is_ok());
            }
        });
        let held: Vec<EncodedPack> = (0..SHARD_SETS)
            .map(|_| s.packs.blocking_recv().unwrap())
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            !adder.is_finished(),
            "encoded more packs than there are shard sets"
        );
        assert!(s.packs.try_recv().is_err());
        for pack in held {
            s.returns.give_back(pack.shards);
        }
        adder.join().unwrap();
        assert!(s.packs.blocking_recv().is_some());
        // Every pack buffer came back: at most one per pack closed at once.
        assert!((1..=2).contains(&p.spare_pack_buffers()));
    }

    #[test]
    fn a_stopped_uploader_stops_the_workers() {
        let (p, s) = packer(64);
        drop(s);
        let mut stopped = false;
        for i in 0..(SHARD_SETS + 2) {
            if let Err(Stopped::Uploader) = p.add([i as u8; 32], &[0; 40], 40) {
                stopped = true;
                break;
            }
        }
        assert!(stopped);
    }
}
