//! `create_backup`: plan which files to read, run the data path, commit.
//!
//! Commit order: shards, then the index object, then the manifest, then the
//! snapshot record. A crash before the record leaves only unreferenced
//! objects, which prune removes; it never leaves a snapshot that points at
//! data that is not there.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::ingest::{ingest, FileJob, IngestStats};
use super::keys::domain_keys;
use super::progress::{report_while, Sink};
use super::source::{self, SourceKind};
use super::store::seal_json;
use super::Inner;
use futures::StreamExt;

use crate::api::{
    BackupResult, BackupStats, BackupType, FileClass, Progress, WeddingBackupRequest,
};
use crate::crypto::aead;
use crate::crypto::wedding::DomainKeys;
use crate::error::{Error, Result};
use crate::placement::RedundancyProfile;
use crate::provider::Location;
use crate::repo::{content_name, MetaKind, INDEX_PREFIX, MANIFEST_PREFIX, SNAPSHOT_PREFIX};
use crate::snapshot::{parts, Entry, EntryKind, IndexRecord, Manifest, SnapshotRecord};

/// Checks a wedding id: non-empty, at most 200 bytes, no control characters.
pub(crate) fn check_wedding_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "wedding id {id:?} must be 1–200 bytes without control characters"
        )));
    }
    Ok(())
}

/// Associated data of a wedding's manifest.
pub(super) fn manifest_aad(repo_id: &str, wedding: &str) -> Vec<u8> {
    let mut aad = MetaKind::Manifest.aad(repo_id);
    aad.push(b'/');
    aad.extend_from_slice(wedding.as_bytes());
    aad
}

pub(super) async fn create_backup(
    inner: &Arc<Inner>,
    req: WeddingBackupRequest,
    progress: Sink,
) -> Result<BackupResult> {
    let wedding = req.wedding_id.clone();
    check_wedding_id(&wedding)?;
    // Prune never deletes packs while a backup of this engine runs; and
    // packs under a prune marker (from any process) are not dedup targets.
    let _maintenance = inner.maintenance.read().await;
    crate::prune::prepare_backup(inner).await?;
    let ctx = &inner.config.context;
    let started_at = ctx.now();
    let timer = Instant::now();
    let profile = inner
        .config
        .profiles
        .for_request(&wedding, req.priority, req.locations)?;
    let n = profile.total();
    if inner.store.locations.len() < n {
        return Err(Error::InsufficientLocations {
            wedding,
            needed: n,
            available: inner.store.locations.len(),
        });
    }
    let targets: Vec<_> = inner
        .store
        .probe(super::store::BACKUP_PROBE_TIMEOUT)
        .await
        .into_iter()
        .filter(|l| !inner.store.is_retired(&l.id))
        .cloned()
        .collect();
    if targets.len() < n {
        return Err(Error::InsufficientLocations {
            wedding,
            needed: n,
            available: targets.len(),
        });
    }
    let required = profile.parity_shards + 1;
    let keys = domain_keys(inner, &wedding, req.encryption, Some(required)).await?;

    // The parent: the wedding's newest snapshot. Its files can be reused only
    // when they were sealed in the same key domain.
    let parent = inner
        .catalog
        .read()
        .await
        .latest(&wedding, None)
        .map(|(id, s)| (id.clone(), s.clone()));
    let parent_manifest = match &parent {
        Some((_, rec))
            if req.backup_type != BackupType::Full && rec.encryption == req.encryption =>
        {
            Some(super::recover::load_manifest(inner, rec, &keys).await?)
        }
        _ => None,
    };
    let parent_entries: HashMap<&str, &Entry> = parent_manifest
        .iter()
        .flat_map(|m| m.entries.iter())
        .filter(|e| e.kind == EntryKind::File)
        .map(|e| (e.path.as_str(), e))
        .collect();

    let source = req.source.clone();
    let listing = tokio::task::spawn_blocking(move || source::list(&source))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;

    // Plan: which files are read, which are carried over from the parent.
    let mut stats = BackupStats {
        files_skipped: listing.skipped,
        ..Default::default()
    };
    let mut entries: Vec<Option<Entry>> = Vec::with_capacity(listing.entries.len());
    let mut jobs = Vec::new();
    let mut job_slots = Vec::new();
    let mut bytes_to_read = 0u64;
    for se in &listing.entries {
        let base = Entry {
            path: se.path.clone(),
            kind: EntryKind::Dir,
            size: se.size,
            mtime_ns: se.mtime_ns,
            mode: se.mode,
            inode: se.inode,
            ctime_ns: se.ctime_ns,
            class: FileClass::Other,
            sha256: None,
            blake3: None,
            chunks: Vec::new(),
        };
        let content = match &se.kind {
            SourceKind::Dir => {
                entries.push(Some(base));
                continue;
            }
            SourceKind::Symlink(target) => {
                entries.push(Some(Entry {
                    kind: EntryKind::Symlink {
                        target: target.clone(),
                    },
                    ..base
                }));
                continue;
            }
            SourceKind::File(c) => c,
        };
        let prior = parent_entries.get(se.path.as_str()).copied();
        let unchanged = prior.filter(|p| {
            se.inode != 0
                && p.size == se.size
                && p.mtime_ns == se.mtime_ns
                && p.inode == se.inode
                && p.ctime_ns == se.ctime_ns
        });
        if let Some(p) = unchanged {
            stats.files_unchanged += 1;
            entries.push(Some(Entry {
                kind: EntryKind::File,
                class: p.class,
                sha256: p.sha256.clone(),
                blake3: p.blake3.clone(),
                chunks: p.chunks.clone(),
                ..base
            }));
            continue;
        }
        if req.backup_type == BackupType::CriticalOnly {
            let class = match sniff(content, &se.path) {
                Ok((class, read)) => {
                    stats.bytes_read += read;
                    class
                }
                Err(e) => {
                    tracing::warn!(file = %se.path, error = %e, "skipping a file that could not be read");
                    stats.files_skipped += 1;
                    entries.push(None);
                    continue;
                }
            };
            if !matches!(class, FileClass::Photo | FileClass::Document) {
                // Not critical: carried over as the parent had it, or left out.
                match prior {
                    Some(p) => entries.push(Some(p.clone())),
                    None => {
                        stats.files_skipped += 1;
                        entries.push(None);
                    }
                }
                continue;
            }
        }
        job_slots.push(entries.len());
        entries.push(Some(Entry {
            kind: EntryKind::File,
            ..base
        }));
        bytes_to_read += se.size;
        jobs.push(FileJob {
            name: se.path.clone(),
            content: content.clone(),
        });
    }

    let ingest_stats = Arc::new(IngestStats::default());
    let files_to_read = jobs.len() as u64;
    let (outcomes, packs) = report_while(
        &progress,
        || Progress {
            files_done: ingest_stats.files_done.load(Ordering::Relaxed),
            files_total: files_to_read,
            bytes_done: ingest_stats.bytes_read.load(Ordering::Relaxed),
            bytes_total: bytes_to_read,
        },
        ingest(
            inner,
            keys.clone(),
            jobs,
            profile,
            targets.clone(),
            ingest_stats.clone(),
        ),
    )
    .await?;
    for (slot, outcome) in job_slots.into_iter().zip(outcomes) {
        match outcome {
            Some(o) => {
                if let Some(e) = entries[slot].as_mut() {
                    e.size = o.size;
                    e.class = o.class;
                    e.set_digest(inner.repo.file_digest(), o.digest);
                    e.chunks = o.chunks;
                }
                stats.files_read += 1;
            }
            None => {
                entries[slot] = None;
                stats.files_skipped += 1;
            }
        }
    }
    let entries: Vec<Entry> = entries.into_iter().flatten().collect();
    stats.files_total = entries.iter().filter(|e| e.kind == EntryKind::File).count() as u64;
    stats.bytes_total = entries.iter().map(|e| e.size).sum();
    stats.bytes_read += ingest_stats.bytes_read.load(Ordering::Relaxed);
    stats.bytes_new = ingest_stats.bytes_new.load(Ordering::Relaxed);
    stats.bytes_stored = ingest_stats.bytes_stored.load(Ordering::Relaxed);
    stats.chunks_total = ingest_stats.chunks_total.load(Ordering::Relaxed);
    stats.chunks_new = ingest_stats.chunks_new.load(Ordering::Relaxed);
    stats.packs_written = ingest_stats.packs.load(Ordering::Relaxed);

    // Commit: index, manifest, snapshot record (last).
    let meta = MetaSink {
        inner,
        profile,
        targets: &targets,
        required,
    };
    let repo_id = &inner.repo.repo_id;
    let mut indexes = Vec::new();
    let mut metadata_locations = BTreeSet::new();
    if !packs.is_empty() {
        let index = IndexRecord {
            version: 1,
            packs: packs.clone(),
            generation: 0,
        };
        let sealed = seal_json(
            &inner.master.metadata,
            ctx,
            &MetaKind::Index.aad(repo_id),
            &index,
            inner.repo.compresses(),
        )?;
        let (name, locs, bytes) = meta.put(INDEX_PREFIX, sealed).await?;
        stats.bytes_stored += bytes;
        metadata_locations.extend(locs);
        indexes.push(name);
    }
    // Parts the parent lists are not written again, unless this is a full
    // backup (it writes every part; one already there is kept) or the parent
    // asked for fewer copies than this backup needs. Coded parts are named
    // after their k+m, so they are reused only by a backup coded the same.
    let same_coding = |rec: &SnapshotRecord| {
        if inner.repo.codes_metadata() {
            rec.data_shards == profile.data_shards && rec.parity_shards == profile.parity_shards
        } else {
            rec.parity_shards >= profile.parity_shards
        }
    };
    let parent_parts: HashSet<&String> = match &parent {
        Some((_, rec))
            if req.backup_type != BackupType::Full
                && rec.encryption == req.encryption
                && same_coding(rec) =>
        {
            rec.manifest_parts.iter().collect()
        }
        _ => HashSet::new(),
    };
    let parked = inner.catalog.read().await.parked_manifests.clone();
    let (manifest_name, manifest_parts) = if inner.repo.compresses() {
        let parts =
            store_manifest_parts(&meta, &keys, &wedding, &entries, (&parent_parts, &parked))
                .await?;
        stats.bytes_stored += parts.bytes_stored;
        metadata_locations.extend(parts.locations);
        (String::new(), parts.names)
    } else {
        let manifest = Manifest {
            version: 1,
            entries,
        };
        let sealed = seal_json(
            &keys.data,
            ctx,
            &manifest_aad(repo_id, &wedding),
            &manifest,
            false,
        )?;
        let (name, locs, bytes) = meta.put(MANIFEST_PREFIX, sealed).await?;
        stats.bytes_stored += bytes;
        metadata_locations.extend(locs);
        (name, Vec::new())
    };

    let record = SnapshotRecord {
        version: 1,
        wedding_id: wedding.clone(),
        time: ctx.now(),
        parent: parent.as_ref().map(|(id, _)| id.clone()),
        backup_type: req.backup_type,
        priority: req.priority,
        retention: req.retention,
        encryption: req.encryption,
        data_shards: profile.data_shards,
        parity_shards: profile.parity_shards,
        source_path: listing.root.clone(),
        manifest: manifest_name,
        manifest_parts,
        indexes: indexes.clone(),
        stats: stats.clone(),
    };
    let sealed = seal_json(
        &inner.master.metadata,
        ctx,
        &MetaKind::Snapshot.aad(repo_id),
        &record,
        inner.repo.compresses(),
    )?;
    let (snapshot_id, locs, _) = meta.put(SNAPSHOT_PREFIX, sealed).await?;
    metadata_locations.extend(locs);

    {
        let mut cat = inner.catalog.write().await;
        if let Some(name) = indexes.first() {
            if inner.repo.codes_metadata() {
                cat.coded_indexes.insert(name.clone(), profile.total());
            }
            cat.add_index(
                name,
                IndexRecord {
                    version: 1,
                    packs: packs.clone(),
                    generation: 0,
                },
            );
        }
        cat.snapshots.insert(snapshot_id.clone(), record.clone());
    }
    let locations_used: BTreeSet<String> = packs
        .iter()
        .flat_map(|p| p.locations.iter().cloned())
        .collect();
    tracing::info!(wedding = %wedding, snapshot = %snapshot_id, files = stats.files_total, new_bytes = stats.bytes_new, "backup committed");
    Ok(BackupResult {
        backup_id: snapshot_id,
        wedding_id: wedding,
        status: "completed".into(),
        backup_type: req.backup_type,
        priority: req.priority,
        encryption: req.encryption,
        retention: req.retention,
        parent_id: record.parent,
        started_at,
        completed_at: record.time,
        duration_ms: timer.elapsed().as_millis() as u64,
        data_shards: profile.data_shards,
        parity_shards: profile.parity_shards,
        locations_used: locations_used.into_iter().collect(),
        metadata_locations: metadata_locations.into_iter().collect(),
        dedup_ratio: if stats.bytes_new == 0 {
            0.0
        } else {
            stats.bytes_total as f64 / stats.bytes_new as f64
        },
        stats,
    })
}

/// What writing a manifest's parts stored.
struct StoredParts {
    names: Vec<String>,
    bytes_stored: u64,
    locations: BTreeSet<String>,
}

/// Stores a manifest as parts (see [`crate::snapshot::parts`]): each one
/// compressed and sealed deterministically, so that it is named by its
/// content; parts in `reuse` (the parent's) are not written again. A part
/// whose name a prune marker lists (`parked`) may be swept before this
/// backup commits, so it is sealed with a random nonce instead: a new name,
/// a new object. Parts are written a few at a time (see [`MetaSink`]). In
/// a repository that codes its metadata the nonce also depends on k+m, so
/// that the same part coded two ways is two objects, never a mix of shards.
async fn store_manifest_parts(
    meta: &MetaSink<'_>,
    keys: &DomainKeys,
    wedding: &str,
    entries: &[Entry],
    (reuse, parked): (&HashSet<&String>, &HashSet<String>),
) -> Result<StoredParts> {
    let inner = meta.inner;
    let aad = manifest_aad(&inner.repo.repo_id, wedding);
    let mut part_keys = parts::PartKeys::derive(&keys.chunk_id);
    if inner.repo.codes_metadata() {
        part_keys = part_keys.for_coding(meta.profile);
    }
    let sealing = |e: crate::crypto::CryptoError| Error::Internal(e.to_string());
    let mut sealed_parts = Vec::new();
    for part in parts::split(entries, &part_keys.boundary, part_keys.avg) {
        let json = serde_json::to_vec(&parts::PartRef {
            version: 1,
            entries: part,
        })
        .map_err(|e| Error::Internal(format!("serialize: {e}")))?;
        let plain = crate::pack::compress::compress_meta(&json)
            .map_err(|e| Error::Internal(format!("compress: {e}")))?;
        let mut sealed = aead::seal_deterministic(&keys.data, &part_keys.nonce, &aad, &plain)
            .map_err(sealing)?;
        let mut name = content_name(&sealed);
        if parked.contains(&name) {
            sealed =
                aead::seal(&keys.data, &inner.config.context, &aad, &plain).map_err(sealing)?;
            name = content_name(&sealed);
        }
        sealed_parts.push((name, sealed));
    }
    let mut stored = StoredParts {
        names: sealed_parts.iter().map(|(n, _)| n.clone()).collect(),
        bytes_stored: 0,
        locations: BTreeSet::new(),
    };
    let new: Vec<Vec<u8>> = sealed_parts
        .into_iter()
        .filter(|(name, _)| !reuse.contains(name))
        .map(|(_, sealed)| sealed)
        .collect();
    let mut writes = futures::stream::iter(new)
        .map(|sealed| meta.put(MANIFEST_PREFIX, sealed))
        .buffer_unordered(PARTS_AT_ONCE);
    while let Some(written) = writes.next().await {
        let (_, locations, bytes) = written?;
        stored.locations.extend(locations);
        stored.bytes_stored += bytes;
    }
    Ok(stored)
}

/// Where a backup's metadata objects go: erasure-coded with the backup's
/// profile over its targets (format 5), or a whole copy to every location
/// of which `required` must take it (formats 1–4).
struct MetaSink<'a> {
    inner: &'a Inner,
    profile: RedundancyProfile,
    targets: &'a [Location],
    required: usize,
}

impl MetaSink<'_> {
    /// Stores one sealed object under `prefix`; returns its name, the
    /// locations that hold it and the bytes it counts toward the backup's
    /// `bytes_stored`: its shards (coded), or its size once (whole copies).
    async fn put(&self, prefix: &str, sealed: Vec<u8>) -> Result<(String, Vec<String>, u64)> {
        let store = &self.inner.store;
        if self.inner.repo.codes_metadata() {
            store
                .put_coded(
                    prefix,
                    sealed,
                    self.profile,
                    self.targets,
                    self.inner.config.placement.as_ref(),
                )
                .await
        } else {
            // Counted once, as formats 1–4 always have (the status report
            // multiplies it by the locations).
            let len = sealed.len() as u64;
            let (name, locations) = store.put_replicated(prefix, sealed, self.required).await?;
            Ok((name, locations, len))
        }
    }
}

/// Manifest parts written at once.
const PARTS_AT_ONCE: usize = 8;

/// Classifies a file from its first bytes; returns the class and the bytes read.
fn sniff(content: &super::source::Content, name: &str) -> std::io::Result<(FileClass, u64)> {
    use std::io::Read;
    let mut head = Vec::with_capacity(crate::classify::SNIFF_LEN);
    content
        .open()?
        .take(crate::classify::SNIFF_LEN as u64)
        .read_to_end(&mut head)?;
    Ok((crate::classify::classify(&head, name), head.len() as u64))
}
