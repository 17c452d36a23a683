//! The engine's public error: one category per thing a caller can act on.

use std::path::PathBuf;

use crate::provider::ProviderError;

/// Result of an engine operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an engine operation failed. Messages name the wedding, location and
/// object involved, and never a key or passphrase.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is malformed or asks for something impossible.
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// The passphrase, key file or key provider does not open this repository.
    #[error("wrong key: {0}")]
    WrongKey(String),

    /// `government_grade` encryption was asked for without a host key provider.
    #[error(
        "government_grade encryption needs a KeyProvider supplied by the host; none is configured"
    )]
    KeyProviderRequired,

    /// A wedding, snapshot or object that does not exist.
    #[error("not found: {0}")]
    NotFound(String),

    /// Fewer distinct healthy locations than the redundancy profile needs.
    #[error(
        "wedding {wedding}: needs {needed} distinct healthy locations, only {available} available"
    )]
    InsufficientLocations {
        /// The wedding the request was for.
        wedding: String,
        /// Locations the profile or request needs.
        needed: usize,
        /// Healthy locations there are.
        available: usize,
    },

    /// Stored data failed an integrity check (hash, header, authentication tag).
    #[error("corrupt {object} at location {location}: {detail}")]
    Corrupt {
        /// Location id, or `-` when not tied to one.
        location: String,
        /// Object key or description.
        object: String,
        /// What was wrong.
        detail: String,
    },

    /// A storage location failed.
    #[error("location {location}: {source}")]
    Storage {
        /// Location id.
        location: String,
        /// What the provider said.
        #[source]
        source: ProviderError,
    },

    /// Data that cannot be rebuilt: too many shards lost.
    #[error("wedding {wedding}: cannot recover: {detail}")]
    Unrecoverable {
        /// The wedding affected.
        wedding: String,
        /// What is missing.
        detail: String,
    },

    /// A manifest path that would leave the restore folder.
    #[error("refused path {path:?}: it would escape the restore folder")]
    PathEscape {
        /// The offending path, as stored.
        path: String,
    },

    /// Local file system error on a source or destination path.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },

    /// A configuration file (`heirloom.toml`) that cannot be read or is
    /// invalid, or a key source that is missing. Never holds a secret.
    #[error("{}", config_message(file, *line, message))]
    Config {
        /// The file, as it was named.
        file: PathBuf,
        /// 1-based line the problem is on, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },

    /// The option exists in the contract but this build does not implement it.
    #[error("not implemented: {0}")]
    NotImplemented(String),

    /// The operation was cancelled (maintenance yielding to critical work,
    /// or shutdown) before it finished.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// Maintenance (prune, archival migration) refused: a Saturday, a
    /// wedding day or another blocked day, by the maintenance window.
    #[error("maintenance blocked: {reason}")]
    MaintenanceBlocked {
        /// Why, e.g. "Saturday 2025-06-14 (UTC+00:00)".
        reason: String,
    },

    /// A failure inside the engine that should not happen (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

fn config_message(file: &std::path::Path, line: Option<usize>, message: &str) -> String {
    match line {
        Some(line) => format!("{} line {line}: {message}", file.display()),
        None => format!("{}: {message}", file.display()),
    }
}

impl Error {
    /// True when retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Storage { source, .. } => source.is_transient(),
            _ => false,
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidRequest(msg.into())
    }

    pub(crate) fn storage(location: &str, source: ProviderError) -> Self {
        Error::Storage {
            location: location.to_owned(),
            source,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(
        location: impl Into<String>,
        object: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Error::Corrupt {
            location: location.into(),
            object: object.into(),
            detail: detail.into(),
        }
    }
}
