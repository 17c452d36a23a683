//! `recover`: pick the snapshot, plan the packs, read them in parallel,
//! verify every chunk and file, then move the result into place.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{stream, StreamExt};
use indexmap::IndexMap;

use super::backup::{check_wedding_id, manifest_aad};
use super::fetch::{chunk_id_bytes, fetch_pack, unrecoverable};
use super::file_hash::{hash_file, OrderedHash};
use super::keys::domain_keys;
use super::progress::{report_while, Sink, WriteCounters};
use super::restore_fs::{set_file_metadata, Staging};
use super::store::open_json;
use super::Inner;
use crate::api::{
    DataType, EmergencyRecoveryRequest, FileClass, RecoveryLocation, RecoveryResult, Urgency,
};
use crate::crypto::wedding::DomainKeys;
use crate::error::{Error, Result};
use crate::pack::open_chunk_in_place;
use crate::repo::MANIFEST_PREFIX;
use crate::snapshot::{
    safe_components, Entry, EntryKind, FileDigest, Manifest, PackRecord, SnapshotRecord,
};

/// Bytes of packs being read at once, and how long before a slow read is
/// hedged, by urgency. Far locations (150 ms round trips) need many bytes in
/// flight to keep the disk and both cores busy.
fn read_plan(urgency: Urgency) -> (u64, Duration) {
    const MIB: u64 = 1024 * 1024;
    match urgency {
        Urgency::Standard => (32 * MIB, Duration::from_secs(2)),
        Urgency::Urgent => (64 * MIB, Duration::from_millis(500)),
        Urgency::WeddingDayCritical => (128 * MIB, Duration::from_millis(150)),
    }
}

/// Packs to read at once for `budget` bytes in flight: at least 2, at most 64.
fn packs_at_once(budget: u64, plan: &ReadPlan) -> usize {
    let n = plan.len().max(1) as u64;
    let mean = plan.values().map(|(p, _)| p.pack_len).sum::<u64>() / n;
    (budget / mean.max(1)).clamp(2, 64) as usize
}

fn hedge_of(urgency: Urgency) -> Duration {
    read_plan(urgency).1
}

/// Loads and checks a snapshot's manifest: the whole object, or its parts
/// (fetched a few at a time, joined in order).
pub(crate) async fn load_manifest(
    inner: &Inner,
    rec: &SnapshotRecord,
    keys: &DomainKeys,
) -> Result<Manifest> {
    let aad = manifest_aad(&inner.repo.repo_id, &rec.wedding_id);
    let names: Vec<String> = rec.manifest_names().cloned().collect();
    let mut pieces = stream::iter(names)
        .map(|name| load_manifest_object(inner, keys, &aad, name))
        .buffered(PARTS_AT_ONCE);
    let mut manifest = Manifest {
        version: 1,
        entries: Vec::new(),
    };
    let mut any = false;
    while let Some(piece) = pieces.next().await {
        manifest.entries.extend(piece?.entries);
        any = true;
    }
    if !any {
        return Err(Error::corrupt("-", "snapshot record", "names no manifest"));
    }
    manifest.validate()?;
    Ok(manifest)
}

async fn load_manifest_object(
    inner: &Inner,
    keys: &DomainKeys,
    aad: &[u8],
    name: String,
) -> Result<Manifest> {
    let bytes = inner.store.get_metadata(MANIFEST_PREFIX, &name).await?;
    open_json(&keys.data, aad, &bytes, &format!("{MANIFEST_PREFIX}{name}"))
}

/// Manifest parts fetched at once. A part is a few KB, and a coded one
/// (format 5) takes as long as its k-th fastest location: with two of five
/// locations down and the others 20, 80 and 150 ms away, 16 at once spent
/// 5 s of a 2 GB recovery on the ~600 parts of its manifest.
const PARTS_AT_ONCE: usize = 128;

/// Pack id → the pack and, per chunk entry of it, where the chunk goes.
/// Packs to read, in the order the files first need them (so that files
/// fill front to back and most of each is hashed from memory), with the
/// chunks of each and where they go.
type ReadPlan = IndexMap<String, (Arc<PackRecord>, HashMap<usize, Vec<Use>>)>;

/// One use of a chunk: file `file` at byte `offset`.
#[derive(Clone, Copy)]
struct Use {
    file: usize,
    offset: u64,
}

pub(super) async fn recover(
    inner: &Arc<Inner>,
    req: EmergencyRecoveryRequest,
    progress: Sink,
) -> Result<RecoveryResult> {
    let wedding = req.wedding_id.clone();
    check_wedding_id(&wedding)?;
    let timer = Instant::now();
    let (snapshot_id, record) = {
        let cat = inner.catalog.read().await;
        let found = match &req.snapshot_id {
            Some(id) => {
                let matches: Vec<_> = cat
                    .snapshots
                    .iter()
                    .filter(|(k, s)| k.starts_with(id.as_str()) && s.wedding_id == wedding)
                    .collect();
                match matches.as_slice() {
                    [one] => Some((one.0.clone(), one.1.clone())),
                    [] => None,
                    _ => return Err(Error::invalid(format!("snapshot id {id:?} is ambiguous"))),
                }
            }
            None => cat
                .latest(&wedding, req.target_timestamp)
                .map(|(k, s)| (k.clone(), s.clone())),
        };
        found.ok_or_else(|| {
            // Records that could not be read may be this wedding's: say so
            // rather than "no snapshot" (they are sealed, so whose they are
            // is unknown).
            let records: Vec<&String> = cat
                .unreadable
                .iter()
                .filter(|(k, _)| k.starts_with(crate::repo::SNAPSHOT_PREFIX))
                .map(|(_, u)| &u.why)
                .collect();
            if let Some(why) = records.first() {
                return Error::Unrecoverable {
                    wedding: wedding.clone(),
                    detail: format!(
                        "no readable snapshot; {} snapshot record(s), which may be this \
                         wedding's, cannot be read, e.g. {why}",
                        records.len()
                    ),
                };
            }
            match req.target_timestamp {
                Some(t) => Error::NotFound(format!(
                    "wedding {wedding}: no snapshot at or before {}",
                    t.to_rfc3339()
                )),
                None => Error::NotFound(format!("wedding {wedding}: no snapshot")),
            }
        })?
    };
    let keys = domain_keys(inner, &wedding, record.encryption, None).await?;
    let manifest = load_manifest(inner, &record, &keys).await?;
    let selected = select(&manifest, &req)?;
    let dest = destination(inner, &req, &record)?;

    // Plan: which chunks of which packs go where. Fails before anything is written.
    let files: Vec<&Entry> = selected
        .iter()
        .copied()
        .filter(|e| e.kind == EntryKind::File)
        .collect();
    let mut plan = ReadPlan::new();
    {
        let cat = inner.catalog.read().await;
        for (fi, e) in files.iter().enumerate() {
            let mut offset = 0u64;
            for c in &e.chunks {
                let loc =
                    cat.locate(&chunk_id_bytes(&c.id)?)
                        .ok_or_else(|| Error::Unrecoverable {
                            wedding: wedding.clone(),
                            detail: format!("chunk {} of {} is in no index", c.id, e.path),
                        })?;
                plan.entry(loc.pack.id.clone())
                    .or_insert_with(|| (loc.pack.clone(), HashMap::new()))
                    .1
                    .entry(loc.entry)
                    .or_default()
                    .push(Use { file: fi, offset });
                offset += c.len as u64;
            }
        }
    }
    // Refresh what is down; a slow location is not waited for here.
    inner.store.probe(hedge_of(req.urgency) * 4).await;
    for (pack, uses) in plan.values() {
        let reachable = pack
            .locations
            .iter()
            .filter(|l| inner.store.location(l).is_some() && !inner.store.is_down(l))
            .count();
        if reachable < pack.k {
            let affected: std::collections::HashSet<usize> =
                uses.values().flatten().map(|u| u.file).collect();
            return Err(Error::Unrecoverable {
                wedding,
                detail: format!(
                    "pack {} has shards on {reachable} reachable locations, needs {} ({} file(s) affected; down: {})",
                    pack.id,
                    pack.k,
                    affected.len(),
                    pack.locations.iter().filter(|l| inner.store.is_down(l)).cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }

    let staging = Staging::create(
        &dest,
        &hex::encode(inner.config.context.random_bytes::<6>()),
    )?;
    let counters = Arc::new(WriteCounters::new(files.iter().map(|e| e.size)));
    let restored = report_while(
        &progress,
        || counters.current(),
        restore_into(
            inner, &wedding, &req, &staging, &files, plan, &keys, &counters,
        ),
    )
    .await;
    match restored {
        Ok(mut result) => {
            let dest_path = staging.dest().to_owned();
            staging.commit(&selected)?;
            result.destination = dest_path;
            result.snapshot_id = snapshot_id;
            result.snapshot_time = record.time;
            result.duration_ms = timer.elapsed().as_millis() as u64;
            tracing::info!(wedding = %wedding, files = result.recovered_files, bytes = result.recovered_bytes, "recovery complete");
            Ok(result)
        }
        Err(e) => {
            staging.abort();
            Err(e)
        }
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the parts of one recovery"
)]
async fn restore_into(
    inner: &Arc<Inner>,
    wedding: &str,
    req: &EmergencyRecoveryRequest,
    staging: &Staging,
    files: &[&Entry],
    plan: ReadPlan,
    keys: &DomainKeys,
    counters: &Arc<WriteCounters>,
) -> Result<RecoveryResult> {
    let mut paths = Vec::with_capacity(files.len());
    for e in files {
        paths.push(staging.prepare_file(&e.components()?, e.size)?);
    }
    let files = Arc::new(FileChecks {
        done: files.iter().map(|_| AtomicBool::new(false)).collect(),
        hashes: files
            .iter()
            .map(|e| OrderedHash::new(e.digest().map_or(FileDigest::Sha256, |(k, _)| k)))
            .collect(),
        entries: files.iter().map(|e| (*e).clone()).collect(),
        paths,
    });
    let (budget, hedge) = read_plan(req.urgency);
    let concurrency = packs_at_once(budget, &plan);
    let buffers = Arc::new(PackBuffers::default());
    let results: Vec<Result<(super::fetch::FetchedPack, u64)>> = stream::iter(plan.into_values())
        .map(|(pack, uses)| {
            let files = files.clone();
            let keys = keys.clone();
            let counters = counters.clone();
            let buffers = buffers.clone();
            async move {
                let fetched = fetch_pack(inner, &pack, hedge, buffers.take())
                    .await
                    .map_err(|f| {
                        let files: std::collections::HashSet<usize> =
                            uses.values().flatten().map(|u| u.file).collect();
                        unrecoverable(wedding, &pack, &f, files.len())
                    })?;
                let (fetched, verified) = tokio::task::spawn_blocking(move || {
                    write_chunks(fetched, &pack, &uses, &files, &keys, &counters, &buffers)
                })
                .await
                .map_err(|e| Error::Internal(e.to_string()))??;
                Ok((fetched, verified))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut result = RecoveryResult {
        wedding_id: wedding.to_owned(),
        status: "completed".into(),
        snapshot_id: String::new(),
        snapshot_time: chrono::DateTime::<chrono::Utc>::MIN_UTC,
        data_type: req.data_type,
        urgency: req.urgency,
        destination: PathBuf::new(),
        recovered_files: files.entries.len() as u64,
        recovered_bytes: files.entries.iter().map(|e| e.size).sum(),
        duration_ms: 0,
        locations_read: Vec::new(),
        packs_read: 0,
        packs_reconstructed: 0,
        bad_shards: Vec::new(),
        chunks_verified: 0,
        files_verified: 0,
    };
    let mut read_from = std::collections::BTreeSet::new();
    for r in results {
        let (fetched, verified) = r?;
        result.packs_read += 1;
        result.packs_reconstructed += fetched.reconstructed as u64;
        result.bad_shards.extend(fetched.bad);
        result.chunks_verified += verified;
        read_from.extend(fetched.read_from);
    }
    result.locations_read = read_from.into_iter().collect();

    // Files are checked as they complete (in `write_chunks`); what is left
    // here is empty files and any file whose chunks did not add up to its size.
    result.files_verified = tokio::task::spawn_blocking(move || -> Result<u64> {
        for i in 0..files.entries.len() {
            if !files.done[i].load(Ordering::Acquire) {
                files.check(i)?;
            }
        }
        Ok(files.entries.len() as u64)
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    Ok(result)
}

/// Decoded-pack buffers of packs already written, for the next packs: a
/// restore keeps about one allocation per pack in flight instead of a new
/// one per pack (fresh pages are faulted in and zeroed by the kernel, and
/// glibc trims and regrows its heap around them).
#[derive(Default)]
struct PackBuffers(std::sync::Mutex<Vec<Vec<u8>>>);

impl PackBuffers {
    /// Buffers larger than this are dropped rather than kept.
    const KEEP_UP_TO: usize = 64 << 20;

    fn take(&self) -> Vec<u8> {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        pool.pop().unwrap_or_default()
    }

    fn give_back(&self, buf: Vec<u8>) {
        if buf.capacity() <= Self::KEEP_UP_TO {
            let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
            pool.push(buf);
        }
    }
}

/// The files being restored, and which have passed their end-to-end check.
struct FileChecks {
    entries: Vec<Entry>,
    paths: Vec<PathBuf>,
    done: Vec<AtomicBool>,
    /// Each file's digest, hashed as its chunks are written.
    hashes: Vec<OrderedHash>,
}

impl FileChecks {
    /// End to end: file `i`, as written, hashes to the manifest's digest
    /// (SHA-256 or BLAKE3); then its times and mode are set (no write comes
    /// after this).
    fn check(&self, i: usize) -> Result<()> {
        let (path, e) = (&self.paths[i], &self.entries[i]);
        let Some((kind, want)) = e.digest() else {
            return Err(Error::corrupt(
                "-",
                &e.path,
                "manifest has no digest for this file",
            ));
        };
        let digest = match self.hashes[i].finish(e.size) {
            Some(d) => d,
            None => hash_file(path, kind)?,
        };
        if digest != want {
            return Err(Error::corrupt(
                "-",
                &e.path,
                "restored file does not match the digest recorded at backup",
            ));
        }
        set_file_metadata(path, e);
        self.done[i].store(true, Ordering::Release);
        Ok(())
    }
}

/// Opens every needed chunk of a pack (checking its tag) where it lies in
/// the decoded pack, and writes it at its offsets; checks each file that
/// this completes, and gives the pack's buffer back for the next pack.
fn write_chunks(
    mut fetched: super::fetch::FetchedPack,
    pack: &PackRecord,
    uses: &HashMap<usize, Vec<Use>>,
    files: &FileChecks,
    keys: &DomainKeys,
    counters: &WriteCounters,
    buffers: &PackBuffers,
) -> Result<(super::fetch::FetchedPack, u64)> {
    let mut verified = 0;
    let mut inflated = Vec::new();
    // In pack order, which is file order within the pack, so that most
    // bytes are hashed from memory (see `file_hash`).
    let mut uses: Vec<_> = uses.iter().collect();
    uses.sort_unstable_by_key(|(&entry_idx, _)| entry_idx);
    for (&entry_idx, targets) in uses {
        let entry = pack.chunks.get(entry_idx).ok_or_else(|| {
            Error::corrupt("-", &pack.id, "index names a chunk the pack does not have")
        })?;
        let plain = open_chunk_in_place(&mut fetched.data, entry, &keys.data, &mut inflated)
            .map_err(|e| {
                Error::corrupt(
                    "-",
                    format!("chunk {} in pack {}", entry.id, pack.id),
                    e.to_string(),
                )
            })?;
        verified += 1;
        for u in targets {
            write_at(&files.paths[u.file], u.offset, plain)?;
            files.hashes[u.file].wrote(&files.paths[u.file], u.offset, plain)?;
            if counters.wrote(u.file, plain.len() as u64) {
                files.check(u.file)?;
            }
        }
    }
    // Only the read report outlives this: the pack's buffer goes back to
    // the pool, so memory stays bounded by the packs in flight, not the
    // whole restore.
    buffers.give_back(std::mem::take(&mut fetched.data));
    Ok((fetched, verified))
}

#[cfg(unix)]
fn write_at(path: &std::path::Path, offset: u64, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all_at(data, offset).map_err(|e| Error::io(path, e))
}

#[cfg(not(unix))]
fn write_at(path: &std::path::Path, offset: u64, data: &[u8]) -> Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io(path, e))?;
    f.write_all(data).map_err(|e| Error::io(path, e))
}

/// The entries a request asks for, sorted by path.
fn select<'m>(manifest: &'m Manifest, req: &EmergencyRecoveryRequest) -> Result<Vec<&'m Entry>> {
    let by_class = |c: FileClass| -> Vec<&Entry> {
        manifest
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::File && e.class == c)
            .collect()
    };
    let mut out = match req.data_type {
        DataType::CompleteWedding => manifest.entries.iter().collect(),
        DataType::PhotosOnly => by_class(FileClass::Photo),
        DataType::DocumentsOnly => by_class(FileClass::Document),
        DataType::SpecificItems => {
            if req.items.is_empty() {
                return Err(Error::invalid(
                    "specific_items needs at least one item path",
                ));
            }
            let mut out = Vec::new();
            for item in &req.items {
                let item = item.trim_end_matches('/');
                safe_components(item)?;
                let before = out.len();
                out.extend(manifest.entries.iter().filter(|e| {
                    e.path == item
                        || (e.path.len() > item.len()
                            && e.path.starts_with(item)
                            && e.path.as_bytes()[item.len()] == b'/')
                }));
                if out.len() == before {
                    return Err(Error::NotFound(format!(
                        "wedding {}: item {item:?} is not in the snapshot",
                        req.wedding_id
                    )));
                }
            }
            out.sort_by(|a, b| a.path.cmp(&b.path));
            out.dedup_by(|a, b| a.path == b.path);
            out
        }
    };
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn destination(
    inner: &Inner,
    req: &EmergencyRecoveryRequest,
    rec: &SnapshotRecord,
) -> Result<PathBuf> {
    match req.recovery_location {
        RecoveryLocation::Original => rec.source_path.clone().ok_or_else(|| {
            Error::invalid(format!(
                "wedding {}: the snapshot was made from items, it has no original folder",
                rec.wedding_id
            ))
        }),
        RecoveryLocation::Alternate => req
            .destination
            .clone()
            .ok_or_else(|| Error::invalid("recoveryLocation alternate needs a destination folder")),
        RecoveryLocation::Temporary => {
            let tag = hex::encode(inner.config.context.random_bytes::<6>());
            Ok(std::env::temp_dir().join(format!(
                "heirloom-recovery-{}-{tag}",
                sanitize(&rec.wedding_id)
            )))
        }
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}
