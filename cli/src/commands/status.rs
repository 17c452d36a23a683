//! `heirloom status`: the status counters and the health report.

use std::fmt::Write;
use std::path::Path;

use heirloom::api::{BackupSystemStatus, HealthReport};
use serde::Serialize;

use crate::errors::CliError;
use crate::output::{bytes, Output};

#[derive(Serialize)]
struct Status {
    status: BackupSystemStatus,
    health: HealthReport,
}

pub async fn run(config: &Path, out: &Output) -> Result<(), CliError> {
    let engine = super::open_engine(config).await?;
    let value = Status {
        status: engine.status().await?,
        health: engine.health().await?,
    };
    out.result(&value, || human(&value))
}

fn human(v: &Status) -> String {
    let (st, h) = (&v.status, &v.health);
    let down = h.locations.iter().filter(|l| l.down).count();
    let mut s = format!(
        "health: {}/100 ({}), recovery {}\n",
        h.score, h.level, h.recovery_capability
    );
    let _ = writeln!(
        s,
        "locations: {} of {} healthy, {} down",
        st.healthy_locations, st.total_locations, down
    );
    let _ = writeln!(
        s,
        "backups: {} active, {} queued, {} failed (24 h); last {}",
        st.active_backups,
        st.queued_backups,
        st.failed_backups,
        st.last_backup_completion.map_or_else(
            || "never".into(),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
        )
    );
    let _ = writeln!(
        s,
        "storage used: {}; critical weddings protected: {} of {}",
        bytes(st.total_storage_used),
        st.critical_weddings_protected,
        st.critical_weddings
    );
    for c in &h.checks {
        let _ = writeln!(
            s,
            "  {:<13} {:>3}/100  {:<8}  {}",
            c.name, c.score, c.level, c.detail
        );
    }
    for l in &h.locations {
        let state = if l.down {
            "down"
        } else if l.degraded {
            "degraded"
        } else {
            "up"
        };
        let _ = writeln!(
            s,
            "  {:<12} {:<12} {:<8} {} shards",
            l.id, l.region, state, l.shards
        );
    }
    s
}
