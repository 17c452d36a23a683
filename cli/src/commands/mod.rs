//! One file per command; each converts arguments into a core request,
//! calls the engine and prints its result.

pub mod backup;
pub mod demo;
pub mod init;
pub mod prune;
pub mod recover;
pub mod repair;
pub mod snapshots;
pub mod status;
pub mod verify;

use std::path::Path;

use heirloom::config::{base_dir, FileConfig, PASSPHRASE_ENV};
use heirloom::Engine;

use crate::errors::CliError;

/// Loads the configuration file and opens the repository it names.
pub async fn open_engine(config: &Path) -> Result<Engine, CliError> {
    let file = FileConfig::read(config).map_err(|e| {
        let e = CliError::from(e);
        if config.exists() {
            e
        } else {
            e.with_hint(
                "run `heirloom init` to create one here, or name another with --config / HEIRLOOM_CONFIG",
            )
        }
    })?;
    let base = base_dir(config);
    let key = file.key_source(&base, config).map_err(|e| {
        CliError::from(e).with_hint(format!(
            "export {PASSPHRASE_ENV}=..., or add key_file = \"path/to/heirloom.key\" to {}",
            config.display()
        ))
    })?;
    let engine_config = file.to_engine_config(&base, key)?;
    Ok(Engine::open(engine_config).await?)
}
