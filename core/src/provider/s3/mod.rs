//! [`S3Provider`]: objects in an S3-compatible bucket (AWS, MinIO, moto,
//! Garage, ...), through Apache OpenDAL's `s3` service.
//!
//! Behind the `s3` cargo feature, off by default so that mobile builds do
//! not carry an HTTP stack.
//!
//! ## Layers, innermost first
//! 1. OpenDAL's S3 service (SigV4 signing, path-style requests by default
//!    for custom endpoints).
//! 2. `TimeoutLayer`: each request, and each read or write of a transfer,
//!    gets [`S3Config::timeout_secs`].
//! 3. `RetryLayer`: temporary failures (network errors, timeouts, 5xx,
//!    throttling, a conflicting conditional write) are retried up to
//!    [`S3Config::retry_attempts`] times with jittered exponential
//!    back-off. Being outside the timeout layer, every attempt gets a fresh
//!    timeout.
//!
//! ## Semantics
//! - `put` is one `PutObject`, or above [`MULTIPART_THRESHOLD`] a multipart
//!   upload in [`PART_SIZE`] parts; either way the object appears whole or
//!   not at all.
//! - `put_if_absent` sends `If-None-Match: *` (on the `PutObject`, or on the
//!   `CompleteMultipartUpload` of a large object); the server decides
//!   atomically. `412 Precondition Failed`, and a `409 Conflict` with a
//!   concurrent conditional write that persists after retries, are
//!   [`ProviderError::AlreadyExists`].
//! - `get` of a whole object is one `GetObject`. With a range it is a
//!   `HeadObject` (to clamp the range to the size, which S3 and OpenDAL do
//!   not do for us) and a ranged `GetObject`; an empty clamped range needs
//!   no `GetObject`.
//! - `list` lists the configured prefix plus the given one, recursively,
//!   and gives keys relative to the configured prefix.
//!
//! ## Errors
//! `404` is [`ProviderError::NotFound`] (after one listing request checks
//! that the bucket, rather than the object, is there); `403` (bad or missing credentials,
//! a refused policy) is [`ProviderError::Denied`]; a missing bucket
//! (`NoSuchBucket`) is [`ProviderError::Unavailable`], as a deleted root
//! folder is for the local provider: the bucket *is* the location, and the
//! engine treats the location as down. Throttling and temporary failures,
//! including those still failing after the retries, are
//! [`ProviderError::Unavailable`]; everything else is
//! [`ProviderError::Other`].

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::services::S3;
use opendal::{ErrorKind, Operator};

use super::{
    clamp_range, validate_key, ObjectMeta, ProviderError, ProviderResult, StorageProvider,
};

mod config;

pub use config::{CredentialSource, S3Config, Secret};

/// Objects larger than this are uploaded in parts.
pub const MULTIPART_THRESHOLD: usize = 8 * 1024 * 1024;

/// Size of one part of a multipart upload (S3 needs at least 5 MiB for
/// every part but the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Parts of one object uploaded at once.
const PART_CONCURRENCY: usize = 4;

/// Region used when neither the config nor the environment names one.
const DEFAULT_REGION: &str = "us-east-1";

/// A provider storing objects in one bucket of an S3-compatible service,
/// under an optional key prefix.
#[derive(Clone)]
pub struct S3Provider {
    op: Operator,
    /// `s3://bucket/prefix`, for error messages and `Debug`.
    name: String,
}

impl S3Provider {
    /// A provider for the bucket and prefix of `config`. Checks the config
    /// and resolves credentials; sends no request, so a bucket that is
    /// missing or unreachable shows up on the first operation.
    pub fn new(config: S3Config) -> ProviderResult<Self> {
        let prefix = config.prefix.trim_matches('/');
        let name = format!("s3://{}/{}", config.bucket, prefix);
        if !prefix.is_empty() {
            validate_key(prefix)?;
        }
        if config.bucket.is_empty() {
            return Err(config_error(&name, "the bucket name is empty"));
        }
        let region = config
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());

        let mut builder = S3::default()
            .bucket(&config.bucket)
            .root(&format!("/{prefix}"))
            .region(&region);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint(endpoint);
        }
        if !config.uses_path_style() {
            builder = builder.enable_virtual_host_style();
        }
        if let Some(creds) = static_credentials(&config, &name)? {
            // Explicit credentials: read nothing else, ask nothing else.
            builder = builder
                .access_key_id(creds.access_key_id.expose())
                .secret_access_key(creds.secret_access_key.expose())
                .disable_config_load()
                .disable_ec2_metadata();
            if let Some(token) = &creds.session_token {
                builder = builder.session_token(token.expose());
            }
        }

        let timeout = Duration::from_secs(config.timeout_secs.max(1));
        let mut op = Operator::new(builder)
            .map_err(|e| config_error(&name, &e.to_string()))?
            .finish()
            .layer(
                TimeoutLayer::new()
                    .with_timeout(timeout)
                    .with_io_timeout(timeout),
            );
        if config.retry_attempts > 0 {
            op = op.layer(
                RetryLayer::new()
                    .with_max_times(config.retry_attempts)
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_delay(Duration::from_secs(5))
                    .with_jitter(),
            );
        }
        Ok(S3Provider { op, name })
    }

    /// The error for a `404` on `key`: [`ProviderError::NotFound`] if the
    /// bucket is there, else the bucket's own error. A `404` to `HeadObject`
    /// has no body saying whether the object or the bucket is missing, so
    /// one listing request tells them apart.
    async fn not_found(&self, key: &str) -> ProviderError {
        match self.op.check().await {
            Ok(()) => ProviderError::NotFound {
                key: key.to_owned(),
            },
            Err(e) => self.error(key, e),
        }
    }

    /// Maps an OpenDAL error on `key` to its category.
    fn error(&self, key: &str, e: opendal::Error) -> ProviderError {
        map_error(&self.name, key, e)
    }

    async fn write(&self, key: &str, data: Bytes, if_absent: bool) -> ProviderResult<()> {
        validate_key(key)?;
        let len = data.len();
        let mut write = self.op.write_with(key, data).if_not_exists(if_absent);
        if len > MULTIPART_THRESHOLD {
            write = write.chunk(PART_SIZE).concurrent(PART_CONCURRENCY);
        }
        write.await.map(|_| ()).map_err(|e| self.error(key, e))
    }
}

impl fmt::Debug for S3Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Provider")
            .field("location", &self.name)
            .finish_non_exhaustive()
    }
}

/// Credentials to sign with instead of OpenDAL's own loading.
struct StaticCredentials {
    access_key_id: Secret,
    secret_access_key: Secret,
    session_token: Option<Secret>,
}

/// The credentials written in the config (if allowed), or read from the
/// environment for [`CredentialSource::Environment`]; `None` leaves them to
/// the standard AWS chain.
fn static_credentials(config: &S3Config, name: &str) -> ProviderResult<Option<StaticCredentials>> {
    match (&config.access_key_id, &config.secret_access_key) {
        (None, None) => {}
        _ if !config.allow_plaintext_credentials => {
            return Err(config_error(
                name,
                "credentials written in the config need allow_plaintext_credentials = true",
            ))
        }
        (Some(id), Some(secret)) => {
            return Ok(Some(StaticCredentials {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: config.session_token.clone(),
            }))
        }
        _ => {
            return Err(config_error(
                name,
                "access_key_id and secret_access_key must be given together",
            ))
        }
    }
    match config.credentials {
        CredentialSource::Aws => Ok(None),
        CredentialSource::Environment => {
            let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
            match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => Ok(Some(StaticCredentials {
                    access_key_id: Secret::new(id),
                    secret_access_key: Secret::new(secret),
                    session_token: var("AWS_SESSION_TOKEN").map(Secret::new),
                })),
                _ => Err(ProviderError::Denied {
                    detail: format!(
                        "{name}: credentials = \"environment\" needs AWS_ACCESS_KEY_ID and \
                         AWS_SECRET_ACCESS_KEY to be set"
                    ),
                }),
            }
        }
    }
}

fn config_error(name: &str, what: &str) -> ProviderError {
    ProviderError::Other {
        detail: format!("{name}: invalid S3 location config: {what}"),
    }
}

/// Maps an OpenDAL error on `key` of location `name` to its category.
fn map_error(name: &str, key: &str, e: opendal::Error) -> ProviderError {
    let detail = || format!("{name}: {key}: {e}");
    match e.kind() {
        ErrorKind::NotFound => ProviderError::NotFound {
            key: key.to_owned(),
        },
        // 412 (the object exists) and 409 (a concurrent conditional write
        // won; still conflicting after the retries).
        ErrorKind::ConditionNotMatch | ErrorKind::AlreadyExists => ProviderError::AlreadyExists {
            key: key.to_owned(),
        },
        ErrorKind::PermissionDenied => ProviderError::Denied { detail: detail() },
        // OpenDAL reports S3's `NoSuchBucket` as a config error.
        ErrorKind::ConfigInvalid if e.to_string().contains("NoSuchBucket") => {
            ProviderError::Unavailable {
                detail: format!("{name}: the bucket does not exist"),
            }
        }
        ErrorKind::RateLimited => ProviderError::Unavailable { detail: detail() },
        _ if e.is_temporary() || e.is_persistent() => {
            ProviderError::Unavailable { detail: detail() }
        }
        _ => ProviderError::Other { detail: detail() },
    }
}

/// True when some valid key can start with `prefix`: every component
/// before the last is one a key may have.
fn prefix_can_match(prefix: &str) -> bool {
    if prefix.starts_with('/') || prefix.contains('\0') || prefix.contains('\\') {
        return false;
    }
    let mut components: Vec<&str> = prefix.split('/').collect();
    components.pop();
    components
        .iter()
        .all(|c| !c.is_empty() && *c != "." && *c != "..")
}

#[async_trait]
impl StorageProvider for S3Provider {
    async fn put(&self, key: &str, data: Bytes) -> ProviderResult<()> {
        self.write(key, data, false).await
    }

    async fn put_if_absent(&self, key: &str, data: Bytes) -> ProviderResult<()> {
        self.write(key, data, true).await
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> ProviderResult<Bytes> {
        validate_key(key)?;
        let read = match range {
            None => self.op.read(key).await,
            Some(r) => {
                // OpenDAL insists on getting every byte asked for, so the
                // range is clamped to the object's size first.
                let r = clamp_range(Some(r), self.head(key).await?.size);
                if r.is_empty() {
                    return Ok(Bytes::new());
                }
                self.op.read_with(key).range(r).await
            }
        };
        match read {
            Ok(buf) => Ok(buf.to_bytes()),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(self.not_found(key).await),
            Err(e) => Err(self.error(key, e)),
        }
    }

    async fn head(&self, key: &str) -> ProviderResult<ObjectMeta> {
        validate_key(key)?;
        let meta = match self.op.stat(key).await {
            Ok(meta) if meta.mode().is_file() => meta,
            Ok(_) => return Err(self.not_found(key).await),
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(self.not_found(key).await),
            Err(e) => return Err(self.error(key, e)),
        };
        Ok(ObjectMeta {
            key: key.to_owned(),
            size: meta.content_length(),
        })
    }

    async fn list(&self, prefix: &str) -> ProviderResult<Vec<ObjectMeta>> {
        if !prefix_can_match(prefix) {
            return Ok(Vec::new());
        }
        let entries = self
            .op
            .list_with(prefix)
            .recursive(true)
            .await
            .map_err(|e| self.error(prefix, e))?;
        Ok(entries
            .into_iter()
            .filter(|e| e.metadata().mode().is_file() && e.path().starts_with(prefix))
            .map(|e| ObjectMeta {
                size: e.metadata().content_length(),
                key: e.path().to_owned(),
            })
            .collect())
    }

    async fn delete(&self, key: &str) -> ProviderResult<()> {
        validate_key(key)?;
        self.op.delete(key).await.map_err(|e| self.error(key, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_no_key_can_have_are_refused() {
        for bad in ["/", "/a", "../", "a//", "./a", "a/../b", "a\\b"] {
            assert!(!prefix_can_match(bad), "{bad:?}");
        }
        for good in ["", "a", "a/", "a/b", "packs/ab", "a/.", "a/.."] {
            assert!(prefix_can_match(good), "{good:?}");
        }
    }

    #[test]
    fn errors_map_to_categories() {
        let map = |e| map_error("s3://b/", "k", e);
        let kind = |k| opendal::Error::new(k, "x");
        assert!(map(kind(ErrorKind::NotFound)).is_not_found());
        assert!(matches!(
            map(kind(ErrorKind::ConditionNotMatch)),
            ProviderError::AlreadyExists { .. }
        ));
        assert!(matches!(
            map(kind(ErrorKind::PermissionDenied)),
            ProviderError::Denied { .. }
        ));
        assert!(map(kind(ErrorKind::RateLimited)).is_transient());
        assert!(map(kind(ErrorKind::Unexpected).set_temporary()).is_transient());
        assert!(map(kind(ErrorKind::Unexpected).set_persistent()).is_transient());
        assert!(map(opendal::Error::new(
            ErrorKind::ConfigInvalid,
            "S3Error { code: \"NoSuchBucket\" }"
        ))
        .is_transient());
        assert!(matches!(
            map(kind(ErrorKind::Unexpected)),
            ProviderError::Other { .. }
        ));
    }

    #[test]
    fn written_in_credentials_need_the_opt_in() {
        let mut cfg = S3Config::new("b").with_endpoint("http://127.0.0.1:1");
        cfg.access_key_id = Some(Secret::new("AKIDSECRETID"));
        cfg.secret_access_key = Some(Secret::new("very-secret"));
        let err = S3Provider::new(cfg.clone()).unwrap_err();
        assert!(
            err.to_string().contains("allow_plaintext_credentials"),
            "{err}"
        );
        assert!(!err.to_string().contains("very-secret"));
        cfg.allow_plaintext_credentials = true;
        let p = S3Provider::new(cfg).unwrap();
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("very-secret") && !shown.contains("AKIDSECRETID"),
            "{shown}"
        );
    }

    #[test]
    fn prefixes_are_checked() {
        let cfg = S3Config::new("b").with_endpoint("http://127.0.0.1:1");
        assert!(S3Provider::new(cfg.clone().with_prefix("a/../b")).is_err());
        assert!(S3Provider::new(cfg.clone().with_prefix("/studio/a/")).is_ok());
        assert!(S3Provider::new(S3Config::new("")).is_err());
    }
}
