//! `heirloom.toml`: the configuration file every host can open a repository
//! from (the command line, the bindings, a Rust service).
//!
//! ```toml
//! state_dir = "heirloom-data/state"
//! key_file = "heirloom-data/heirloom.key"   # else HEIRLOOM_PASSPHRASE
//!
//! [[locations]]
//! id = "loc-1"
//! region = "region-1"
//! tier = "hot"
//! provider = "local"
//! path = "heirloom-data/loc-1"
//! ```
//!
//! Relative paths are relative to the folder of the file. Unknown keys and
//! invalid values are errors that name the key and the line
//! ([`Error::Config`]). [`load`] reads a file into an [`EngineConfig`];
//! [`FileConfig`] is the parsed file, and [`init_local`] writes a new
//! repository of local folders with its file.

mod init;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::crypto::KeySource;
use crate::engine::EngineConfig;
use crate::error::{Error, Result};
use crate::placement::{RedundancyProfile, RedundancyProfiles};
use crate::provider::local::LocalDirProvider;
use crate::provider::{Location, Tier};

pub use init::{init_local, LocalInit};

/// The file name hosts look for by default.
pub const DEFAULT_FILE_NAME: &str = "heirloom.toml";

/// The environment variable holding the passphrase when the file names no key file.
pub const PASSPHRASE_ENV: &str = "HEIRLOOM_PASSPHRASE";

/// Reads `path` and builds the engine configuration: locations, state
/// folder, profiles, pack size, and the key (the file's `key_file`, else the
/// passphrase in [`PASSPHRASE_ENV`]).
pub fn load(path: impl AsRef<Path>) -> Result<EngineConfig> {
    let path = path.as_ref();
    let file = FileConfig::read(path)?;
    let base = base_dir(path);
    let key = file.key_source(&base, path)?;
    file.to_engine_config(&base, key)
}

/// The folder relative paths in the file at `path` are resolved against.
pub fn base_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// The passphrase in [`PASSPHRASE_ENV`], when it is set and not empty.
pub fn passphrase_from_env() -> Option<KeySource> {
    std::env::var(PASSPHRASE_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .map(KeySource::passphrase)
}

/// A parsed `heirloom.toml`, paths as written (not yet resolved).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Local state folder (caches; deleting it loses no backup).
    pub state_dir: PathBuf,
    /// A key file (64 hex characters); without it the passphrase comes from
    /// [`PASSPHRASE_ENV`].
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Target pack size in bytes before erasure coding.
    #[serde(default)]
    pub pack_size: Option<usize>,
    /// k+m per priority; each one left out keeps its default.
    #[serde(default)]
    pub profiles: ProfilesConfig,
    /// The locations, one `[[locations]]` table each.
    #[serde(default)]
    pub locations: Locations,
}

/// The `[profiles]` table: `standard`, `high` and `critical`, each
/// `{ data_shards, parity_shards }`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawProfiles")]
pub struct ProfilesConfig(pub RedundancyProfiles);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfiles {
    standard: Option<RawProfile>,
    high: Option<RawProfile>,
    critical: Option<RawProfile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    data_shards: usize,
    parity_shards: usize,
}

impl TryFrom<RawProfiles> for ProfilesConfig {
    type Error = Error;
    fn try_from(raw: RawProfiles) -> Result<Self> {
        let d = RedundancyProfiles::default();
        let pick = |p: Option<RawProfile>, default: RedundancyProfile| {
            p.map_or(default, |p| {
                RedundancyProfile::new(p.data_shards, p.parity_shards)
            })
        };
        let profiles = RedundancyProfiles {
            standard: pick(raw.standard, d.standard),
            high: pick(raw.high, d.high),
            critical: pick(raw.critical, d.critical),
        };
        profiles.validate()?;
        Ok(ProfilesConfig(profiles))
    }
}

/// Every `[[locations]]` table; ids are unique.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(try_from = "Vec<LocationConfig>")]
pub struct Locations(pub Vec<LocationConfig>);

impl TryFrom<Vec<LocationConfig>> for Locations {
    type Error = Error;
    fn try_from(list: Vec<LocationConfig>) -> Result<Self> {
        let mut seen = std::collections::HashSet::new();
        for l in &list {
            if !seen.insert(l.id.as_str()) {
                return Err(Error::invalid(format!(
                    "location id {:?} is used twice",
                    l.id
                )));
            }
        }
        Ok(Locations(list))
    }
}

/// One `[[locations]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawLocation")]
pub struct LocationConfig {
    /// Stable id, unique in the repository.
    pub id: String,
    /// Region, for spreading shards.
    pub region: String,
    /// `hot` or `cold`.
    pub tier: Tier,
    /// The backend and its settings.
    pub provider: ProviderConfig,
}

/// A location's backend.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderConfig {
    /// `provider = "local"`: a folder.
    Local {
        /// The folder (`path`).
        path: PathBuf,
    },
    /// `provider = "s3"`: S3-compatible object storage (`[locations.s3]`).
    S3(S3Table),
}

/// The `[locations.s3]` table of an `s3` location: the S3 provider's own
/// [`S3Config`](crate::provider::s3::S3Config) (snake_case keys, unknown
/// keys refused with their line). Credentials normally come from the
/// environment; see `allow_plaintext_credentials`.
#[cfg(feature = "s3")]
pub type S3Table = crate::provider::s3::S3Config;

/// The `[locations.s3]` table of an `s3` location, kept as written: this
/// build has no S3 provider (the `s3` feature of `heirloom` is off), so the
/// table is not checked and the location does not build.
#[cfg(not(feature = "s3"))]
pub type S3Table = toml::Table;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ProviderKind {
    Local,
    S3,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocation {
    id: String,
    region: String,
    #[serde(default)]
    tier: Tier,
    provider: ProviderKind,
    path: Option<PathBuf>,
    s3: Option<S3Table>,
}

impl TryFrom<RawLocation> for LocationConfig {
    type Error = Error;
    fn try_from(raw: RawLocation) -> Result<Self> {
        let id = raw.id;
        if id.is_empty() {
            return Err(Error::invalid("location id must not be empty"));
        }
        let provider = match (raw.provider, raw.path, raw.s3) {
            (ProviderKind::Local, Some(path), None) => ProviderConfig::Local { path },
            (ProviderKind::Local, None, _) => {
                return Err(Error::invalid(format!(
                    "location {id}: provider \"local\" needs `path`"
                )))
            }
            (ProviderKind::Local, Some(_), Some(_)) => {
                return Err(Error::invalid(format!(
                    "location {id}: provider \"local\" takes no [locations.s3] table"
                )))
            }
            (ProviderKind::S3, None, Some(s3)) => ProviderConfig::S3(s3),
            (ProviderKind::S3, _, None) => {
                return Err(Error::invalid(format!(
                    "location {id}: provider \"s3\" needs a [locations.s3] table with `bucket`"
                )))
            }
            (ProviderKind::S3, Some(_), Some(_)) => {
                return Err(Error::invalid(format!(
                    "location {id}: provider \"s3\" takes no `path`"
                )))
            }
        };
        Ok(LocationConfig {
            id,
            region: raw.region,
            tier: raw.tier,
            provider,
        })
    }
}

impl FileConfig {
    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<FileConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            file: path.to_owned(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        FileConfig::parse(&text, path)
    }

    /// Parses the text of a file; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<FileConfig> {
        let config: FileConfig = toml::from_str(text).map_err(|e| Error::Config {
            file: file.to_owned(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: clean_message(e.message()),
        })?;
        if config.locations.0.is_empty() {
            return Err(Error::Config {
                file: file.to_owned(),
                line: None,
                message: "no [[locations]] table: a repository needs at least one location".into(),
            });
        }
        if config.pack_size.is_some_and(|s| s < 1024) {
            return Err(Error::Config {
                file: file.to_owned(),
                line: text
                    .lines()
                    .position(|l| l.trim_start().starts_with("pack_size"))
                    .map(|i| i + 1),
                message: "pack_size must be at least 1024 bytes".into(),
            });
        }
        Ok(config)
    }

    /// The key named by the file (`key_file`, resolved against `base_dir`),
    /// else the passphrase in [`PASSPHRASE_ENV`]; `file` names the file in errors.
    pub fn key_source(&self, base_dir: &Path, file: &Path) -> Result<KeySource> {
        if let Some(k) = &self.key_file {
            let path = base_dir.join(k);
            if !path.is_file() {
                return Err(Error::Config {
                    file: file.to_owned(),
                    line: None,
                    message: format!("key_file {} does not exist", path.display()),
                });
            }
            return Ok(KeySource::KeyFile(path));
        }
        passphrase_from_env().ok_or_else(|| Error::Config {
            file: file.to_owned(),
            line: None,
            message: format!("no key: the file names no key_file and {PASSPHRASE_ENV} is not set"),
        })
    }

    /// The engine configuration, with relative paths resolved against
    /// `base_dir`. Local folders are never created here: a missing one is a
    /// location that is down.
    pub fn to_engine_config(&self, base_dir: &Path, key: KeySource) -> Result<EngineConfig> {
        let locations = self
            .locations
            .0
            .iter()
            .map(|l| l.to_location(base_dir))
            .collect::<Result<Vec<_>>>()?;
        let mut config = EngineConfig::new(locations, base_dir.join(&self.state_dir), key);
        config.profiles = self.profiles.0;
        if let Some(size) = self.pack_size {
            config.pack_size = size;
        }
        Ok(config)
    }
}

impl LocationConfig {
    /// The location, with a relative `path` resolved against `base_dir`.
    pub fn to_location(&self, base_dir: &Path) -> Result<Location> {
        let provider: Arc<dyn crate::StorageProvider> = match &self.provider {
            ProviderConfig::Local { path } => {
                Arc::new(LocalDirProvider::existing(base_dir.join(path)))
            }
            #[cfg(feature = "s3")]
            ProviderConfig::S3(s3) => Arc::new(
                crate::provider::s3::S3Provider::new(s3.clone())
                    .map_err(|e| Error::storage(&self.id, e))?,
            ),
            #[cfg(not(feature = "s3"))]
            ProviderConfig::S3(_) => {
                return Err(Error::NotImplemented(format!(
                    "s3 locations: location {} needs the S3 provider; this build of heirloom lacks its `s3` feature",
                    self.id
                )))
            }
        };
        Ok(Location::new(&self.id, &self.region, provider).with_tier(self.tier))
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// toml's messages end with a newline and quote with backticks; one line, single quotes.
fn clean_message(m: &str) -> String {
    let m = m.trim().replace('`', "'");
    m.strip_prefix("invalid request: ").unwrap_or(&m).to_owned()
}

#[cfg(test)]
mod tests;
