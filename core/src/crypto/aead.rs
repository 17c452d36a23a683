//! AES-256-GCM with random 96-bit nonces.
//!
//! Sealed layout: `[format = 1][nonce: 12][ciphertext][tag: 16]`. The
//! associated data is never stored; the reader must supply the same identity
//! (chunk id, object kind and name) or opening fails. Random nonces are safe
//! for far more than 2^32 seals per key only in aggregate across keys; one
//! repository key sealing 2^32 chunks (~4 PiB at 1 MiB chunks) is the bound.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::CryptoError;
use crate::Context;

const FORMAT_AES256GCM: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Bytes a sealed object adds to its plaintext.
pub(crate) const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// A 256-bit symmetric key, wiped on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub(crate) struct SecretKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// A fresh random key.
    pub(crate) fn random(ctx: &Context) -> Self {
        SecretKey(ctx.random_bytes())
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| {
            CryptoError::InvalidKey(format!("expected 32 bytes, got {}", bytes.len()))
        })?;
        Ok(SecretKey(arr))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }
}

/// Encrypts `plaintext` under `key`, binding `aad`.
/// Fails only for inputs above GCM's 64 GiB limit.
pub(crate) fn seal(
    key: &SecretKey,
    ctx: &Context,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let nonce: [u8; NONCE_LEN] = ctx.random_bytes();
    let ct = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::TooLarge(plaintext.len()))?;
    let mut out = Vec::with_capacity(ct.len() + 1 + NONCE_LEN);
    out.push(FORMAT_AES256GCM);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Decrypts a blob made by [`seal`] with the same key and `aad`.
pub(crate) fn open(key: &SecretKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(CryptoError::Truncated);
    }
    if sealed[0] != FORMAT_AES256GCM {
        return Err(CryptoError::UnknownFormat(sealed[0]));
    }
    let nonce = Nonce::from_slice(&sealed[1..1 + NONCE_LEN]);
    key.cipher()
        .decrypt(
            nonce,
            Payload {
                msg: &sealed[1 + NONCE_LEN..],
                aad,
            },
        )
        .map_err(|_| CryptoError::Authentication)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_binding() {
        let ctx = Context::default();
        let key = SecretKey::random(&ctx);
        let sealed = seal(&key, &ctx, b"chunk:1", b"hello").unwrap();
        assert_eq!(sealed.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(open(&key, b"chunk:1", &sealed).unwrap(), b"hello");
        assert!(matches!(
            open(&key, b"chunk:2", &sealed),
            Err(CryptoError::Authentication)
        ));
        let other = SecretKey::random(&ctx);
        assert!(matches!(
            open(&other, b"chunk:1", &sealed),
            Err(CryptoError::Authentication)
        ));
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(matches!(
            open(&key, b"chunk:1", &tampered),
            Err(CryptoError::Authentication)
        ));
        assert!(matches!(
            open(&key, b"", &sealed[..10]),
            Err(CryptoError::Truncated)
        ));
        let mut wrong_format = sealed;
        wrong_format[0] = 9;
        assert!(matches!(
            open(&key, b"chunk:1", &wrong_format),
            Err(CryptoError::UnknownFormat(9))
        ));
    }

    #[test]
    fn nonces_differ() {
        let ctx = Context::default();
        let key = SecretKey::random(&ctx);
        assert_ne!(
            seal(&key, &ctx, b"", b"x").unwrap(),
            seal(&key, &ctx, b"", b"x").unwrap()
        );
    }
}
