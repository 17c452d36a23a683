//! Errors of the command line: exit codes and hints, in one place.
//!
//! Exit codes: 0 success, 1 the operation failed, 2 usage or configuration
//! (clap's own usage errors exit 2 as well). Engine errors map by category.

use std::fmt;

use heirloom::Error;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The engine said no; `hint` replaces the category's hint when set.
    Engine { error: Error, hint: Option<String> },
    /// The operation failed (exit 1).
    Failed {
        message: String,
        hint: Option<String>,
    },
}

impl From<Error> for CliError {
    fn from(error: Error) -> Self {
        CliError::Engine { error, hint: None }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Engine { error, .. } => write!(f, "{error}"),
            CliError::Failed { message, .. } => f.write_str(message),
        }
    }
}

impl CliError {
    /// A failure of the operation, without a hint.
    pub fn failed(message: impl Into<String>) -> Self {
        CliError::Failed {
            message: message.into(),
            hint: None,
        }
    }

    /// The same engine error with a more specific hint.
    pub fn with_hint(self, hint: impl Into<String>) -> Self {
        match self {
            CliError::Engine { error, .. } => CliError::Engine {
                error,
                hint: Some(hint.into()),
            },
            other => other,
        }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Failed { .. } => 1,
            CliError::Engine { error, .. } => match error {
                Error::Config { .. }
                | Error::InvalidRequest(_)
                | Error::WrongKey(_)
                | Error::KeyProviderRequired => 2,
                _ => 1,
            },
        }
    }

    fn hint(&self) -> Option<String> {
        let h = match self {
            CliError::Failed { hint, .. } => return hint.clone(),
            CliError::Engine { hint: Some(h), .. } => return Some(h.clone()),
            CliError::Engine { error, .. } => match error {
                Error::Config { .. } => "fix the file named above (`heirloom init` writes a commented example), or pick another with --config / HEIRLOOM_CONFIG",
                Error::InvalidRequest(_) => "check the command's arguments: heirloom <command> --help",
                Error::WrongKey(_) => "the repository was created with another key: check HEIRLOOM_PASSPHRASE or key_file in the configuration",
                Error::KeyProviderRequired => "government_grade needs a key provider supplied by a host application; use --encryption standard or enhanced",
                Error::NotFound(_) => "`heirloom snapshots` lists the weddings and snapshots in the repository",
                Error::InsufficientLocations { .. } => "check that the location folders named in the configuration exist and are reachable, or ask for fewer with --locations",
                Error::Unrecoverable { .. } => "too many locations are down for this data: bring one back (its folder, disk or mount) and retry",
                Error::Storage { .. } if error.is_transient() => "a location is unreachable; it may be temporary, retry later",
                Error::Storage { .. } => "check the location's folder and its permissions",
                Error::Corrupt { .. } => "stored data failed its check; try an earlier snapshot with --at",
                Error::PathEscape { .. } => "the snapshot names a path outside the restore folder; nothing was written there",
                Error::Io { .. } => "check the path and its permissions",
                Error::MaintenanceBlocked { .. } => "maintenance never runs on Saturdays or wedding days; run it on another day",
                Error::NotImplemented(_) => "this build does not support it yet",
                Error::Internal(_) => "this is a bug in heirloom: please report it with the output of -vv",
                _ => return None,
            },
        };
        Some(h.to_owned())
    }

    /// Prints the error and its hint on stderr.
    pub fn report(&self) {
        crate::progress::clear();
        eprintln!("error: {self}");
        if let Some(h) = self.hint() {
            eprintln!("hint: {h}");
        }
    }
}
