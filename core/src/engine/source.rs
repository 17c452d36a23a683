//! Listing what a backup reads: a folder walked without following links,
//! or a host's list of items.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::api::{BackupSource, SourceItem};
use crate::error::{Error, Result};
use crate::snapshot::manifest_path_ok;

/// Where an item's bytes come from.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    File(PathBuf),
    Bytes(std::sync::Arc<Vec<u8>>),
}

impl Content {
    pub(crate) fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Content::File(p) => Box::new(std::fs::File::open(p)?),
            Content::Bytes(b) => Box::new(std::io::Cursor::new(SharedBytes(b.clone()))),
        })
    }
}

struct SharedBytes(std::sync::Arc<Vec<u8>>);
impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// One thing found in the source.
#[derive(Debug, Clone)]
pub(crate) struct SourceEntry {
    /// Relative `/`-separated path.
    pub path: String,
    pub kind: SourceKind,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub inode: u64,
    pub mode: u32,
}

#[derive(Debug, Clone)]
pub(crate) enum SourceKind {
    Dir,
    File(Content),
    Symlink(String),
}

/// Everything found, sorted by path, plus how many entries were skipped.
pub(crate) struct SourceListing {
    pub root: Option<PathBuf>,
    pub entries: Vec<SourceEntry>,
    pub skipped: u64,
}

pub(crate) fn list(source: &BackupSource) -> Result<SourceListing> {
    match source {
        BackupSource::Directory { path } => walk(path),
        BackupSource::Items { items } => from_items(items),
    }
}

fn walk(root: &Path) -> Result<SourceListing> {
    let meta = std::fs::metadata(root).map_err(|e| Error::io(root, e))?;
    if !meta.is_dir() {
        return Err(Error::invalid(format!(
            "source {} is not a folder",
            root.display()
        )));
    }
    let root = root.canonicalize().map_err(|e| Error::io(root, e))?;
    let mut out = SourceListing {
        root: Some(root.clone()),
        entries: Vec::new(),
        skipped: 0,
    };
    let mut stack = vec![(root.clone(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        for item in rd {
            let item = item.map_err(|e| Error::io(&dir, e))?;
            let path = item.path();
            let Some(name) = item.file_name().to_str().map(str::to_owned) else {
                tracing::warn!(path = %path.display(), "skipping a name that is not UTF-8");
                out.skipped += 1;
                continue;
            };
            let rel_path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if !manifest_path_ok(&rel_path) {
                tracing::warn!(path = %path.display(), "skipping a name that cannot be stored safely");
                out.skipped += 1;
                continue;
            }
            let md = match std::fs::symlink_metadata(&path) {
                Ok(md) => md,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping an entry that vanished or cannot be read");
                    out.skipped += 1;
                    continue;
                }
            };
            let ft = md.file_type();
            let kind = if ft.is_dir() {
                stack.push((path.clone(), rel_path.clone()));
                SourceKind::Dir
            } else if ft.is_file() {
                SourceKind::File(Content::File(path.clone()))
            } else if ft.is_symlink() {
                match std::fs::read_link(&path)
                    .ok()
                    .and_then(|t| t.to_str().map(str::to_owned))
                {
                    Some(t) => SourceKind::Symlink(t),
                    None => {
                        out.skipped += 1;
                        continue;
                    }
                }
            } else {
                tracing::warn!(path = %path.display(), "skipping a special file");
                out.skipped += 1;
                continue;
            };
            out.entries.push(entry(rel_path, kind, &md));
        }
    }
    out.entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn entry(path: String, kind: SourceKind, md: &std::fs::Metadata) -> SourceEntry {
    let size = if matches!(kind, SourceKind::File(_)) {
        md.len()
    } else {
        0
    };
    #[cfg(unix)]
    let (ctime_ns, inode, mode, mtime_ns) = {
        use std::os::unix::fs::MetadataExt;
        (
            md.ctime() as i128 * 1_000_000_000 + md.ctime_nsec() as i128,
            md.ino(),
            md.mode() & 0o7777,
            md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128,
        )
    };
    #[cfg(not(unix))]
    let (ctime_ns, inode, mode, mtime_ns) = (
        0,
        0,
        if md.permissions().readonly() {
            0o444
        } else {
            0o644
        },
        md.modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0),
    );
    SourceEntry {
        path,
        kind,
        size,
        mtime_ns,
        ctime_ns,
        inode,
        mode,
    }
}

fn from_items(items: &[SourceItem]) -> Result<SourceListing> {
    let mut entries = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::new();
    for item in items {
        if !manifest_path_ok(&item.name) {
            return Err(Error::PathEscape {
                path: item.name.clone(),
            });
        }
        if !seen.insert(item.name.as_str()) {
            return Err(Error::invalid(format!(
                "item {:?} is listed twice",
                item.name
            )));
        }
        let e = match (&item.path, &item.data) {
            (Some(p), None) => {
                let md = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
                if !md.is_file() {
                    return Err(Error::invalid(format!(
                        "item {:?}: {} is not a file",
                        item.name,
                        p.display()
                    )));
                }
                entry(
                    item.name.clone(),
                    SourceKind::File(Content::File(p.clone())),
                    &md,
                )
            }
            (None, Some(data)) => SourceEntry {
                path: item.name.clone(),
                size: data.len() as u64,
                kind: SourceKind::File(Content::Bytes(std::sync::Arc::new(data.clone()))),
                mtime_ns: 0,
                ctime_ns: 0,
                inode: 0,
                mode: 0o644,
            },
            _ => {
                return Err(Error::invalid(format!(
                    "item {:?} needs exactly one of path or data",
                    item.name
                )))
            }
        };
        entries.push(e);
    }
    // Parent folders of items become directory entries, so restores recreate them.
    let mut dirs = std::collections::BTreeSet::new();
    for e in &entries {
        let mut p = e.path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            dirs.insert(parent.to_owned());
            p = parent;
        }
    }
    for d in dirs {
        entries.push(SourceEntry {
            path: d,
            kind: SourceKind::Dir,
            size: 0,
            mtime_ns: 0,
            ctime_ns: 0,
            inode: 0,
            mode: 0o755,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(SourceListing {
        root: None,
        entries,
        skipped: 0,
    })
}
