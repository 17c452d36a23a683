//! Keys and authenticated encryption.
//!
//! - [`aead`]: AES-256-GCM sealing of every chunk and metadata object, with
//!   the object's identity bound as associated data.
//! - [`keys`]: the repository master key, its subkeys, and the key slots that
//!   wrap it under a passphrase (Argon2id) or a key file.
//! - [`wedding`]: per-wedding data keys for `enhanced` and `government_grade`
//!   encryption, and the host's [`KeyProvider`].

pub(crate) mod aead;
pub(crate) mod keys;
pub(crate) mod wedding;

pub use keys::{KdfParams, KeySource};
pub use wedding::{KeyProvider, KeyProviderError};

/// Why decryption or key handling failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The sealed blob is shorter than a header and tag.
    #[error("sealed object truncated")]
    Truncated,
    /// The blob names a format or algorithm this build does not know.
    #[error("unknown encryption format {0}")]
    UnknownFormat(u8),
    /// The authentication tag did not match: wrong key, or the bytes changed.
    #[error("authentication failed (wrong key or tampered data)")]
    Authentication,
    /// The plaintext is larger than AES-GCM can seal in one message.
    #[error("object of {0} bytes is too large to encrypt in one piece")]
    TooLarge(usize),
    /// Key material of the wrong size or shape.
    #[error("invalid key material: {0}")]
    InvalidKey(String),
}
