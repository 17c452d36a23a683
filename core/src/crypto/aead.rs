//! AES-256-GCM with random 96-bit nonces (or, for content-named metadata
//! that two backups may both write, a nonce derived from the plaintext:
//! [`seal_deterministic`]).
//!
//! Sealed layout: `[format = 1][nonce: 12][ciphertext][tag: 16]`. The
//! associated data is never stored; the reader must supply the same identity
//! (chunk id, object kind and name) or opening fails. Random nonces are safe
//! for far more than 2^32 seals per key only in aggregate across keys; one
//! repository key sealing 2^32 chunks (~4 PiB at 1 MiB chunks) is the bound.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
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

    /// ring's AES-256-GCM (hardware AES and carry-less multiply, about three
    /// times RustCrypto's `aes-gcm` here; the same format, so either opens
    /// what the other sealed).
    fn cipher(&self) -> Result<LessSafeKey, CryptoError> {
        UnboundKey::new(&AES_256_GCM, &self.0)
            .map(LessSafeKey::new)
            .map_err(|_| CryptoError::InvalidKey("AES-256-GCM key rejected".into()))
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
    let mut out = Vec::new();
    seal_append(key, ctx, aad, plaintext, &mut out)?;
    Ok(out)
}

/// [`seal`], appending the sealed bytes to `out` instead of allocating:
/// the plaintext is copied once, into `out`, and encrypted there.
pub(crate) fn seal_append(
    key: &SecretKey,
    ctx: &Context,
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    seal_with_nonce(key, ctx.random_bytes(), aad, plaintext, out)
}

/// [`seal`] with the nonce derived from the associated data and the
/// plaintext under `nonce_key` (a different key from `key`), SIV-style:
/// equal plaintexts seal to equal bytes, so a content-named object written
/// by two backups is stored once. Distinct plaintexts get distinct nonces
/// but for a 96-bit collision of a keyed BLAKE3; what this reveals (which
/// objects are equal) their names reveal already.
pub(crate) fn seal_deterministic(
    key: &SecretKey,
    nonce_key: &SecretKey,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut h = blake3::Hasher::new_keyed(&nonce_key.0);
    h.update(&(aad.len() as u64).to_le_bytes());
    h.update(aad);
    h.update(plaintext);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&h.finalize().as_bytes()[..NONCE_LEN]);
    let mut out = Vec::new();
    seal_with_nonce(key, nonce, aad, plaintext, &mut out)?;
    Ok(out)
}

fn seal_with_nonce(
    key: &SecretKey,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    let cipher = key.cipher()?;
    out.reserve(plaintext.len() + SEAL_OVERHEAD);
    let start = out.len();
    out.push(FORMAT_AES256GCM);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let sealed = cipher.seal_in_place_separate_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut out[start + 1 + NONCE_LEN..],
    );
    match sealed {
        Ok(tag) => out.extend_from_slice(tag.as_ref()),
        Err(_) => {
            out.truncate(start);
            return Err(CryptoError::TooLarge(plaintext.len()));
        }
    }
    Ok(())
}

/// Decrypts a blob made by [`seal`] with the same key and `aad`.
pub(crate) fn open(key: &SecretKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::new();
    open_into(key, aad, sealed, &mut out)?;
    Ok(out)
}

/// [`open`] in place: `sealed` (format byte, nonce, ciphertext, tag) is
/// overwritten, and the plaintext, a part of it, is returned.
pub(crate) fn open_in_place<'a>(
    key: &SecretKey,
    aad: &[u8],
    sealed: &'a mut [u8],
) -> Result<&'a [u8], CryptoError> {
    let nonce = sealed_nonce(sealed)?;
    key.cipher()?
        .open_in_place(nonce, Aad::from(aad), &mut sealed[1 + NONCE_LEN..])
        .map(|plain| &*plain)
        .map_err(|_| CryptoError::Authentication)
}

/// [`open`] into `out` (cleared first), reusing its allocation.
pub(crate) fn open_into(
    key: &SecretKey,
    aad: &[u8],
    sealed: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    out.clear();
    let nonce = sealed_nonce(sealed)?;
    let cipher = key.cipher()?;
    out.extend_from_slice(&sealed[1 + NONCE_LEN..]);
    let plain_len = cipher
        .open_in_place(nonce, Aad::from(aad), out)
        .map(|plain| plain.len());
    match plain_len {
        Ok(len) => {
            out.truncate(len);
            Ok(())
        }
        Err(_) => {
            out.clear();
            Err(CryptoError::Authentication)
        }
    }
}

/// Checks a sealed object's length and format byte; returns its nonce.
fn sealed_nonce(sealed: &[u8]) -> Result<Nonce, CryptoError> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(CryptoError::Truncated);
    }
    if sealed[0] != FORMAT_AES256GCM {
        return Err(CryptoError::UnknownFormat(sealed[0]));
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
    Ok(Nonce::assume_unique_for_key(nonce))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_the_one_rustcrypto_aes_gcm_wrote() {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let ctx = Context::default();
        let key = SecretKey::random(&ctx);
        let rc = aes_gcm::Aes256Gcm::new(&key.0.into());
        let nonce = [3u8; NONCE_LEN];
        let plaintext: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let ct = rc
            .encrypt(
                aes_gcm::Nonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: b"id",
                },
            )
            .unwrap();
        let mut old = vec![FORMAT_AES256GCM];
        old.extend_from_slice(&nonce);
        old.extend_from_slice(&ct);
        assert_eq!(open(&key, b"id", &old).unwrap(), plaintext);
        let new = seal(&key, &ctx, b"id", &plaintext).unwrap();
        let back = rc
            .decrypt(
                aes_gcm::Nonce::from_slice(&new[1..1 + NONCE_LEN]),
                Payload {
                    msg: &new[1 + NONCE_LEN..],
                    aad: b"id",
                },
            )
            .unwrap();
        assert_eq!(back, plaintext);
    }

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
        // The in-place forms read and write the same format.
        let mut out = b"prefix".to_vec();
        seal_append(&key, &ctx, b"chunk:1", b"hello", &mut out).unwrap();
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(open(&key, b"chunk:1", &out[6..]).unwrap(), b"hello");
        let mut plain = vec![9u8; 3];
        open_into(&key, b"chunk:1", &sealed, &mut plain).unwrap();
        assert_eq!(plain, b"hello");
        assert!(open_into(&key, b"chunk:2", &sealed, &mut plain).is_err());
        assert!(plain.is_empty());
        assert!(open_into(&key, b"chunk:1", &sealed[..10], &mut plain).is_err());
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

    #[test]
    fn deterministic_seals_repeat_only_for_the_same_plaintext_and_aad() {
        let ctx = Context::default();
        let (key, nonce_key) = (SecretKey::random(&ctx), SecretKey::random(&ctx));
        let a = seal_deterministic(&key, &nonce_key, b"m", b"part").unwrap();
        assert_eq!(
            a,
            seal_deterministic(&key, &nonce_key, b"m", b"part").unwrap()
        );
        assert_eq!(open(&key, b"m", &a).unwrap(), b"part");
        let nonce = |s: &[u8]| s[1..1 + NONCE_LEN].to_vec();
        for other in [
            seal_deterministic(&key, &nonce_key, b"m", b"part2").unwrap(),
            seal_deterministic(&key, &nonce_key, b"n", b"part").unwrap(),
            seal_deterministic(&key, &SecretKey::random(&ctx), b"m", b"part").unwrap(),
        ] {
            assert_ne!(nonce(&other), nonce(&a));
        }
        assert!(open(&key, b"n", &a).is_err());
    }
}
