//! The manifest: every entry of a snapshot, with the chunks of each file.

use serde::{Deserialize, Serialize};

use crate::api::FileClass;
use crate::error::{Error, Result};

/// The files, folders and links of one snapshot, sorted by path.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    pub version: u32,
    pub entries: Vec<Entry>,
}

/// One entry. `path` is relative and `/`-separated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Entry {
    pub path: String,
    pub kind: EntryKind,
    #[serde(default)]
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    #[serde(default)]
    pub mtime_ns: i128,
    #[serde(default)]
    pub mode: u32,
    /// Inode and change time, for unchanged-file detection only.
    #[serde(default)]
    pub inode: u64,
    #[serde(default)]
    pub ctime_ns: i128,
    #[serde(default = "other")]
    pub class: FileClass,
    /// Hex SHA-256 of the whole content (files, formats 1 to 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Hex BLAKE3 of the whole content (files, format 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<ChunkRef>,
}

fn other() -> FileClass {
    FileClass::Other
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub(crate) enum EntryKind {
    File,
    Dir,
    Symlink { target: String },
}

/// A chunk of a file, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChunkRef {
    /// Hex chunk id.
    pub id: String,
    /// Plaintext length.
    pub len: u32,
}

impl Entry {
    /// The whole-file digest recorded at backup: its kind and hex value.
    pub(crate) fn digest(&self) -> Option<(super::FileDigest, &str)> {
        match (&self.blake3, &self.sha256) {
            (Some(b), _) => Some((super::FileDigest::Blake3, b)),
            (None, Some(s)) => Some((super::FileDigest::Sha256, s)),
            (None, None) => None,
        }
    }

    /// Records the whole-file digest of the kind the repository keeps.
    pub(crate) fn set_digest(&mut self, kind: super::FileDigest, hex: String) {
        match kind {
            super::FileDigest::Sha256 => self.sha256 = Some(hex),
            super::FileDigest::Blake3 => self.blake3 = Some(hex),
        }
    }

    /// The path's components, checked: relative, no `.`/`..`/empty parts,
    /// no NUL or backslash. A manifest that fails this is refused, never
    /// written anywhere.
    pub(crate) fn components(&self) -> Result<Vec<&str>> {
        safe_components(&self.path)
    }
}

/// Splits a stored path into components, refusing anything that could leave
/// the folder it is restored into.
pub(crate) fn safe_components(path: &str) -> Result<Vec<&str>> {
    let escape = || Error::PathEscape {
        path: path.to_owned(),
    };
    if path.is_empty() || path.starts_with('/') || path.contains('\0') || path.contains('\\') {
        return Err(escape());
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts
        .iter()
        .any(|c| c.is_empty() || *c == "." || *c == "..")
    {
        return Err(escape());
    }
    // A Windows drive prefix ("C:") is absolute there.
    if parts[0].len() == 2 && parts[0].ends_with(':') {
        return Err(escape());
    }
    Ok(parts)
}

/// True when `path` would pass [`safe_components`].
pub(crate) fn manifest_path_ok(path: &str) -> bool {
    safe_components(path).is_ok()
}

impl Manifest {
    /// Checks every path and that no entry lies under a symlink entry (a
    /// link that points outside would carry later writes with it).
    pub(crate) fn validate(&self) -> Result<()> {
        let mut links: Vec<&str> = Vec::new();
        for e in &self.entries {
            e.components()?;
            let listed: u64 = e.chunks.iter().map(|c| u64::from(c.len)).sum();
            if e.kind == EntryKind::File && listed != e.size {
                return Err(Error::corrupt(
                    "-",
                    &e.path,
                    format!(
                        "manifest lists {listed} bytes of chunks for a file of {} bytes",
                        e.size
                    ),
                ));
            }
            if let EntryKind::Symlink { target } = &e.kind {
                if target.is_empty() || target.contains('\0') {
                    return Err(Error::PathEscape {
                        path: e.path.clone(),
                    });
                }
                links.push(&e.path);
            }
        }
        for e in &self.entries {
            for l in &links {
                if e.path.len() > l.len()
                    && e.path.starts_with(l)
                    && e.path.as_bytes()[l.len()] == b'/'
                {
                    return Err(Error::PathEscape {
                        path: e.path.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::File,
            size: 0,
            mtime_ns: 0,
            mode: 0o644,
            inode: 0,
            ctime_ns: 0,
            class: FileClass::Other,
            sha256: None,
            blake3: None,
            chunks: vec![],
        }
    }

    #[test]
    fn escaping_paths_are_refused() {
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "a/../../b",
            "a//b",
            "./a",
            "C:/x",
            "a\\..\\b",
            "",
        ] {
            let m = Manifest {
                version: 1,
                entries: vec![file(bad)],
            };
            assert!(
                matches!(m.validate(), Err(Error::PathEscape { .. })),
                "{bad:?} accepted"
            );
        }
        let ok = Manifest {
            version: 1,
            entries: vec![file("photos/ceremony/IMG 1.jpg"), file("婚礼/a")],
        };
        ok.validate().unwrap();
    }

    #[test]
    fn entries_under_a_symlink_are_refused() {
        let mut link = file("photos");
        link.kind = EntryKind::Symlink {
            target: "/etc".into(),
        };
        let m = Manifest {
            version: 1,
            entries: vec![link.clone(), file("photos/passwd")],
        };
        assert!(matches!(m.validate(), Err(Error::PathEscape { .. })));
        let m = Manifest {
            version: 1,
            entries: vec![link, file("photos2/a")],
        };
        m.validate().unwrap();
    }
}
