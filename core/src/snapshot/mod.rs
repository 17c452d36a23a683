//! What a snapshot is made of: the record (the commit point), the manifest
//! (its files) and the index (the packs a backup wrote).

mod digest;
mod index;
mod manifest;
pub(crate) mod parts;
mod record;

pub(crate) use digest::{FileDigest, FileHasher};
pub(crate) use index::{ChunkEntry, IndexRecord, PackRecord};
pub(crate) use manifest::{
    manifest_path_ok, safe_components, ChunkRef, Entry, EntryKind, Manifest,
};
pub(crate) use record::SnapshotRecord;
