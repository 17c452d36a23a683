//! `heirloom snapshots [WEDDING_ID]`.

use std::fmt::Write;
use std::path::Path;

use crate::errors::CliError;
use crate::output::{bytes, short, Output};

pub async fn run(config: &Path, wedding: Option<String>, out: &Output) -> Result<(), CliError> {
    let engine = super::open_engine(config).await?;
    let list = engine.snapshots(wedding.as_deref()).await?;
    out.result(&list, || {
        if list.is_empty() {
            return match &wedding {
                Some(w) => format!("no snapshots of wedding {w}\n"),
                None => "no snapshots yet\n".into(),
            };
        }
        let mut s = format!(
            "{:<12}  {:<24}  {:<20}  {:<13}  {:<18}  {:>6}  {:>6}  {:>10}\n",
            "ID", "WEDDING", "TIME (UTC)", "TYPE", "PRIORITY", "SHARDS", "FILES", "SIZE"
        );
        for i in &list {
            let _ = writeln!(
                s,
                "{:<12}  {:<24}  {:<20}  {:<13}  {:<18}  {:>6}  {:>6}  {:>10}",
                short(&i.id),
                i.wedding_id,
                i.time.format("%Y-%m-%d %H:%M:%S"),
                i.backup_type,
                i.priority,
                format!("{}+{}", i.data_shards, i.parity_shards),
                i.files,
                bytes(i.bytes)
            );
        }
        s
    })
}
