//! Shared helpers for the benchmarks: datasets from the shared wedding
//! generator, local-folder locations, folder sizes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use heirloom::provider::local::LocalDirProvider;
use heirloom::{Location, StorageProvider};

/// The shared dataset generator, found from this crate's folder.
pub fn generator() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/gen_wedding.py")
}

/// Makes a wedding folder of `size` (e.g. "2G") at `out` with the shared
/// generator, unless one is already there.
pub fn wedding_folder(size: &str, seed: u64, out: &Path) -> std::io::Result<()> {
    if out.join("photos").exists() {
        return Ok(());
    }
    let status = Command::new("python3")
        .arg(generator())
        .args(["--size", size, "--seed", &seed.to_string(), "--out"])
        .arg(out)
        .status()?;
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "gen_wedding.py failed: {status}"
        )));
    }
    Ok(())
}

/// `n` local-folder providers under `dir` (created).
pub fn local_providers(dir: &Path, n: usize) -> Vec<Arc<dyn StorageProvider>> {
    (0..n)
        .map(|i| {
            let p = LocalDirProvider::new(dir.join(format!("loc{i}")))
                .unwrap_or_else(|e| panic!("location {i}: {e}"));
            Arc::new(p) as Arc<dyn StorageProvider>
        })
        .collect()
}

/// Locations over providers, one region each.
pub fn locations(providers: &[Arc<dyn StorageProvider>]) -> Vec<Location> {
    providers
        .iter()
        .enumerate()
        .map(|(i, p)| Location::new(format!("loc{i}"), format!("region-{i}"), p.clone()))
        .collect()
}

/// Total size of the files under `dir`.
pub fn folder_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                folder_bytes(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

/// Drops the page cache (root only); false when it could not.
pub fn drop_caches() -> bool {
    Command::new("sh")
        .args(["-c", "sync; echo 3 > /proc/sys/vm/drop_caches"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
