//! The backup data path: read → chunk → hash → seal → pack → erasure-code
//! → write, as stages joined by bounded hand-offs.
//!
//! File workers (blocking threads, one per core) read, chunk and hash each
//! file and seal each new chunk into the shared open pack; the worker that
//! fills a pack also closes and erasure-codes it (see [`super::packer`]).
//! The uploader writes the shard objects, a bounded number of packs at once,
//! and gives their buffers back. Memory is a bounded set of reused buffers
//! — never a file's size, never the dataset's.

use std::collections::HashSet;
use std::io::Read;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::join_all;
use tokio::sync::Semaphore;

use super::packer::{lock, EncodedPack, PackStream, Packer, Stopped, PACKS_IN_FLIGHT};
use super::source::Content;
use super::Inner;
use crate::api::FileClass;
use crate::chunk::Chunker;
use crate::classify::{classify, SNIFF_LEN};
use crate::crypto::wedding::DomainKeys;
use crate::error::{Error, Result};
use crate::pack::compress::ChunkCompressor;
use crate::placement::RedundancyProfile;
use crate::provider::Location;
use crate::repo::shard_key;
use crate::snapshot::{ChunkRef, FileHasher, PackRecord};

/// Files read at once (the machines this runs on have two cores or more;
/// each worker keeps one core busy chunking, hashing and sealing).
const FILE_WORKERS: usize = 2;
/// A file to read.
pub(super) struct FileJob {
    pub name: String,
    pub content: Content,
}

/// What reading a file produced.
#[derive(Debug)]
pub(super) struct FileOutcome {
    /// Hex whole-file digest, of the kind the repository keeps.
    pub digest: String,
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
    let (packer, stream) = Packer::new(
        keys.data.clone(),
        inner.config.context.clone(),
        inner.config.pack_size,
        (profile.data_shards, profile.parity_shards),
    );
    let packer = Arc::new(packer.with_compressed_headers(inner.repo.codes_metadata()));
    // The uploader holds the receiving end: it ends when the packer (the
    // only sender) is dropped, and a failed uploader stops the workers.
    let uploader = tokio::spawn(upload_all(
        inner.clone(),
        stream,
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
                let mut read_buf = Vec::new();
                let mut compressor = match inner.repo.compresses() {
                    true => Some(ChunkCompressor::new().map_err(|e| Error::Internal(format!("zstd: {e}")))?),
                    false => None,
                };
                let ctx = Worker { inner: &inner, keys: &keys, claimed: &claimed, packer: &packer, stats: &stats };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { return Ok(()) };
                    let read = ctx.read_file(job, &mut read_buf, compressor.as_mut());
                    stats.files_done.fetch_add(1, Ordering::Relaxed);
                    match read {
                        Ok(out) => lock(&results)[i] = Some(out),
                        Err(ReadError::Source(e)) => {
                            tracing::warn!(file = %job.name, error = %e, "skipping a file that could not be read");
                        }
                        Err(ReadError::Stopped(Stopped::Uploader)) => return Ok(()), // its error is reported below
                        Err(ReadError::Stopped(Stopped::Failed(e))) => return Err(e),
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
    // The last, partly filled pack; then dropping the packer ends the uploader.
    let last = {
        let packer = packer.clone();
        tokio::task::spawn_blocking(move || packer.finish())
            .await
            .map_err(|e| Error::Internal(format!("closing the last pack: {e}")))?
    };
    if let Err(Stopped::Failed(e)) = last {
        worker_err.get_or_insert(e);
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
    Stopped(Stopped),
}

/// What a file worker shares with the others.
struct Worker<'a> {
    inner: &'a Inner,
    keys: &'a DomainKeys,
    claimed: &'a Mutex<HashSet<[u8; 32]>>,
    packer: &'a Packer,
    stats: &'a IngestStats,
}

impl Worker<'_> {
    fn read_file(
        &self,
        job: &FileJob,
        read_buf: &mut Vec<u8>,
        mut compressor: Option<&mut ChunkCompressor>,
    ) -> std::result::Result<FileOutcome, ReadError> {
        let (inner, keys, stats) = (self.inner, self.keys, self.stats);
        let reader = job.content.open().map_err(ReadError::Source)?;
        let reader = CountingReader {
            inner: reader,
            count: &stats.bytes_read,
        };
        let mut chunker = Chunker::new(reader, inner.repo.chunker, std::mem::take(read_buf));
        let mut digest = FileHasher::new(inner.repo.file_digest());
        let mut refs = Vec::new();
        let mut class = None;
        let mut size = 0u64;
        while let Some(data) = chunker.next_chunk().map_err(ReadError::Source)? {
            if class.is_none() {
                class = Some(classify(&data[..data.len().min(SNIFF_LEN)], &job.name));
            }
            digest.update(data);
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
                stats.chunks_new.fetch_add(1, Ordering::Relaxed);
                stats
                    .bytes_new
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                let stored = match compressor.as_deref_mut() {
                    Some(c) => c.compress(data),
                    None => data,
                };
                self.packer
                    .add(id, stored, data.len() as u32)
                    .map_err(ReadError::Stopped)?;
            }
        }
        *read_buf = chunker.into_buffer();
        Ok(FileOutcome {
            digest: digest.finish(),
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

/// Takes encoded packs off the hand-off and writes them, a bounded number
/// at once.
async fn upload_all(
    inner: Arc<Inner>,
    stream: PackStream,
    profile: RedundancyProfile,
    targets: Vec<Location>,
    stats: Arc<IngestStats>,
) -> Result<Vec<PackRecord>> {
    let PackStream { mut packs, returns } = stream;
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
        let Some(pack) = packs.recv().await else {
            break;
        };
        let (inner, targets, stats, returns) = (
            inner.clone(),
            targets.clone(),
            stats.clone(),
            returns.clone(),
        );
        uploads.push(tokio::spawn(async move {
            let _permit = permit;
            match upload_pack(&inner, pack, profile, &targets, &stats).await {
                Ok((record, shards)) => {
                    returns.give_back(shards);
                    Ok(record)
                }
                Err(e) => {
                    returns.give_back_empty();
                    Err(e)
                }
            }
        }));
        // Collect finished uploads now, so that a failed one stops the
        // backup early (returning drops the hand-off, which stops the workers).
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

/// Writes one encoded pack, one shard per distinct location; returns its
/// record and the shard objects (for their buffers).
async fn upload_pack(
    inner: &Inner,
    pack: EncodedPack,
    profile: RedundancyProfile,
    targets: &[Location],
    stats: &IngestStats,
) -> Result<(PackRecord, Vec<Bytes>)> {
    let (k, m) = (profile.data_shards, profile.parity_shards);
    let EncodedPack {
        id,
        pack_len,
        chunks,
        shards,
    } = pack;
    let shard_size = shards.first().map(|s| s.len() as u64).unwrap_or(0);
    let chosen = super::shard_write::write_shards(
        &inner.store,
        inner.config.placement.as_ref(),
        &id,
        targets,
        &shards,
        |i| shard_key(&id, i),
        |_| false,
    )
    .await?;
    let written: u64 = shards.iter().map(|s| s.len() as u64).sum();
    stats.bytes_stored.fetch_add(written, Ordering::Relaxed);
    stats.packs.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(pack = %id, chunks = chunks.len(), bytes = pack_len, "pack stored");
    let record = PackRecord {
        id,
        k,
        m,
        pack_len,
        shard_size,
        locations: chosen.iter().map(|&i| targets[i].id.clone()).collect(),
        chunks,
    };
    Ok((record, shards))
}
