//! Helpers shared by the integration tests: a repository of local-folder
//! locations in a temporary folder, a deterministic wedding-folder
//! generator, and tree comparison.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use heirloom::provider::fault::FaultyProvider;
use heirloom::provider::local::LocalDirProvider;
use heirloom::{Engine, EngineConfig, KdfParams, KeySource, Location, StorageProvider};

/// The passphrase the tests use.
pub const PASSPHRASE: &str = "tests: rice and confetti";

/// A repository on `n` local folders under one temporary folder.
pub struct TestRepo {
    /// Holds everything; removed on drop.
    pub dir: tempfile::TempDir,
    /// One folder per location.
    pub locations: Vec<PathBuf>,
}

impl TestRepo {
    /// `n` empty location folders.
    pub fn new(n: usize) -> TestRepo {
        let dir = tempfile::tempdir().expect("tempdir");
        let locations = (0..n)
            .map(|i| dir.path().join(format!("loc{i}")))
            .collect::<Vec<_>>();
        for l in &locations {
            fs::create_dir_all(l).expect("location folder");
        }
        TestRepo { dir, locations }
    }

    /// A path inside the repository's temporary folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Locations over the folders (a removed folder is a location that is down).
    pub fn location_list(&self) -> Vec<Location> {
        self.locations
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let provider: Arc<dyn StorageProvider> = match LocalDirProvider::new(p) {
                    Ok(p) => Arc::new(p),
                    Err(e) => panic!("location {i}: {e}"),
                };
                Location::new(format!("loc{i}"), format!("region-{i}"), provider)
            })
            .collect()
    }

    /// An engine config with cheap key derivation and small packs.
    pub fn config(&self, state: &str) -> EngineConfig {
        let mut cfg = EngineConfig::new(
            self.location_list(),
            self.path(state),
            KeySource::passphrase(PASSPHRASE),
        );
        cfg.kdf = KdfParams::insecure_for_tests();
        cfg.pack_size = 4 * 1024 * 1024;
        cfg
    }

    /// Opens the engine with [`TestRepo::config`].
    pub async fn engine(&self) -> Engine {
        Engine::open(self.config("state"))
            .await
            .expect("open engine")
    }

    /// Takes location `i` away (its folder moved aside), as if deleted.
    pub fn remove_location(&self, i: usize) {
        fs::rename(&self.locations[i], self.path(&format!("gone{i}"))).expect("move location away");
    }

    /// Brings back a location taken away with [`TestRepo::remove_location`].
    pub fn restore_location(&self, i: usize) {
        fs::rename(self.path(&format!("gone{i}")), &self.locations[i]).expect("move location back");
    }

    /// Every shard file of location `i`.
    pub fn shard_files(&self, i: usize) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk_files(&self.locations[i].join("packs"), &mut out);
        out.sort();
        out
    }
}

fn walk_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift), incompressible like media.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

const JPEG_HEAD: &[u8] = b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08";
const MP4_HEAD: &[u8] = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2";

/// A photo-like file: JPEG magic, then random bytes.
pub fn photo(len: usize, seed: u64) -> Vec<u8> {
    let mut d = JPEG_HEAD.to_vec();
    d.extend(bytes(len.saturating_sub(JPEG_HEAD.len()), seed));
    d
}

/// A video-like file: MP4 magic, then random bytes.
pub fn video(len: usize, seed: u64) -> Vec<u8> {
    let mut d = MP4_HEAD.to_vec();
    d.extend(bytes(len.saturating_sub(MP4_HEAD.len()), seed));
    d
}

/// A text document.
pub fn document(lines: usize, seed: u64) -> Vec<u8> {
    (0..lines)
        .map(|i| format!("Guest {seed}-{i}, table {}, menu: vegetarian\n", i % 17))
        .collect::<String>()
        .into_bytes()
}

/// Writes a file, creating its folders, and sets its mtime.
pub fn write_file(root: &Path, rel: &str, data: &[u8], mtime_secs: i64) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(&p, data).expect("write");
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime_secs as u64);
    fs::File::options()
        .write(true)
        .open(&p)
        .and_then(|f| f.set_modified(t))
        .expect("mtime");
}

/// A small wedding: a few photos, a video, documents, an empty file and an
/// empty folder, unicode names. About 12 MiB.
pub fn small_wedding(root: &Path, seed: u64) {
    for i in 0..4 {
        write_file(
            root,
            &format!("photos/ceremony/IMG_{i:04}.jpg"),
            &photo(1_500_000 + i * 100_000, seed + i as u64),
            1_700_000_000 + i as i64,
        );
    }
    write_file(
        root,
        "photos/reception/Première danse 💍.jpg",
        &photo(900_000, seed + 50),
        1_700_000_100,
    );
    write_file(
        root,
        "video/highlights.mp4",
        &video(3_000_000, seed + 60),
        1_700_000_200,
    );
    for i in 0..20 {
        write_file(
            root,
            &format!("documents/guests-{i}.csv"),
            &document(40 + i, seed + 100 + i as u64),
            1_700_000_300,
        );
    }
    write_file(
        root,
        "documents/contract.txt",
        &document(300, seed + 7),
        1_700_000_400,
    );
    write_file(
        root,
        "documents/婚礼/notes.md",
        "# Notes\nFlowers at 3pm.\n".as_bytes(),
        1_700_000_500,
    );
    write_file(root, "empty.txt", b"", 1_700_000_600);
    fs::create_dir_all(root.join("empty-folder/inner")).expect("mkdir");
}

/// Asserts that two trees hold the same files with the same bytes (and,
/// with `mtimes`, the same modification times), and the same folders.
pub fn assert_same_tree(expected: &Path, actual: &Path, mtimes: bool) {
    let a = list_tree(expected);
    let b = list_tree(actual);
    let names_a: Vec<_> = a.iter().map(|(p, _)| p.clone()).collect();
    let names_b: Vec<_> = b.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(names_a, names_b, "the trees hold different entries");
    for (rel, is_dir) in &a {
        if *is_dir {
            continue;
        }
        let (pa, pb) = (expected.join(rel), actual.join(rel));
        let (da, db) = (fs::read(&pa).expect("read"), fs::read(&pb).expect("read"));
        assert!(
            da == db,
            "{rel} differs ({} vs {} bytes)",
            da.len(),
            db.len()
        );
        if mtimes {
            let ma = fs::metadata(&pa).and_then(|m| m.modified()).expect("mtime");
            let mb = fs::metadata(&pb).and_then(|m| m.modified()).expect("mtime");
            assert_eq!(ma, mb, "{rel}: modification time differs");
        }
    }
}

/// Relative paths under `root` (sorted) with whether each is a folder.
pub fn list_tree(root: &Path) -> Vec<(String, bool)> {
    fn go(root: &Path, dir: &Path, out: &mut Vec<(String, bool)>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .expect("prefix")
                .to_string_lossy()
                .replace('\\', "/");
            let is_dir = fs::symlink_metadata(&p)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            out.push((rel, is_dir));
            if is_dir {
                go(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    go(root, root, &mut out);
    out.sort();
    out
}

/// Copies a folder tree (files and folders only).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir").flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::copy(&src, &dst).expect("copy");
        }
    }
}

impl TestRepo {
    /// Saves every location folder under `name`.
    pub fn save_locations(&self, name: &str) {
        for (i, l) in self.locations.iter().enumerate() {
            copy_tree(l, &self.path(&format!("{name}-{i}")));
        }
    }

    /// Puts back the location folders saved under `name`.
    pub fn load_locations(&self, name: &str) {
        for (i, l) in self.locations.iter().enumerate() {
            fs::remove_dir_all(l).expect("remove location");
            copy_tree(&self.path(&format!("{name}-{i}")), l);
        }
    }
}

impl TestRepo {
    /// The locations wrapped in fault injectors, with the wrappers to steer them.
    pub fn faulty_locations(&self) -> (Vec<Arc<FaultyProvider>>, Vec<Location>) {
        let faulty: Vec<Arc<FaultyProvider>> = self
            .location_list()
            .into_iter()
            .map(|l| Arc::new(FaultyProvider::new(l.provider)))
            .collect();
        let locations = faulty
            .iter()
            .enumerate()
            .map(|(i, f)| Location::new(format!("loc{i}"), format!("region-{i}"), f.clone()))
            .collect();
        (faulty, locations)
    }
}
