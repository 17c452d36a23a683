//! `heirloom backup <WEDDING_ID> <DIR>`.

use std::path::Path;

use heirloom::api::{BackupResult, WeddingBackupRequest};

use crate::errors::CliError;
use crate::output::{bytes, rate, secs, short, Output};
use crate::progress::ProgressView;
use crate::BackupArgs;

pub async fn run(config: &Path, args: BackupArgs, out: &Output) -> Result<(), CliError> {
    let engine = super::open_engine(config).await?;
    let mut req = WeddingBackupRequest::directory(args.wedding_id, args.dir);
    if let Some(t) = args.backup_type {
        req.backup_type = t;
    }
    if let Some(p) = args.priority {
        req.priority = p;
    }
    if let Some(r) = args.retention {
        req.retention = r;
    }
    if let Some(e) = args.encryption {
        req.encryption = e;
    }
    req.locations = args.locations;
    let view = ProgressView::start(out, "backup");
    let result = engine.create_backup_with_progress(req, view.sink()).await;
    view.finish();
    let result = result?;
    out.result(&result, || summary(&result))
}

/// The human summary of a backup.
pub fn summary(r: &BackupResult) -> String {
    let s = &r.stats;
    format!(
        "backup {id} of wedding {w} {status} in {t}\n\
         \x20 files       {files} ({read} read, {unchanged} unchanged, {skipped} skipped)\n\
         \x20 bytes       {br} read, {bn} new, {bs} stored\n\
         \x20 dedup       {dedup}\n\
         \x20 redundancy  {k}+{m} ({priority}), survives the loss of {m} location(s)\n\
         \x20 locations   {locs}\n\
         \x20 speed       {speed}\n",
        id = short(&r.backup_id),
        w = r.wedding_id,
        status = r.status,
        t = secs(r.duration_ms),
        files = s.files_total,
        read = s.files_read,
        unchanged = s.files_unchanged,
        skipped = s.files_skipped,
        br = bytes(s.bytes_read),
        bn = bytes(s.bytes_new),
        bs = bytes(s.bytes_stored),
        dedup = if s.bytes_new == 0 {
            "nothing new".to_owned()
        } else {
            format!("{:.2}x", r.dedup_ratio)
        },
        k = r.data_shards,
        m = r.parity_shards,
        priority = r.priority,
        locs = if r.locations_used.is_empty() {
            "none (no new data)".to_owned()
        } else {
            r.locations_used.join(", ")
        },
        speed = rate(s.bytes_read, r.duration_ms),
    )
}
