//! The backup data path: read → chunk → hash → seal → pack → erasure-code
//! → write, as stages joined by bounded hand-offs.
//!
//! File workers (blocking threads, one per core) read, chunk, hash and seal
//! each new chunk into their own reused buffer, then append it to the shared
//! open pack (a short lock for one copy). The worker that fills the pack
//! hands it to the uploader through a channel of one; the uploader encodes
//! each pack into shard objects and writes them, with a bounded number of
//! packs in flight, and gives the pack's buffer back for reuse. Memory is
//! bounded by the workers' buffers, the open pack, the pack in hand-off and
//! the packs in flight — never by a file's size — and the big buffers are
//! reused rather than reallocated (fresh pages cost the kernel a fault each:
//! that was half of a backup's system time).

use std::collections::HashSet;
use std::io::Read;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::future::join_all;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, Semaphore};

use super::source::Content;
use super::Inner;
use crate::api::FileClass;
use crate::chunk::Chunker;
use crate::classify::{classify, SNIFF_LEN};
use crate::crypto::aead::{self, SEAL_OVERHEAD};
use crate::crypto::wedding::DomainKeys;
use crate::erasure::{encode_pack_reusing, ReedSolomon};
use crate::error::{Error, Result};
use crate::pack::PackBuilder;
use crate::placement::{Candidate, RedundancyProfile};
use crate::provider::{Location, ProviderError};
use crate::repo::shard_key;
use crate::snapshot::{ChunkRef, PackRecord};

/// Files read at once (the machines this runs on have two cores or more;
/// each worker keeps one core busy chunking, hashing and sealing).
const FILE_WORKERS: usize = 2;
/// Packs being encoded or written at once.
const PACKS_IN_FLIGHT: usize = 2;
/// Shard-object buffers kept for reuse: enough for the packs in flight at 3+2.
const MAX_SPARE_SHARDS: usize = 5 * PACKS_IN_FLIGHT;

/// A file to read.
pub(super) struct FileJob {
    pub name: String,
    pub content: Content,
}

/// What reading a file produced.
#[derive(Debug)]
pub(super) struct FileOutcome {
    pub sha256: String,
    pub chunks: Vec<ChunkRef>,
    pub class: FileClass,
    pub size: u64,
}

/// Counters shared by the stages.
#[derive(Debug, Default)]
pub(super) struct IngestStats {
    pub files_done: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_new: AtomicU64,
    pub bytes_stored: AtomicU64,
    pub chunks_total: AtomicU64,
    pub chunks_new: AtomicU64,
    pub packs: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The open pack, shared by the file workers, and the hand-off of full ones.
struct Packer {
    open: Mutex<PackBuilder>,
    full: mpsc::Sender<PackBuilder>,
    buffers: Arc<PackBuffers>,
    pack_size: usize,
}

/// Pack buffers and shard-object buffers given back by the uploader, for
/// the next packs.
struct PackBuffers {
    spare: Mutex<Vec<Vec<u8>>>,
    shards: Mutex<Vec<Vec<u8>>>,
    /// Allocated once per pack buffer: one pack (or one sealed chunk larger
    /// than a pack) plus 64 KiB for the header, which covers ~500 chunk
    /// entries; a pack of many more tiny chunks grows its buffer once.
    capacity: usize,
}

/// The uploader has stopped (it failed; its error is reported by `ingest`).
struct Closed;

impl Packer {
    /// Appends a sealed chunk; hands the pack on when it is full. A chunk
    /// that would take the pack past its target starts the next pack
    /// instead, so a pack (and each shard buffer, reused for the whole
    /// backup) stays within the target even after the largest chunks: the
    /// buffers' high-water mark, not the dataset, sets the peak memory.
    fn add(&self, id: [u8; 32], plain_len: u32, sealed: &[u8]) -> std::result::Result<(), Closed> {
        let mut ready = Vec::with_capacity(2);
        {
            let mut open = lock(&self.open);
            let mut close = |open: &mut PackBuilder| {
                ready.push(std::mem::replace(
                    open,
                    PackBuilder::from_buffer(self.buffers.take()),
                ));
            };
            if !open.is_empty() && open.len() + sealed.len() > self.pack_size {
                close(&mut open);
            }
            open.push(id, plain_len, sealed);
            if open.len() >= self.pack_size {
                close(&mut open);
            }
        }
        for pack in ready {
            self.full.blocking_send(pack).map_err(|_| Closed)?;
        }
        Ok(())
    }
}

impl PackBuffers {
    fn take(&self) -> Vec<u8> {
        lock(&self.spare)
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.capacity))
    }

    fn give_back(&self, mut buf: Vec<u8>) {
        let mut spare = lock(&self.spare);
        if spare.len() < PACKS_IN_FLIGHT && buf.capacity() >= self.capacity {
            buf.clear();
            spare.push(buf);
        }
    }

    /// Up to `n` spare shard buffers.
    fn take_shards(&self, n: usize) -> Vec<Vec<u8>> {
        let mut shards = lock(&self.shards);
        let keep = shards.len().saturating_sub(n);
        shards.split_off(keep)
    }

    /// Takes back the buffers of written shard objects that nothing else
    /// holds (a provider that keeps the bytes, as the memory one does, keeps them).
    fn give_back_shards(&self, objects: Vec<Bytes>) {
        let mut shards = lock(&self.shards);
        for object in objects {
            if shards.len() >= MAX_SPARE_SHARDS {
                break;
            }
            if let Ok(unique) = object.try_into_mut() {
                shards.push(Vec::from(unique));
            }
        }
    }
}

/// Reads every job and stores its new chunks; returns one outcome per job
/// (`None` for a file that could not be read) and the packs written.
pub(super) async fn ingest(
    inner: &Arc<Inner>,
    keys: DomainKeys,
    jobs: Vec<FileJob>,
    profile: RedundancyProfile,
    targets: Vec<Location>,
    stats: Arc<IngestStats>,
) -> Result<(Vec<Option<FileOutcome>>, Vec<PackRecord>)> {
    let (tx, rx) = mpsc::channel::<PackBuilder>(1);
    let pack_size = inner.config.pack_size;
    let capacity = pack_size.max(inner.repo.chunker.max_size as usize + SEAL_OVERHEAD) + 64 * 1024;
    let buffers = Arc::new(PackBuffers {
        spare: Mutex::new(Vec::new()),
        shards: Mutex::new(Vec::new()),
        capacity,
    });
    let packer = Arc::new(Packer {
        open: Mutex::new(PackBuilder::from_buffer(Vec::with_capacity(capacity))),
        full: tx,
        buffers: buffers.clone(),
        pack_size,
    });
    // The uploader holds the buffers, not the packer: the hand-off closes
    // when the packer is dropped, which ends the uploader.
    let uploader = tokio::spawn(upload_all(
        inner.clone(),
        keys.clone(),
        rx,
        buffers,
        profile,
        targets,
        stats.clone(),
    ));

    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let results: Arc<Mutex<Vec<Option<FileOutcome>>>> =
        Arc::new(Mutex::new((0..jobs.len()).map(|_| None).collect()));
    let claimed = Arc::new(Mutex::new(HashSet::<[u8; 32]>::new()));
    let workers: Vec<_> = (0..FILE_WORKERS.min(jobs.len().max(1)))
        .map(|_| {
            let (inner, keys, jobs, next, results, claimed, packer, stats) = (
                inner.clone(),
                keys.clone(),
                jobs.clone(),
                next.clone(),
                results.clone(),
                claimed.clone(),
                packer.clone(),
                stats.clone(),
            );
            tokio::task::spawn_blocking(move || -> Result<()> {
                let mut bufs = WorkerBuffers::default();
                let ctx = Worker { inner: &inner, keys: &keys, claimed: &claimed, packer: &packer, stats: &stats };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { return Ok(()) };
                    let read = ctx.read_file(job, &mut bufs);
                    stats.files_done.fetch_add(1, Ordering::Relaxed);
                    match read {
                        Ok(out) => lock(&results)[i] = Some(out),
                        Err(ReadError::Source(e)) => {
                            tracing::warn!(file = %job.name, error = %e, "skipping a file that could not be read");
                        }
                        Err(ReadError::Pipeline) => return Ok(()), // the uploader failed; its error is reported below
                    }
                }
            })
        })
        .collect();
    let mut worker_err = None;
    for w in workers {
        if let Err(e) = w
            .await
            .map_err(|e| Error::Internal(format!("file worker: {e}")))
            .and_then(|r| r)
        {
            worker_err.get_or_insert(e);
        }
    }
    // The last, partly filled pack; then closing the hand-off ends the uploader.
    let last = std::mem::take(&mut *lock(&packer.open));
    if !last.is_empty() {
        // A send error means the uploader stopped; its error is returned below.
        let _ = packer.full.send(last).await;
    }
    drop(packer);
    let packs = uploader
        .await
        .map_err(|e| Error::Internal(format!("uploader: {e}")))??;
    if let Some(e) = worker_err {
        return Err(e);
    }
    let outcomes = std::mem::take(&mut *lock(&results));
    Ok((outcomes, packs))
}

enum ReadError {
    Source(std::io::Error),
    Pipeline,
}

/// What a file worker shares with the others.
struct Worker<'a> {
    inner: &'a Inner,
    keys: &'a DomainKeys,
    claimed: &'a Mutex<HashSet<[u8; 32]>>,
    packer: &'a Packer,
    stats: &'a IngestStats,
}

/// A worker's own buffers, reused from file to file.
#[derive(Default)]
struct WorkerBuffers {
    read: Vec<u8>,
    sealed: Vec<u8>,
}

impl Worker<'_> {
    fn read_file(
        &self,
        job: &FileJob,
        bufs: &mut WorkerBuffers,
    ) -> std::result::Result<FileOutcome, ReadError> {
        let (inner, keys, stats) = (self.inner, self.keys, self.stats);
        let reader = job.content.open().map_err(ReadError::Source)?;
        let reader = CountingReader {
            inner: reader,
            count: &stats.bytes_read,
        };
        let mut chunker = Chunker::new(reader, inner.repo.chunker, std::mem::take(&mut bufs.read));
        let mut sha = Sha256::new();
        let mut refs = Vec::new();
        let mut class = None;
        let mut size = 0u64;
        while let Some(data) = chunker.next_chunk().map_err(ReadError::Source)? {
            if class.is_none() {
                class = Some(classify(&data[..data.len().min(SNIFF_LEN)], &job.name));
            }
            sha.update(data);
            size += data.len() as u64;
            let id = keys.chunk_id(data);
            refs.push(ChunkRef {
                id: hex::encode(id),
                len: data.len() as u32,
            });
            stats.chunks_total.fetch_add(1, Ordering::Relaxed);
            let known = inner.catalog.blocking_read().chunks.contains_key(&id);
            let is_new = !known && lock(self.claimed).insert(id);
            if is_new {
                bufs.sealed.clear();
                aead::seal_append(
                    &keys.data,
                    &inner.config.context,
                    &id,
                    data,
                    &mut bufs.sealed,
                )
                .map_err(|e| ReadError::Source(std::io::Error::other(e)))?;
                stats.chunks_new.fetch_add(1, Ordering::Relaxed);
                stats
                    .bytes_new
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                self.packer
                    .add(id, data.len() as u32, &bufs.sealed)
                    .map_err(|Closed| ReadError::Pipeline)?;
            }
        }
        bufs.read = chunker.into_buffer();
        Ok(FileOutcome {
            sha256: hex::encode(sha.finalize()),
            chunks: refs,
            class: class.unwrap_or_else(|| classify(b"", &job.name)),
            size,
        })
    }
}

struct CountingReader<'a, R> {
    inner: R,
    count: &'a AtomicU64,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Takes full packs off the hand-off and uploads them, a bounded number at once.
async fn upload_all(
    inner: Arc<Inner>,
    keys: DomainKeys,
    mut rx: mpsc::Receiver<PackBuilder>,
    buffers: Arc<PackBuffers>,
    profile: RedundancyProfile,
    targets: Vec<Location>,
    stats: Arc<IngestStats>,
) -> Result<Vec<PackRecord>> {
    let slots = Arc::new(Semaphore::new(PACKS_IN_FLIGHT));
    let targets = Arc::new(targets);
    let mut uploads = Vec::new();
    let mut records = Vec::new();
    loop {
        // A slot first, so that a pack is only taken when it can start.
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let Some(pack) = rx.recv().await else { break };
        let (inner, keys, targets, stats, buffers) = (
            inner.clone(),
            keys.clone(),
            targets.clone(),
            stats.clone(),
            buffers.clone(),
        );
        uploads.push(tokio::spawn(async move {
            let _permit = permit;
            upload_pack(&inner, &keys, pack, &buffers, profile, &targets, &stats).await
        }));
        // Collect finished uploads now, so that a failed one stops the
        // backup early (returning drops `rx`, which stops the workers).
        let (done, pending): (Vec<_>, Vec<_>) = uploads.into_iter().partition(|u| u.is_finished());
        uploads = pending;
        for d in done {
            records.push(d.await.map_err(|e| Error::Internal(e.to_string()))??);
        }
    }
    for r in join_all(uploads).await {
        records.push(r.map_err(|e| Error::Internal(e.to_string()))??);
    }
    Ok(records)
}

/// Seals, encodes and writes one pack; one shard per distinct location.
async fn upload_pack(
    inner: &Inner,
    keys: &DomainKeys,
    builder: PackBuilder,
    buffers: &PackBuffers,
    profile: RedundancyProfile,
    targets: &[Location],
    stats: &IngestStats,
) -> Result<PackRecord> {
    let (k, m) = (profile.data_shards, profile.parity_shards);
    let (key, ctx) = (keys.data.clone(), inner.config.context.clone());
    let mut spare = buffers.take_shards(k + m);
    let (mut pack, shards) = tokio::task::spawn_blocking(move || -> Result<_> {
        let pack = builder
            .finish(&key, &ctx)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let shards =
            encode_pack_reusing(&ReedSolomon, pack.id_bytes, &pack.bytes, k, m, &mut spare)
                .map_err(|e| Error::Internal(e.to_string()))?;
        Ok((pack, shards))
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    let pack_len = pack.bytes.len() as u64;
    buffers.give_back(std::mem::take(&mut pack.bytes));
    let candidates: Vec<Candidate<'_>> = targets
        .iter()
        .map(|l| Candidate {
            id: &l.id,
            region: &l.region,
        })
        .collect();
    let chosen = inner
        .config
        .placement
        .place(&pack.id, k + m, &candidates)
        .ok_or_else(|| {
            Error::Internal(format!("placement found fewer than {} locations", k + m))
        })?;
    let shard_size = shards.first().map(|s| s.len() as u64).unwrap_or(0);
    let mut chosen = chosen;
    let mut pending: Vec<usize> = (0..shards.len()).collect();
    let mut failures: Vec<String> = Vec::new();
    // Write every shard; a shard whose location fails goes to a spare
    // location this pack does not use yet (other regions first), until the
    // spares run out.
    while !pending.is_empty() {
        let writes = pending.iter().map(|&i| {
            let loc = &targets[chosen[i]];
            let (key, shard) = (shard_key(&pack.id, i), shards[i].clone());
            async move {
                let len = shard.len() as u64;
                let r = match loc.provider.put_if_absent(&key, shard).await {
                    Err(ProviderError::AlreadyExists { .. }) => Ok(()),
                    other => other,
                };
                inner.store.observe(&loc.id, &r);
                (i, r.map(|_| len))
            }
        });
        let mut failed = Vec::new();
        for (i, r) in join_all(writes).await {
            match r {
                Ok(len) => {
                    stats.bytes_stored.fetch_add(len, Ordering::Relaxed);
                }
                Err(e) => {
                    failures.push(format!("{}: {e}", targets[chosen[i]].id));
                    failed.push(i);
                }
            }
        }
        for &i in &failed {
            let Some(spare) = pick_spare(targets, &chosen, &chosen[i], inner) else {
                return Err(Error::Storage {
                    location: targets[chosen[i]].id.clone(),
                    source: ProviderError::Unavailable {
                        detail: format!(
                            "shard {i} of pack {} could not be written and no spare location is left ({})",
                            pack.id,
                            failures.join("; ")
                        ),
                    },
                });
            };
            tracing::warn!(pack = %pack.id, shard = i, from = %targets[chosen[i]].id, to = %targets[spare].id, "shard write failed over to a spare location");
            chosen[i] = spare;
        }
        pending = failed;
    }
    buffers.give_back_shards(shards);
    stats.packs.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(pack = %pack.id, chunks = pack.chunks.len(), bytes = pack_len, "pack stored");
    Ok(PackRecord {
        id: pack.id,
        k,
        m,
        pack_len,
        shard_size,
        locations: chosen.iter().map(|&i| targets[i].id.clone()).collect(),
        chunks: pack.chunks,
    })
}

/// A location the pack does not use yet and that is not known to be down,
/// preferring a region the pack does not use either.
fn pick_spare(
    targets: &[Location],
    chosen: &[usize],
    failed: &usize,
    inner: &Inner,
) -> Option<usize> {
    let used_regions: HashSet<&str> = chosen
        .iter()
        .filter(|&c| c != failed)
        .map(|&c| targets[c].region.as_str())
        .collect();
    let free: Vec<usize> = (0..targets.len())
        .filter(|i| !chosen.contains(i) && !inner.store.is_down(&targets[*i].id))
        .collect();
    free.iter()
        .copied()
        .find(|&i| !used_regions.contains(targets[i].region.as_str()))
        .or_else(|| free.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packer(pack_size: usize) -> (Packer, mpsc::Receiver<PackBuilder>) {
        let (tx, rx) = mpsc::channel(16);
        let buffers = Arc::new(PackBuffers {
            spare: Mutex::new(Vec::new()),
            shards: Mutex::new(Vec::new()),
            capacity: pack_size + 1024,
        });
        let open = Mutex::new(PackBuilder::from_buffer(Vec::new()));
        (
            Packer {
                open,
                full: tx,
                buffers,
                pack_size,
            },
            rx,
        )
    }

    #[test]
    fn packs_stay_within_their_target_unless_one_chunk_is_larger() {
        let (p, mut rx) = packer(100);
        for (i, len) in [40usize, 40, 40, 100, 150, 10, 90, 5]
            .into_iter()
            .enumerate()
        {
            let chunk = vec![i as u8; len];
            assert!(p.add([i as u8; 32], len as u32, &chunk).is_ok());
        }
        let mut sizes = Vec::new();
        while let Ok(pack) = rx.try_recv() {
            sizes.push(pack.len());
        }
        // 40+40 | 40 (100 does not fit) | 100 (full) | 150 alone | 10+90 (full); 5 stays open.
        assert_eq!(sizes, vec![80, 40, 100, 150, 100]);
        assert_eq!(lock(&p.open).len(), 5);
    }

    #[test]
    fn shard_buffers_come_back_only_when_nothing_else_holds_them() {
        let (p, _rx) = packer(100);
        let kept = Bytes::from(vec![1u8; 10]);
        let held = kept.clone();
        p.buffers
            .give_back_shards(vec![Bytes::from(vec![2u8; 10]), kept]);
        assert_eq!(p.buffers.take_shards(5).len(), 1);
        drop(held);
    }
}
