//! Writing `heirloom.toml`: the commented rendering of a [`FileConfig`] and
//! [`init_local`], a new repository of local folders.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{
    base_dir, FileConfig, LocationConfig, Locations, ProfilesConfig, ProviderConfig, PASSPHRASE_ENV,
};
use crate::crypto::KeySource;
use crate::error::{Error, Result};
use crate::pack::DEFAULT_PACK_SIZE;
use crate::provider::Tier;
use crate::Context;

/// What [`init_local`] created (paths as given, joined).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalInit {
    /// The configuration file written.
    pub config_file: PathBuf,
    /// One folder per location.
    pub location_dirs: Vec<PathBuf>,
    /// The state folder.
    pub state_dir: PathBuf,
    /// The key file generated, when no passphrase is used.
    pub key_file: Option<PathBuf>,
}

/// Creates `locations` local location folders `loc-1..N` (regions
/// `region-1..N`) and a state folder under `data_dir`, a key file
/// `data_dir/heirloom.key` (mode 0600) when `generate_key_file` is set, and
/// writes `config_file` naming them (paths relative to its folder when they
/// are inside it). Never overwrites: an existing configuration file, key
/// file or non-empty location folder is an error, checked before anything
/// is created. Opening an [`crate::Engine`] on the result creates the
/// repository.
pub fn init_local(
    config_file: &Path,
    data_dir: &Path,
    locations: usize,
    generate_key_file: bool,
    ctx: &Context,
) -> Result<LocalInit> {
    if !(1..=255).contains(&locations) {
        return Err(Error::invalid(format!(
            "a repository has 1 to 255 locations, not {locations}"
        )));
    }
    if config_file.exists() {
        return Err(Error::Config {
            file: config_file.to_owned(),
            line: None,
            message: "already exists; init never overwrites a configuration".into(),
        });
    }
    let dirs: Vec<PathBuf> = (1..=locations)
        .map(|i| data_dir.join(format!("loc-{i}")))
        .collect();
    for d in &dirs {
        let used = std::fs::read_dir(d).is_ok_and(|mut entries| entries.next().is_some());
        if used || d.is_file() {
            return Err(Error::invalid(format!(
                "{} already exists and is not an empty folder",
                d.display()
            )));
        }
    }
    let key_path = data_dir.join("heirloom.key");
    if generate_key_file && key_path.exists() {
        return Err(Error::invalid(format!(
            "{} already exists; init never overwrites a key file",
            key_path.display()
        )));
    }
    let state_dir = data_dir.join("state");
    for d in dirs.iter().chain([&state_dir]) {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let key_file = if generate_key_file {
        KeySource::generate_key_file(&key_path, ctx).map_err(|e| Error::io(&key_path, e))?;
        Some(key_path)
    } else {
        None
    };

    let base = base_dir(config_file);
    let rel = |p: &Path| relative_to(p, &base);
    let file = FileConfig {
        state_dir: rel(&state_dir),
        key_file: key_file.as_deref().map(rel),
        pack_size: None,
        profiles: ProfilesConfig::default(),
        locations: Locations(
            dirs.iter()
                .enumerate()
                .map(|(i, d)| LocationConfig {
                    id: format!("loc-{}", i + 1),
                    region: format!("region-{}", i + 1),
                    tier: Tier::Hot,
                    provider: ProviderConfig::Local { path: rel(d) },
                })
                .collect(),
        ),
    };
    let text = file.to_toml()?;
    write_new(config_file, &text)?;
    Ok(LocalInit {
        config_file: config_file.to_owned(),
        location_dirs: dirs,
        state_dir,
        key_file,
    })
}

fn write_new(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// `path` relative to `base` when it is inside it, else absolute.
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let (p, b) = (abs(path), abs(base));
    match p.strip_prefix(&b) {
        Ok(r) if !r.as_os_str().is_empty() => r.to_owned(),
        _ => p,
    }
}

/// A TOML string literal.
fn quote(s: &str) -> String {
    toml::Value::from(s).to_string()
}

fn quote_path(p: &Path) -> Result<String> {
    p.to_str()
        .map(quote)
        .ok_or_else(|| Error::invalid(format!("path {} is not UTF-8", p.display())))
}

impl FileConfig {
    /// The file as TOML, with comments explaining each key; parses back to
    /// the same value.
    pub fn to_toml(&self) -> Result<String> {
        let mut out = String::new();
        let w = &mut out;
        // Writing to a String cannot fail.
        let _ = writeln!(
            w,
            "# heirloom.toml: where the backups of this repository live."
        );
        let _ = writeln!(w, "# Relative paths are relative to this file's folder.\n");
        let _ = writeln!(w, "# Local state: caches. Deleting it loses no backup.");
        let _ = writeln!(w, "state_dir = {}\n", quote_path(&self.state_dir)?);
        match &self.key_file {
            Some(k) => {
                let _ = writeln!(
                    w,
                    "# The key that opens the repository. Keep a copy somewhere safe:\n\
                     # without it no backup can be read. Without key_file, the passphrase\n\
                     # comes from the {PASSPHRASE_ENV} environment variable."
                );
                let _ = writeln!(w, "key_file = {}\n", quote_path(k)?);
            }
            None => {
                let _ = writeln!(
                    w,
                    "# The passphrase comes from the {PASSPHRASE_ENV} environment variable.\n\
                     # key_file = \"heirloom.key\"   # or a key file (64 hex characters)\n"
                );
            }
        }
        let _ = writeln!(w, "# Target pack size in bytes, before erasure coding.");
        match self.pack_size {
            Some(s) => {
                let _ = writeln!(w, "pack_size = {s}\n");
            }
            None => {
                let _ = writeln!(w, "# pack_size = {DEFAULT_PACK_SIZE}\n");
            }
        }
        let _ = writeln!(
            w,
            "# k data + m parity shards per pack, one per location: any m locations may be lost."
        );
        let p = self.profiles.0;
        let commented = if self.profiles == ProfilesConfig::default() {
            "# "
        } else {
            ""
        };
        let _ = writeln!(w, "{commented}[profiles]");
        for (name, prof) in [
            ("standard", p.standard),
            ("high", p.high),
            ("critical", p.critical),
        ] {
            let _ = writeln!(
                w,
                "{commented}{name} = {{ data_shards = {}, parity_shards = {} }}",
                prof.data_shards, prof.parity_shards
            );
        }
        for l in &self.locations.0 {
            let tier = match l.tier {
                Tier::Hot => "hot",
                Tier::Cold => "cold",
            };
            let _ = writeln!(w, "\n[[locations]]");
            let _ = writeln!(w, "id = {}", quote(&l.id));
            let _ = writeln!(w, "region = {}", quote(&l.region));
            let _ = writeln!(w, "tier = \"{tier}\"");
            match &l.provider {
                ProviderConfig::Local { path } => {
                    let _ = writeln!(w, "provider = \"local\"");
                    let _ = writeln!(w, "path = {}", quote_path(path)?);
                }
                ProviderConfig::S3(s) => {
                    let _ = writeln!(w, "provider = \"s3\"");
                    let _ = writeln!(w, "[locations.s3]");
                    let table = toml::to_string(s).map_err(|e| {
                        Error::invalid(format!(
                            "location {}: cannot render [locations.s3]: {e}",
                            l.id
                        ))
                    })?;
                    let _ = write!(w, "{table}");
                }
            }
        }
        let _ = writeln!(
            w,
            "\n# An S3-compatible location (credentials from the standard AWS sources, never this file):\n\
             # [[locations]]\n\
             # id = \"offsite-1\"\n\
             # region = \"eu-central\"\n\
             # tier = \"cold\"\n\
             # provider = \"s3\"\n\
             # [locations.s3]\n\
             # bucket = \"wedding-backups\"\n\
             # endpoint = \"https://s3.eu-central-1.amazonaws.com\"\n\
             # prefix = \"heirloom/\"\n\
             # path_style = false\n\
             # region = \"eu-central-1\""
        );
        Ok(out)
    }
}
