//! [`S3Config`]: where an S3 location lives and how to reach it, in the
//! shape of a TOML table.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Configuration of one S3 location, as read from TOML:
///
/// ```toml
/// endpoint = "http://127.0.0.1:9000"   # omit for AWS
/// region = "eu-west-1"
/// bucket = "wedding-archive"
/// prefix = "studio-a"                  # optional
/// credentials = "environment"          # or "aws" (the default)
/// ```
///
/// Secrets are normally taken from the environment or the standard AWS
/// sources (see [`CredentialSource`]). Writing them into the config needs
/// `allow_plaintext_credentials = true`; [`fmt::Debug`] never shows them.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint URL of an S3-compatible server (`http://host:port`); `None`
    /// for AWS itself, whose endpoint follows from the region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Signing region. When absent, `AWS_REGION`, then `AWS_DEFAULT_REGION`,
    /// then `us-east-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The bucket. It must exist: the provider never creates or deletes
    /// buckets.
    pub bucket: String,
    /// Key prefix inside the bucket under which this location's objects
    /// live (`""` for the whole bucket). Keys given to and listed by the
    /// provider are relative to it.
    #[serde(default)]
    pub prefix: String,
    /// Path-style requests (`endpoint/bucket/key`) rather than virtual-host
    /// style (`bucket.endpoint/key`). `None` means path style exactly when
    /// a custom endpoint is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_style: Option<bool>,
    /// Timeout of one request, and of each read or write of a transfer, in
    /// seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Retries of a failed request whose error is temporary (network
    /// failures, timeouts, 5xx, throttling), with jittered exponential
    /// back-off. 0 disables retries.
    #[serde(default = "default_retry_attempts")]
    pub retry_attempts: usize,
    /// Where credentials come from when none are written in the config.
    #[serde(default)]
    pub credentials: CredentialSource,
    /// Opt-in that allows `access_key_id` and `secret_access_key` in the
    /// config itself. Without it, a config holding them is refused.
    #[serde(default)]
    pub allow_plaintext_credentials: bool,
    /// Access key id written in the config (needs
    /// `allow_plaintext_credentials`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<Secret>,
    /// Secret access key written in the config (needs
    /// `allow_plaintext_credentials`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<Secret>,
    /// Session token written in the config, for temporary credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<Secret>,
}

fn default_timeout_secs() -> u64 {
    60
}

fn default_retry_attempts() -> usize {
    3
}

impl S3Config {
    /// A config for `bucket` with every other field at its default: AWS's
    /// endpoint, credentials from the standard AWS sources.
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Config {
            endpoint: None,
            region: None,
            bucket: bucket.into(),
            prefix: String::new(),
            path_style: None,
            timeout_secs: default_timeout_secs(),
            retry_attempts: default_retry_attempts(),
            credentials: CredentialSource::default(),
            allow_plaintext_credentials: false,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
        }
    }

    /// The same config against a custom endpoint (MinIO, moto, Garage...).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The same config with a key prefix inside the bucket.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The same config taking credentials from `source`.
    pub fn with_credentials(mut self, source: CredentialSource) -> Self {
        self.credentials = source;
        self
    }

    /// Whether requests use path style (see [`S3Config::path_style`]).
    pub fn uses_path_style(&self) -> bool {
        self.path_style.unwrap_or(self.endpoint.is_some())
    }
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .field("timeout_secs", &self.timeout_secs)
            .field("retry_attempts", &self.retry_attempts)
            .field("credentials", &self.credentials)
            .field(
                "allow_plaintext_credentials",
                &self.allow_plaintext_credentials,
            )
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .finish()
    }
}

/// Where an [`S3Config`] without written-in credentials gets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialSource {
    /// The standard AWS chain: environment variables, `~/.aws/config` and
    /// `~/.aws/credentials` profiles, web identity, and instance metadata.
    #[default]
    Aws,
    /// Only `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and (optionally)
    /// `AWS_SESSION_TOKEN` from the environment; no files, no instance
    /// metadata. What tests and CI use.
    Environment,
}

impl std::str::FromStr for CredentialSource {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "aws" => Ok(CredentialSource::Aws),
            "environment" => Ok(CredentialSource::Environment),
            other => Err(crate::Error::invalid(format!(
                "unknown credential source {other:?}: expected aws or environment"
            ))),
        }
    }
}

/// A secret string (an access key, a session token): zeroed on drop and
/// shown as `"***"` by [`fmt::Debug`] and [`fmt::Display`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret itself; only for handing it to the signer.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_like_table_parses_with_defaults() {
        let cfg: S3Config = serde_json::from_str(
            r#"{"endpoint": "http://127.0.0.1:9000", "bucket": "b", "credentials": "environment"}"#,
        )
        .unwrap();
        assert_eq!(cfg.bucket, "b");
        assert_eq!(cfg.prefix, "");
        assert_eq!(cfg.timeout_secs, 60);
        assert_eq!(cfg.retry_attempts, 3);
        assert_eq!(cfg.credentials, CredentialSource::Environment);
        assert!(
            cfg.uses_path_style(),
            "custom endpoints default to path style"
        );
        assert!(
            !S3Config::new("b").uses_path_style(),
            "AWS defaults to virtual hosts"
        );
        let err = serde_json::from_str::<S3Config>(r#"{"bucket": "b", "buckett": "c"}"#);
        assert!(err.is_err(), "unknown fields are refused");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut cfg = S3Config::new("b");
        cfg.access_key_id = Some(Secret::new("AKIAEXAMPLEKEYID"));
        cfg.secret_access_key = Some(Secret::new("wJalrXUtnFEMI/K7MDENG"));
        cfg.session_token = Some(Secret::new("FwoGZXIvYXdzEXAMPLE"));
        let shown = format!("{cfg:?} {cfg:#?}");
        for secret in ["AKIAEXAMPLEKEYID", "wJalrXUtnFEMI", "FwoGZXIvYXdzEXAMPLE"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("***"));
    }

    #[test]
    fn credential_sources_parse_from_strings() {
        assert_eq!(
            "aws".parse::<CredentialSource>().unwrap(),
            CredentialSource::Aws
        );
        assert_eq!(
            "environment".parse::<CredentialSource>().unwrap(),
            CredentialSource::Environment
        );
        assert!("env".parse::<CredentialSource>().is_err());
    }
}
