//! `heirloom init [--locations N] [--data DIR]`.

use std::path::Path;

use heirloom::config::{init_local, passphrase_from_env, LocalInit, PASSPHRASE_ENV};
use heirloom::{Context, Error};
use serde::Serialize;

use crate::errors::CliError;
use crate::output::Output;

/// What init did, as JSON.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InitResult {
    #[serde(flatten)]
    created: LocalInit,
    repository_id: String,
}

pub async fn run(
    config: &Path,
    data: &Path,
    locations: usize,
    out: &Output,
) -> Result<(), CliError> {
    let use_passphrase = passphrase_from_env().is_some();
    let created = init_local(
        config,
        data,
        locations,
        !use_passphrase,
        &Context::default(),
    )
    .map_err(|e| match e {
        Error::Config { .. } => CliError::from(e).with_hint(format!(
            "remove {} first, or write another file with --config FILE",
            config.display()
        )),
        e => e.into(),
    })?;
    let engine = super::open_engine(config).await?;
    let result = InitResult {
        created,
        repository_id: engine.repository_id().to_owned(),
    };
    out.result(&result, || {
        let c = &result.created;
        let mut s = format!(
            "created repository {} on {} local location(s):\n",
            result.repository_id,
            c.location_dirs.len()
        );
        for d in &c.location_dirs {
            s += &format!("  {}\n", d.display());
        }
        s += &format!("state folder  {}\n", c.state_dir.display());
        match &c.key_file {
            Some(k) => {
                s += &format!(
                    "key file      {} (mode 0600) — keep a copy somewhere safe: without it no backup can be read\n",
                    k.display()
                )
            }
            None => s += &format!("key           the passphrase in {PASSPHRASE_ENV}\n"),
        }
        s += &format!("wrote {}\n", c.config_file.display());
        s
    })
}
