//! `heirloom`: the operator command line, thin over the `heirloom` crate.
//!
//! Parsing and dispatch live here; each command is one file in `commands/`,
//! human and JSON output in `output.rs`, progress bars in `progress.rs`, and
//! the mapping of errors to exit codes and hints in `errors.rs`.

mod commands;
mod errors;
mod output;
mod progress;
mod sample;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use heirloom::api::{BackupType, EncryptionLevel, Priority, Retention, Urgency};

use errors::CliError;
use output::Output;

/// A value parser for one of the contract's string enums: the possible
/// values come from core's `ALL` and parsing is core's `FromStr`.
macro_rules! contract {
    ($t:ty) => {
        PossibleValuesParser::new(<$t>::ALL.iter().map(|v| v.as_str())).try_map(|s| s.parse::<$t>())
    };
}

/// Backups of wedding photos, videos and documents, erasure-coded across
/// several storage locations.
#[derive(Parser)]
#[command(name = "heirloom", version, propagate_version = true)]
struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        env = "HEIRLOOM_CONFIG",
        default_value = heirloom::config::DEFAULT_FILE_NAME,
        value_name = "FILE"
    )]
    config: PathBuf,
    /// Print one JSON document on stdout (the API result) and nothing else.
    #[arg(long, global = true)]
    json: bool,
    /// Only errors on stderr; no progress.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write ./heirloom.toml and N local location folders, and create the repository.
    Init(InitArgs),
    /// Back up a wedding's folder.
    Backup(BackupArgs),
    /// List snapshots, of one wedding or of all.
    Snapshots {
        /// Only this wedding.
        wedding_id: Option<String>,
    },
    /// Restore a wedding into a folder.
    Recover(RecoverArgs),
    /// Repository and location health: the health score and its checks,
    /// locations up and down, backup counters.
    Status,
    /// Check stored data (every pack, every location, all metadata).
    ///
    /// Quick by default: from one listing per location, every shard exists
    /// with its recorded size. Exits 0 when clean and 1 when anything is
    /// found, except strays (shards no index names yet, e.g. a running
    /// backup's), which are listed but informational.
    Verify {
        /// Read and hash every shard instead of checking that it exists,
        /// and decode a sample of packs (finds bit rot).
        #[arg(long)]
        deep: bool,
    },
    /// Rebuild missing or corrupt shards and metadata copies.
    ///
    /// Runs a deep verify, plans the repair and executes it. Exits 0 when
    /// everything found was fixed, 1 when something is unfixable (fewer
    /// than k good shards) or a step failed.
    Repair,
    /// Forget snapshots past their retention and delete data nothing uses.
    ///
    /// Two-phase: unreferenced packs are marked now and deleted by a later
    /// prune once their 48 h grace has passed. Never runs on Saturdays
    /// (exit 1).
    Prune {
        /// Print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The quick start: sample wedding, backup, lose 2 locations, recover, verify.
    Demo(DemoArgs),
}

#[derive(Args)]
struct InitArgs {
    /// Number of local location folders.
    #[arg(long, default_value_t = 5, value_name = "N")]
    locations: usize,
    /// Folder for the locations, the state and the key file.
    #[arg(long, default_value = "heirloom-data", value_name = "DIR")]
    data: PathBuf,
}

#[derive(Args)]
struct BackupArgs {
    /// The wedding.
    wedding_id: String,
    /// The folder to back up.
    dir: PathBuf,
    /// What to read [default: incremental].
    #[arg(long = "type", value_name = "TYPE", value_parser = contract!(BackupType))]
    backup_type: Option<BackupType>,
    /// Picks the redundancy profile [default: standard].
    #[arg(long, value_parser = contract!(Priority))]
    priority: Option<Priority>,
    /// Total shards per pack (distinct locations); parity stays the profile's.
    #[arg(long, value_name = "N")]
    locations: Option<usize>,
    /// Keep rules [default: standard].
    #[arg(long, value_parser = contract!(Retention))]
    retention: Option<Retention>,
    /// Encryption level [default: standard].
    #[arg(long, value_parser = contract!(EncryptionLevel))]
    encryption: Option<EncryptionLevel>,
}

#[derive(Args)]
struct RecoverArgs {
    /// The wedding.
    wedding_id: String,
    /// The folder to restore into (created if missing).
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Restore the newest snapshot at or before this time (RFC 3339).
    #[arg(long, value_name = "RFC3339-TIME", value_parser = parse_time)]
    at: Option<chrono::DateTime<chrono::Utc>>,
    /// Only files classified (by content) as photos or documents.
    #[arg(long, value_enum, conflicts_with = "items")]
    only: Option<Only>,
    /// A file or folder of the snapshot to restore; repeat for more.
    #[arg(long = "item", value_name = "PATH")]
    items: Vec<String>,
    /// How hard to push the locations [default: standard].
    #[arg(long, value_parser = contract!(Urgency))]
    urgency: Option<Urgency>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Only {
    Photos,
    Documents,
}

#[derive(Args)]
struct DemoArgs {
    /// Work in this folder (kept afterwards) instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("{e} (expected RFC 3339, e.g. 2026-06-13T18:00:00Z)"))
}

fn init_tracing(quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(progress::LogWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
}

/// glibc's malloc, tuned per command. Set before any thread starts; the
/// binary owns the allocator, the library does not.
///
/// - `backup`: glibc raises its mmap threshold each time a large block is
///   freed, after which multi-MiB buffers come from per-thread arenas that
///   keep freed pages (a 3 GB backup sat at 89 MiB RSS with about 55 MiB
///   live). The backup pipeline reuses its big buffers, so a fixed 256 KiB
///   threshold maps and unmaps only the few transient ones, and the peak
///   fell to the passphrase KDF's 77 MiB.
/// - `recover`, `verify`, `repair`: these read packs, and a restore still
///   allocates each shard, pack and chunk buffer afresh (a pool is the
///   follow-up). Under glibc's defaults the heap is trimmed and regrown and
///   large blocks are mapped and unmapped, so every buffer is faulted in and
///   zeroed page by page: half of a 3 GB restore's system time. With large
///   blocks kept in the heap (mmap threshold 32 MiB, glibc's documented
///   maximum) and no trimming below 256 MiB, that restore went from 6.1–6.7 s
///   to 5.2 s, for 500 MiB of RSS instead of 390.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator(command: &Command) {
    const MIB: libc::c_int = 1024 * 1024;
    let (mmap_threshold, trim_threshold) = match command {
        Command::Backup(_) => (256 * 1024, None),
        Command::Recover(_) | Command::Verify { .. } | Command::Repair => {
            (32 * MIB, Some(256 * MIB))
        }
        _ => return,
    };
    // SAFETY: mallopt only sets allocator parameters; it is called before
    // any other thread exists. It returns 0 if a value is refused, which
    // leaves that parameter as it was. The trim threshold is set only if the
    // mmap threshold was taken: setting either one alone turns off glibc's
    // adaptive mmap threshold, the worst of both for a restore.
    unsafe {
        if libc::mallopt(libc::M_MMAP_THRESHOLD, mmap_threshold) == 1 {
            if let Some(t) = trim_threshold {
                libc::mallopt(libc::M_TRIM_THRESHOLD, t);
            }
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator(_: &Command) {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tune_allocator(&cli.command);
    init_tracing(cli.quiet, cli.verbose);
    let out = Output::new(cli.json, cli.quiet);
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the runtime: {e}")))
        .and_then(|rt| rt.block_on(run(cli.command, &cli.config, &out)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            e.report();
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(command: Command, config: &std::path::Path, out: &Output) -> Result<(), CliError> {
    use commands::*;
    match command {
        Command::Init(a) => init::run(config, &a.data, a.locations, out).await,
        Command::Backup(a) => backup::run(config, a, out).await,
        Command::Snapshots { wedding_id } => snapshots::run(config, wedding_id, out).await,
        Command::Recover(a) => recover::run(config, a, out).await,
        Command::Status => status::run(config, out).await,
        Command::Verify { deep } => verify::run(config, deep, out).await,
        Command::Repair => repair::run(config, out).await,
        Command::Prune { dry_run } => prune::run(config, dry_run, out).await,
        Command::Demo(a) => demo::run(a.dir, out).await,
    }
}
