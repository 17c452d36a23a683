//! `heirloom recover <WEDDING_ID> --to DIR`.

use std::path::Path;

use heirloom::api::{DataType, EmergencyRecoveryRequest, RecoveryResult};

use crate::errors::CliError;
use crate::output::{bytes, rate, secs, short, Output};
use crate::progress::ProgressView;
use crate::{Only, RecoverArgs};

pub async fn run(config: &Path, args: RecoverArgs, out: &Output) -> Result<(), CliError> {
    let engine = super::open_engine(config).await?;
    let mut req = EmergencyRecoveryRequest::to_folder(args.wedding_id, args.to);
    req.target_timestamp = args.at;
    if let Some(u) = args.urgency {
        req.urgency = u;
    }
    req.data_type = match args.only {
        Some(Only::Photos) => DataType::PhotosOnly,
        Some(Only::Documents) => DataType::DocumentsOnly,
        None if !args.items.is_empty() => DataType::SpecificItems,
        None => DataType::CompleteWedding,
    };
    req.items = args.items;
    let view = ProgressView::start(out, "recover");
    let result = engine.recover_with_progress(req, view.sink()).await;
    view.finish();
    let result = result?;
    out.result(&result, || summary(&result))
}

/// The human summary of a recovery.
pub fn summary(r: &RecoveryResult) -> String {
    format!(
        "recovered wedding {w} into {dest} in {t}\n\
         \x20 snapshot    {id} of {time} ({data})\n\
         \x20 files       {files} files, {size}, {verified} checked against their digest\n\
         \x20 read from   {locs} ({packs} packs, urgency {urgency})\n\
         \x20 repaired    {rebuilt} of {packs} packs rebuilt from parity on the fly, {bad} bad shard(s) met\n\
         \x20 speed       {speed}\n",
        w = r.wedding_id,
        dest = r.destination.display(),
        t = secs(r.duration_ms),
        id = short(&r.snapshot_id),
        time = r.snapshot_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        data = r.data_type,
        files = r.recovered_files,
        size = bytes(r.recovered_bytes),
        verified = r.files_verified,
        locs = if r.locations_read.is_empty() {
            "no location".to_owned()
        } else {
            r.locations_read.join(", ")
        },
        packs = r.packs_read,
        urgency = r.urgency,
        bad = r.bad_shards.len(),
        rebuilt = r.packs_reconstructed,
        speed = rate(r.recovered_bytes, r.duration_ms),
    )
}
