//! The repository master key, its subkeys, and key slots.
//!
//! A repository has one random 256-bit master key. It is never stored in the
//! clear: each *key slot* (an object `keys/<slot>` replicated to every
//! location) holds it sealed under a key-encryption key derived from a
//! passphrase (Argon2id) or read from a key file. Every other key is derived
//! from the master key with HKDF-SHA256, one label per purpose.

use std::path::PathBuf;

use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::aead::{self, SecretKey};
use super::CryptoError;
use crate::Context;

/// Where the key that opens the repository comes from.
#[derive(Clone)]
pub enum KeySource {
    /// A passphrase, stretched with Argon2id.
    Passphrase(Zeroizing<String>),
    /// A file holding 64 hex characters (32 random bytes).
    KeyFile(PathBuf),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Passphrase(_) => f.write_str("Passphrase(..)"),
            KeySource::KeyFile(p) => f.debug_tuple("KeyFile").field(p).finish(),
        }
    }
}

impl KeySource {
    /// A passphrase source.
    pub fn passphrase(p: impl Into<String>) -> Self {
        KeySource::Passphrase(Zeroizing::new(p.into()))
    }

    /// Writes a new random key file at `path` (mode 0600), failing if one exists.
    pub fn generate_key_file(path: &std::path::Path, ctx: &Context) -> std::io::Result<KeySource> {
        use std::io::Write;
        let key: Zeroizing<[u8; 32]> = Zeroizing::new(ctx.random_bytes());
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(path)?;
        f.write_all(hex::encode(*key).as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        Ok(KeySource::KeyFile(path.to_owned()))
    }
}

/// Argon2id cost parameters for passphrase slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Parallelism.
    pub p_cost: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane: about a quarter of a second here.
    fn default() -> Self {
        KdfParams {
            m_cost_kib: 64 * 1024,
            t_cost: 3,
            p_cost: 1,
        }
    }
}

impl KdfParams {
    /// Tiny costs for tests only: offers no protection against guessing.
    pub fn insecure_for_tests() -> Self {
        KdfParams {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        }
    }
}

/// How a slot's key-encryption key is derived.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "camelCase")]
pub(crate) enum SlotKdf {
    /// Argon2id over the passphrase.
    #[serde(rename = "argon2id", rename_all = "camelCase")]
    Argon2id {
        #[serde(flatten)]
        params: KdfParams,
        salt: String,
    },
    /// HKDF over a key file's 32 bytes.
    #[serde(rename = "keyfile")]
    KeyFile,
}

/// A key slot as stored under `keys/<id>`: the master key sealed under a
/// key-encryption key, with how to derive that key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeySlot {
    pub version: u32,
    pub kdf: SlotKdf,
    pub wrapped_master_key: String,
}

/// The repository master key and the subkeys derived from it.
#[derive(Clone, Debug)]
pub(crate) struct MasterKey {
    /// Seals snapshot records, indexes and manifests of `standard` weddings.
    pub metadata: SecretKey,
    /// Seals chunks of `standard` weddings.
    pub data: SecretKey,
    /// Keys chunk ids (HMAC-SHA256) of `standard` weddings.
    pub chunk_id: SecretKey,
    /// Wraps per-wedding keys of `enhanced` weddings; keys object names.
    pub wrap: SecretKey,
}

pub(crate) fn derive(root: &[u8], label: &str) -> SecretKey {
    let hk = Hkdf::<Sha256>::new(Some(b"heirloom/v1"), root);
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    if hk.expand(label.as_bytes(), &mut out).is_err() {
        unreachable!("HKDF output of 32 bytes is always valid");
    }
    SecretKey(out)
}

impl MasterKey {
    fn from_root(root: &SecretKey) -> Self {
        MasterKey {
            metadata: derive(&root.0, "metadata"),
            data: derive(&root.0, "data"),
            chunk_id: derive(&root.0, "chunk-id"),
            wrap: derive(&root.0, "wedding-key-wrap"),
        }
    }
}

fn slot_aad(repo_id: &str) -> Vec<u8> {
    format!("heirloom/key-slot/{repo_id}").into_bytes()
}

fn key_encryption_key(source: &KeySource, kdf: &SlotKdf) -> Result<SecretKey, CryptoError> {
    match (source, kdf) {
        (KeySource::Passphrase(p), SlotKdf::Argon2id { params, salt }) => {
            let salt = hex::decode(salt).map_err(|_| CryptoError::InvalidKey("bad salt".into()))?;
            let argon_params =
                argon2::Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))
                    .map_err(|e| CryptoError::InvalidKey(format!("argon2 parameters: {e}")))?;
            let argon = argon2::Argon2::new(
                argon2::Algorithm::Argon2id,
                argon2::Version::V0x13,
                argon_params,
            );
            let mut out = [0u8; 32];
            argon
                .hash_password_into(p.as_bytes(), &salt, &mut out)
                .map_err(|e| CryptoError::InvalidKey(format!("argon2: {e}")))?;
            Ok(SecretKey(out))
        }
        (KeySource::KeyFile(path), SlotKdf::KeyFile) => {
            let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                CryptoError::InvalidKey(format!("cannot read key file {}: {e}", path.display()))
            })?);
            let raw = Zeroizing::new(hex::decode(text.trim()).map_err(|_| {
                CryptoError::InvalidKey(format!(
                    "key file {} is not 64 hex characters",
                    path.display()
                ))
            })?);
            if raw.len() != 32 {
                return Err(CryptoError::InvalidKey(format!(
                    "key file {} is not 64 hex characters",
                    path.display()
                )));
            }
            Ok(derive(&raw, "key-file-kek"))
        }
        _ => Err(CryptoError::Authentication),
    }
}

impl KeySlot {
    /// Creates a slot for a new master key under `source`.
    pub(crate) fn create(
        source: &KeySource,
        params: KdfParams,
        repo_id: &str,
        ctx: &Context,
    ) -> Result<(KeySlot, MasterKey), CryptoError> {
        let root = SecretKey::random(ctx);
        let kdf = match source {
            KeySource::Passphrase(_) => SlotKdf::Argon2id {
                params,
                salt: hex::encode(ctx.random_bytes::<16>()),
            },
            KeySource::KeyFile(_) => SlotKdf::KeyFile,
        };
        let kek = key_encryption_key(source, &kdf)?;
        let wrapped = aead::seal(&kek, ctx, &slot_aad(repo_id), &root.0)?;
        let slot = KeySlot {
            version: 1,
            kdf,
            wrapped_master_key: hex::encode(wrapped),
        };
        Ok((slot, MasterKey::from_root(&root)))
    }

    /// Opens the slot with `source`; [`CryptoError::Authentication`] when the
    /// passphrase or key file is not the one this slot was made with.
    pub(crate) fn unlock(
        &self,
        source: &KeySource,
        repo_id: &str,
    ) -> Result<MasterKey, CryptoError> {
        let kek = key_encryption_key(source, &self.kdf)?;
        let wrapped = hex::decode(&self.wrapped_master_key)
            .map_err(|_| CryptoError::InvalidKey("key slot is not hex".into()))?;
        let root = Zeroizing::new(aead::open(&kek, &slot_aad(repo_id), &wrapped)?);
        Ok(MasterKey::from_root(&SecretKey::from_slice(&root)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passphrase_slot_opens_only_with_its_passphrase() {
        let ctx = Context::default();
        let src = KeySource::passphrase("correct horse");
        let (slot, mk) =
            KeySlot::create(&src, KdfParams::insecure_for_tests(), "repo1", &ctx).unwrap();
        let json = serde_json::to_string(&slot).unwrap();
        assert!(!json.contains("correct horse"));
        let slot: KeySlot = serde_json::from_str(&json).unwrap();
        let again = slot.unlock(&src, "repo1").unwrap();
        assert_eq!(again.data, mk.data);
        assert!(matches!(
            slot.unlock(&KeySource::passphrase("wrong"), "repo1"),
            Err(CryptoError::Authentication)
        ));
        assert!(matches!(
            slot.unlock(&src, "repo2"),
            Err(CryptoError::Authentication)
        ));
    }

    #[test]
    fn key_file_slot() {
        let ctx = Context::default();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let src = KeySource::generate_key_file(&path, &ctx).unwrap();
        assert!(
            KeySource::generate_key_file(&path, &ctx).is_err(),
            "never overwrites a key file"
        );
        let (slot, mk) = KeySlot::create(&src, KdfParams::default(), "r", &ctx).unwrap();
        assert_eq!(slot.unlock(&src, "r").unwrap().metadata, mk.metadata);
        let other = KeySource::generate_key_file(&dir.path().join("other"), &ctx).unwrap();
        assert!(matches!(
            slot.unlock(&other, "r"),
            Err(CryptoError::Authentication)
        ));
        assert!(slot.unlock(&KeySource::passphrase("x"), "r").is_err());
        std::fs::write(dir.path().join("bad"), "zz").unwrap();
        assert!(matches!(
            slot.unlock(&KeySource::KeyFile(dir.path().join("bad")), "r"),
            Err(CryptoError::InvalidKey(_))
        ));
    }

    #[test]
    fn subkeys_differ() {
        let ctx = Context::default();
        let mk = MasterKey::from_root(&SecretKey::random(&ctx));
        assert_ne!(mk.data, mk.metadata);
        assert_ne!(mk.data, mk.chunk_id);
        assert_ne!(mk.wrap, mk.chunk_id);
    }
}
