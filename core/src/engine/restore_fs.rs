//! Writing a restore safely: everything lands in a staging folder inside
//! the destination first and is moved into place only once every file is
//! complete and verified. Nothing is ever written outside the destination:
//! paths are checked component by component, and an existing symlink on
//! the way is refused rather than followed.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::snapshot::{Entry, EntryKind};

/// A staging folder inside a destination.
pub(super) struct Staging {
    dest: PathBuf,
    dir: PathBuf,
    created_dest: bool,
}

impl Staging {
    /// Creates `dest` if needed (refusing a file) and a staging folder in it.
    pub(super) fn create(dest: &Path, tag: &str) -> Result<Staging> {
        let created_dest = match fs::metadata(dest) {
            Ok(md) if md.is_dir() => false,
            Ok(_) => {
                return Err(Error::invalid(format!(
                    "destination {} exists and is not a folder",
                    dest.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
                true
            }
            Err(e) => return Err(Error::io(dest, e)),
        };
        let dest = dest.canonicalize().map_err(|e| Error::io(dest, e))?;
        let dir = dest.join(format!(".heirloom-restore-{tag}"));
        fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staging {
            dest,
            dir,
            created_dest,
        })
    }

    /// The destination folder.
    pub(super) fn dest(&self) -> &Path {
        &self.dest
    }

    /// Where an entry is staged.
    pub(super) fn staged(&self, components: &[&str]) -> PathBuf {
        components.iter().fold(self.dir.clone(), |p, c| p.join(c))
    }

    /// Creates an empty file of `size` bytes in staging. Staging is new, so
    /// the file must not exist: two manifest paths that name one file (on a
    /// case-insensitive or normalising destination) fail here, before
    /// anything is written, rather than share it.
    pub(super) fn prepare_file(&self, components: &[&str], size: u64) -> Result<PathBuf> {
        let path = self.staged(components);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        f.set_len(size).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }

    /// Moves every staged entry into the destination, then restores modes
    /// and times. `entries` must be sorted by path.
    pub(super) fn commit(self, entries: &[&Entry]) -> Result<()> {
        let mut dirs = Vec::new();
        for e in entries {
            let comps = e.components()?;
            let target = self.safe_target(&comps, &e.path)?;
            match &e.kind {
                EntryKind::Dir => {
                    match fs::symlink_metadata(&target) {
                        Ok(md) if md.is_dir() => {}
                        Ok(_) => {
                            return Err(Error::invalid(format!(
                                "{} exists and is not a folder",
                                target.display()
                            )))
                        }
                        Err(_) => fs::create_dir(&target).map_err(|err| Error::io(&target, err))?,
                    }
                    dirs.push((target, *e));
                }
                EntryKind::File => {
                    if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
                        return Err(Error::invalid(format!(
                            "{} exists and is a folder",
                            target.display()
                        )));
                    }
                    let staged = self.staged(&comps);
                    // rename(2) replaces a symlink at `target` itself; it never follows it.
                    fs::rename(&staged, &target).map_err(|err| Error::io(&target, err))?;
                }
                EntryKind::Symlink { target: link } => {
                    if let Ok(md) = fs::symlink_metadata(&target) {
                        if md.is_dir() {
                            return Err(Error::invalid(format!(
                                "{} exists and is a folder",
                                target.display()
                            )));
                        }
                        fs::remove_file(&target).map_err(|err| Error::io(&target, err))?;
                    }
                    make_symlink(link, &target)?;
                }
            }
        }
        // Folder modes and times last, deepest first, so moves above could still write into them.
        for (path, e) in dirs.iter().rev() {
            set_mode(path, e.mode);
            set_mtime_dir(path, e.mtime_ns);
        }
        fs::remove_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        Ok(())
    }

    /// The final path of an entry, refusing a symlink or a file on the way.
    fn safe_target(&self, comps: &[&str], path: &str) -> Result<PathBuf> {
        let mut p = self.dest.clone();
        for (i, c) in comps.iter().enumerate() {
            p.push(c);
            if i + 1 == comps.len() {
                break;
            }
            match fs::symlink_metadata(&p) {
                Ok(md) if md.file_type().is_symlink() => {
                    return Err(Error::PathEscape {
                        path: path.to_owned(),
                    })
                }
                Ok(md) if !md.is_dir() => {
                    return Err(Error::invalid(format!(
                        "{} exists and is not a folder",
                        p.display()
                    )))
                }
                Ok(_) => {}
                Err(_) => fs::create_dir(&p).map_err(|e| Error::io(&p, e))?,
            }
        }
        Ok(p)
    }

    /// Removes the staging folder (and the destination, if this restore
    /// created it and it is empty).
    pub(super) fn abort(self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            tracing::warn!(path = %self.dir.display(), error = %e, "could not remove the staging folder");
        }
        if self.created_dest {
            let _ = fs::remove_dir(&self.dest);
        }
    }
}

#[cfg(unix)]
fn make_symlink(link: &str, at: &Path) -> Result<()> {
    std::os::unix::fs::symlink(link, at).map_err(|e| Error::io(at, e))
}

#[cfg(not(unix))]
fn make_symlink(_link: &str, at: &Path) -> Result<()> {
    Err(Error::NotImplemented(format!(
        "restoring symlinks on this platform ({})",
        at.display()
    )))
}

/// Applies a file's mode and time (best effort: a failure is logged).
pub(super) fn set_file_metadata(path: &Path, e: &Entry) {
    if let Some(t) = to_system_time(e.mtime_ns) {
        if let Err(err) = File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(t))
        {
            tracing::warn!(path = %path.display(), error = %err, "could not set the modification time");
        }
    }
    set_mode(path, e.mode);
}

fn set_mtime_dir(path: &Path, mtime_ns: i128) {
    if let Some(t) = to_system_time(mtime_ns) {
        if let Err(err) = File::open(path).and_then(|f| f.set_modified(t)) {
            tracing::debug!(path = %path.display(), error = %err, "could not set a folder's time");
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    #[cfg(unix)]
    if mode != 0 {
        use std::os::unix::fs::PermissionsExt;
        if let Err(err) = fs::set_permissions(path, fs::Permissions::from_mode(mode)) {
            tracing::warn!(path = %path.display(), error = %err, "could not set permissions");
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

fn to_system_time(ns: i128) -> Option<SystemTime> {
    if ns <= 0 {
        return None;
    }
    let ns = u64::try_from(ns).ok()?;
    Some(UNIX_EPOCH + Duration::from_nanos(ns))
}
