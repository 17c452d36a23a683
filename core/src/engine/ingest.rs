//! The backup data path: read → chunk → hash → seal → pack → erasure-code
//! → write, as stages joined by bounded channels.
//!
//! File workers (blocking threads) read, chunk, hash and seal; one packer
//! task appends sealed chunks into packs; each full pack is encoded and its
//! shards written by an upload task, with a bounded number of packs in
//! flight. Memory stays bounded by the channel depth, the pack size and the
//! number of uploads in flight — never by a file's size.

use std::collections::HashSet;
use std::io::Read;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, Semaphore};

use super::source::Content;
use super::Inner;
use crate::api::FileClass;
use crate::chunk;
use crate::classify::{classify, SNIFF_LEN};
use crate::crypto::aead;
use crate::crypto::wedding::DomainKeys;
use crate::erasure::{encode_pack, ReedSolomon};
use crate::error::{Error, Result};
use crate::pack::PackBuilder;
use crate::placement::{Candidate, RedundancyProfile};
use crate::provider::{Location, ProviderError};
use crate::repo::shard_key;
use crate::snapshot::{ChunkRef, PackRecord};

/// Files read at once.
const FILE_WORKERS: usize = 2;
/// Sealed chunks queued between the workers and the packer.
const CHUNK_QUEUE: usize = 8;
/// Packs being encoded or written at once.
const PACKS_IN_FLIGHT: usize = 2;

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

struct SealedChunk {
    id: [u8; 32],
    len: u32,
    sealed: Vec<u8>,
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
    let (tx, rx) = mpsc::channel::<SealedChunk>(CHUNK_QUEUE);
    let packer = tokio::spawn(pack_and_upload(
        inner.clone(),
        keys.clone(),
        rx,
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
            let (inner, keys, jobs, next, results, claimed, tx, stats) =
                (inner.clone(), keys.clone(), jobs.clone(), next.clone(), results.clone(), claimed.clone(), tx.clone(), stats.clone());
            tokio::task::spawn_blocking(move || -> Result<()> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { return Ok(()) };
                    let read = read_file(&inner, &keys, job, &claimed, &tx, &stats);
                    stats.files_done.fetch_add(1, Ordering::Relaxed);
                    match read {
                        Ok(out) => results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(out),
                        Err(ReadError::Source(e)) => {
                            tracing::warn!(file = %job.name, error = %e, "skipping a file that could not be read");
                        }
                        Err(ReadError::Pipeline) => return Ok(()), // the packer failed; its error is reported below
                    }
                }
            })
        })
        .collect();
    drop(tx);
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
    let packs = packer
        .await
        .map_err(|e| Error::Internal(format!("packer: {e}")))??;
    if let Some(e) = worker_err {
        return Err(e);
    }
    let outcomes = std::mem::take(&mut *results.lock().unwrap_or_else(|p| p.into_inner()));
    Ok((outcomes, packs))
}

enum ReadError {
    Source(std::io::Error),
    Pipeline,
}

fn read_file(
    inner: &Inner,
    keys: &DomainKeys,
    job: &FileJob,
    claimed: &Mutex<HashSet<[u8; 32]>>,
    tx: &mpsc::Sender<SealedChunk>,
    stats: &IngestStats,
) -> std::result::Result<FileOutcome, ReadError> {
    let reader = job.content.open().map_err(ReadError::Source)?;
    let reader = CountingReader {
        inner: reader,
        count: &stats.bytes_read,
    };
    let mut sha = Sha256::new();
    let mut refs = Vec::new();
    let mut class = None;
    let mut size = 0u64;
    for piece in chunk::chunks(reader, inner.repo.chunker) {
        let data = piece.map_err(ReadError::Source)?;
        if class.is_none() {
            class = Some(classify(&data[..data.len().min(SNIFF_LEN)], &job.name));
        }
        sha.update(&data);
        size += data.len() as u64;
        let id = keys.chunk_id(&data);
        refs.push(ChunkRef {
            id: hex::encode(id),
            len: data.len() as u32,
        });
        stats.chunks_total.fetch_add(1, Ordering::Relaxed);
        let known = inner.catalog.blocking_read().chunks.contains_key(&id);
        let is_new = !known && claimed.lock().unwrap_or_else(|p| p.into_inner()).insert(id);
        if is_new {
            let sealed = aead::seal(&keys.data, &inner.config.context, &id, &data)
                .map_err(|e| ReadError::Source(std::io::Error::other(e)))?;
            stats.chunks_new.fetch_add(1, Ordering::Relaxed);
            stats
                .bytes_new
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            tx.blocking_send(SealedChunk {
                id,
                len: data.len() as u32,
                sealed,
            })
            .map_err(|_| ReadError::Pipeline)?;
        }
    }
    Ok(FileOutcome {
        sha256: hex::encode(sha.finalize()),
        chunks: refs,
        class: class.unwrap_or_else(|| classify(b"", &job.name)),
        size,
    })
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

async fn pack_and_upload(
    inner: Arc<Inner>,
    keys: DomainKeys,
    mut rx: mpsc::Receiver<SealedChunk>,
    profile: RedundancyProfile,
    targets: Vec<Location>,
    stats: Arc<IngestStats>,
) -> Result<Vec<PackRecord>> {
    let pack_size = inner.config.pack_size;
    let slots = Arc::new(Semaphore::new(PACKS_IN_FLIGHT));
    let targets = Arc::new(targets);
    let mut uploads = Vec::new();
    let mut builder = PackBuilder::with_capacity(pack_size + pack_size / 4);
    let mut records = Vec::new();
    loop {
        let chunk = rx.recv().await;
        let flush = match &chunk {
            Some(c) => {
                builder.push(c.id, c.len, &c.sealed);
                builder.len() >= pack_size
            }
            None => !builder.is_empty(),
        };
        if flush {
            let full = std::mem::replace(
                &mut builder,
                PackBuilder::with_capacity(pack_size + pack_size / 4),
            );
            let permit = slots
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| Error::Internal(e.to_string()))?;
            let (inner, keys, targets, stats) =
                (inner.clone(), keys.clone(), targets.clone(), stats.clone());
            uploads.push(tokio::spawn(async move {
                let _permit = permit;
                upload_pack(&inner, &keys, full, profile, &targets, &stats).await
            }));
            // Collect finished uploads now, so that a failed one stops the
            // backup early (returning drops `rx`, which stops the workers).
            let (done, pending): (Vec<_>, Vec<_>) =
                uploads.into_iter().partition(|u| u.is_finished());
            uploads = pending;
            for d in done {
                records.push(d.await.map_err(|e| Error::Internal(e.to_string()))??);
            }
        }
        if chunk.is_none() {
            break;
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
    profile: RedundancyProfile,
    targets: &[Location],
    stats: &IngestStats,
) -> Result<PackRecord> {
    let (k, m) = (profile.data_shards, profile.parity_shards);
    let (key, ctx) = (keys.data.clone(), inner.config.context.clone());
    let (pack, shards) = tokio::task::spawn_blocking(move || -> Result<_> {
        let pack = builder
            .finish(&key, &ctx)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let shards = encode_pack(&ReedSolomon, pack.id_bytes, &pack.bytes, k, m)
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok((pack, shards))
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
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
    stats.packs.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(pack = %pack.id, chunks = pack.chunks.len(), bytes = pack.bytes.len(), "pack stored");
    Ok(PackRecord {
        id: pack.id,
        k,
        m,
        pack_len: pack.bytes.len() as u64,
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
