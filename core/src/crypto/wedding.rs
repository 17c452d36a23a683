//! Per-wedding keys (`enhanced`, `government_grade`) and the host's key provider.
//!
//! Each protected wedding has a random 256-bit root key. Its data and
//! chunk-id keys are derived from it, so its chunks dedupe only within the
//! wedding and cannot be read with the repository key alone. The root key is
//! stored wrapped: by the repository's wrap key (`enhanced`) or by the host's
//! [`KeyProvider`] (`government_grade`, customer-managed keys).

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::aead::{self, SecretKey};
use super::keys::{derive, MasterKey};
use super::CryptoError;
use crate::Context;

/// Why the host's key provider could not wrap or unwrap a key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyProviderError(pub String);

/// A host-supplied key-encryption service (a KMS, an HSM, a vault).
///
/// `wrap` must return an opaque blob that only `unwrap` of the same provider
/// turns back into the same bytes; the wedding id is passed so the provider
/// can bind it (e.g. as KMS encryption context). Calls may block: the engine
/// makes them off its async threads.
pub trait KeyProvider: Send + Sync + std::fmt::Debug {
    /// A stable name for the provider and key (stored, never secret).
    fn id(&self) -> String;
    /// Encrypts `key` for `wedding_id`.
    fn wrap(&self, wedding_id: &str, key: &[u8]) -> Result<Vec<u8>, KeyProviderError>;
    /// Decrypts a blob made by [`KeyProvider::wrap`] for the same wedding.
    fn unwrap(&self, wedding_id: &str, wrapped: &[u8]) -> Result<Vec<u8>, KeyProviderError>;
}

/// How a repository names chunks: a keyed hash of the plaintext, so that
/// equal chunks deduplicate and nobody without the key can test for a
/// known file. Recorded in the repository's config; fixed for its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ChunkIdHash {
    /// HMAC-SHA256: repositories made before 2026-11-27 (config without the field).
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    /// BLAKE3 in keyed mode: about three times faster than HMAC-SHA256 here,
    /// where hashing was the largest cost of a backup. New repositories use it.
    #[serde(rename = "blake3-keyed")]
    Blake3Keyed,
}

/// The keys that seal one wedding's chunks and manifests.
#[derive(Clone, Debug)]
pub(crate) struct DomainKeys {
    pub data: SecretKey,
    pub chunk_id: SecretKey,
    pub id_hash: ChunkIdHash,
}

impl DomainKeys {
    /// The repository-wide keys used by `standard` encryption.
    pub(crate) fn repository(master: &MasterKey, id_hash: ChunkIdHash) -> Self {
        DomainKeys {
            data: master.data.clone(),
            chunk_id: master.chunk_id.clone(),
            id_hash,
        }
    }

    fn from_wedding_root(root: &[u8], id_hash: ChunkIdHash) -> Self {
        DomainKeys {
            data: derive(root, "wedding-data"),
            chunk_id: derive(root, "wedding-chunk-id"),
            id_hash,
        }
    }

    /// Keys that name chunks with keyed BLAKE3 under `key` (for the stage benchmarks).
    #[cfg(feature = "bench")]
    pub(crate) fn repository_from_key(key: [u8; 32]) -> Self {
        DomainKeys {
            data: SecretKey(key),
            chunk_id: SecretKey(key),
            id_hash: ChunkIdHash::Blake3Keyed,
        }
    }

    /// A chunk's id: the keyed hash of its plaintext.
    pub(crate) fn chunk_id(&self, plaintext: &[u8]) -> [u8; 32] {
        match self.id_hash {
            ChunkIdHash::HmacSha256 => keyed_hash(&self.chunk_id, plaintext),
            ChunkIdHash::Blake3Keyed => blake3::keyed_hash(&self.chunk_id.0, plaintext).into(),
        }
    }
}

/// HMAC-SHA256 of `data` under `key`.
pub(crate) fn keyed_hash(key: &SecretKey, data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so construction cannot fail.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&key.0) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Who wraps a wedding's root key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Protection {
    /// Wrapped by the repository's wrap key (`enhanced`).
    Repository,
    /// Wrapped by the host's key provider (`government_grade`).
    KeyProvider,
}

/// A wedding root key as stored, wrapped.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WrappedWeddingKey {
    pub version: u32,
    pub protection: Protection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    pub wrapped: String,
}

fn wrap_aad(wedding_id: &str) -> Vec<u8> {
    format!("heirloom/wedding-key/{wedding_id}").into_bytes()
}

/// Makes a new wedding root key, returning the stored form and the keys.
pub(crate) fn new_wedding_key(
    wedding_id: &str,
    protection: Protection,
    master: &MasterKey,
    provider: Option<&dyn KeyProvider>,
    ctx: &Context,
    id_hash: ChunkIdHash,
) -> Result<(WrappedWeddingKey, DomainKeys), WeddingKeyError> {
    let root: Zeroizing<[u8; 32]> = Zeroizing::new(ctx.random_bytes());
    let (wrapped, provider_id) = match protection {
        Protection::Repository => (
            aead::seal(&master.wrap, ctx, &wrap_aad(wedding_id), &*root)?,
            None,
        ),
        Protection::KeyProvider => {
            let p = provider.ok_or(WeddingKeyError::ProviderRequired)?;
            (p.wrap(wedding_id, &*root)?, Some(p.id()))
        }
    };
    let stored = WrappedWeddingKey {
        version: 1,
        protection,
        provider_id,
        wrapped: hex::encode(wrapped),
    };
    Ok((stored, DomainKeys::from_wedding_root(&*root, id_hash)))
}

/// Unwraps a stored wedding root key.
pub(crate) fn open_wedding_key(
    wedding_id: &str,
    stored: &WrappedWeddingKey,
    master: &MasterKey,
    provider: Option<&dyn KeyProvider>,
    id_hash: ChunkIdHash,
) -> Result<DomainKeys, WeddingKeyError> {
    let wrapped = hex::decode(&stored.wrapped)
        .map_err(|_| CryptoError::InvalidKey("wrapped wedding key is not hex".into()))?;
    let root = Zeroizing::new(match stored.protection {
        Protection::Repository => aead::open(&master.wrap, &wrap_aad(wedding_id), &wrapped)?,
        Protection::KeyProvider => {
            let p = provider.ok_or(WeddingKeyError::ProviderRequired)?;
            p.unwrap(wedding_id, &wrapped)?
        }
    });
    if root.len() != 32 {
        return Err(
            CryptoError::InvalidKey("unwrapped wedding key has the wrong size".into()).into(),
        );
    }
    Ok(DomainKeys::from_wedding_root(&root, id_hash))
}

/// Why a wedding key could not be made or opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WeddingKeyError {
    #[error("a KeyProvider is required")]
    ProviderRequired,
    #[error("key provider: {0}")]
    Provider(#[from] KeyProviderError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const H: ChunkIdHash = ChunkIdHash::Blake3Keyed;
    use crate::crypto::keys::{KdfParams, KeySlot, KeySource};

    /// A toy key provider for tests: XOR with a fixed pad, bound to the wedding id.
    #[derive(Debug)]
    pub(crate) struct XorProvider(pub u8);

    impl KeyProvider for XorProvider {
        fn id(&self) -> String {
            format!("xor-{}", self.0)
        }
        fn wrap(&self, wedding_id: &str, key: &[u8]) -> Result<Vec<u8>, KeyProviderError> {
            let mut out = wedding_id.as_bytes().to_vec();
            out.push(0);
            out.extend(key.iter().map(|b| b ^ self.0));
            Ok(out)
        }
        fn unwrap(&self, wedding_id: &str, wrapped: &[u8]) -> Result<Vec<u8>, KeyProviderError> {
            let prefix_len = wedding_id.len() + 1;
            if wrapped.len() < prefix_len || &wrapped[..wedding_id.len()] != wedding_id.as_bytes() {
                return Err(KeyProviderError("wrapped for another wedding".into()));
            }
            Ok(wrapped[prefix_len..].iter().map(|b| b ^ self.0).collect())
        }
    }

    fn master() -> MasterKey {
        let ctx = Context::default();
        KeySlot::create(
            &KeySource::passphrase("p"),
            KdfParams::insecure_for_tests(),
            "r",
            &ctx,
        )
        .unwrap()
        .1
    }

    #[test]
    fn enhanced_keys_roundtrip_and_bind_the_wedding() {
        let ctx = Context::default();
        let mk = master();
        let (stored, keys) =
            new_wedding_key("w1", Protection::Repository, &mk, None, &ctx, H).unwrap();
        let opened = open_wedding_key("w1", &stored, &mk, None, H).unwrap();
        assert_eq!(opened.data, keys.data);
        assert!(open_wedding_key("w2", &stored, &mk, None, H).is_err());
        assert_ne!(
            keys.chunk_id(b"x"),
            DomainKeys::repository(&mk, H).chunk_id(b"x")
        );
    }

    #[test]
    fn government_grade_needs_the_provider() {
        let ctx = Context::default();
        let mk = master();
        assert!(matches!(
            new_wedding_key("w1", Protection::KeyProvider, &mk, None, &ctx, H),
            Err(WeddingKeyError::ProviderRequired)
        ));
        let p = XorProvider(0x5a);
        let (stored, keys) =
            new_wedding_key("w1", Protection::KeyProvider, &mk, Some(&p), &ctx, H).unwrap();
        assert_eq!(stored.provider_id.as_deref(), Some("xor-90"));
        assert!(matches!(
            open_wedding_key("w1", &stored, &mk, None, H),
            Err(WeddingKeyError::ProviderRequired)
        ));
        assert_eq!(
            open_wedding_key("w1", &stored, &mk, Some(&p), H)
                .unwrap()
                .data,
            keys.data
        );
        assert!(open_wedding_key("w2", &stored, &mk, Some(&p), H).is_err());
    }
}
