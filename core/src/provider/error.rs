//! The provider error: categories a caller can act on.

use std::io;

/// Why a provider operation failed. Backends convert their own errors into
/// one of these categories; [`ProviderError::is_transient`] says whether a
/// retry can help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// No object under this key.
    #[error("object {key:?} not found")]
    NotFound {
        /// The key.
        key: String,
    },
    /// `put_if_absent` found an object already there.
    #[error("object {key:?} already exists")]
    AlreadyExists {
        /// The key.
        key: String,
    },
    /// The key is not one a provider accepts.
    #[error("invalid object key {key:?}")]
    InvalidKey {
        /// The key.
        key: String,
    },
    /// The backend refused the operation (permissions, credentials).
    #[error("access denied: {detail}")]
    Denied {
        /// What the backend said.
        detail: String,
    },
    /// The backend is unreachable, timed out or overloaded; a retry may work.
    #[error("storage unavailable: {detail}")]
    Unavailable {
        /// What happened.
        detail: String,
    },
    /// Any other backend failure, not expected to go away on retry.
    #[error("storage failure: {detail}")]
    Other {
        /// What happened.
        detail: String,
    },
}

impl ProviderError {
    /// True when retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Unavailable { .. })
    }

    /// True for [`ProviderError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, ProviderError::NotFound { .. })
    }

    /// Maps an I/O error on `key` to its category.
    pub fn from_io(key: &str, err: io::Error) -> Self {
        use io::ErrorKind::*;
        match err.kind() {
            NotFound => ProviderError::NotFound {
                key: key.to_owned(),
            },
            AlreadyExists => ProviderError::AlreadyExists {
                key: key.to_owned(),
            },
            PermissionDenied | ReadOnlyFilesystem => ProviderError::Denied {
                detail: format!("{key}: {err}"),
            },
            TimedOut | Interrupted | WouldBlock | ConnectionRefused | ConnectionReset
            | ConnectionAborted | NotConnected | BrokenPipe | StorageFull | ResourceBusy => {
                ProviderError::Unavailable {
                    detail: format!("{key}: {err}"),
                }
            }
            _ => ProviderError::Other {
                detail: format!("{key}: {err}"),
            },
        }
    }
}
