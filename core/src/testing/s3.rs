//! Helpers for tests against a local S3 server (moto): the endpoint from
//! the environment, and bucket creation and removal.
//!
//! OpenDAL manages objects, not buckets, so buckets are made here with a
//! plain unsigned HTTP request, which moto in server mode accepts. Against
//! a server that wants signed bucket requests (AWS, MinIO), create the
//! buckets beforehand.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::provider::s3::{CredentialSource, S3Config};

/// Environment variable naming the test S3 server (`http://host:port`).
pub const ENDPOINT_VAR: &str = "HEIRLOOM_TEST_S3_ENDPOINT";

/// The test server's endpoint, or `None` (after printing why the caller
/// skips) when [`ENDPOINT_VAR`] is unset.
pub fn endpoint_or_skip(test: &str) -> Option<String> {
    match std::env::var(ENDPOINT_VAR) {
        Ok(e) if !e.is_empty() => Some(e),
        _ => {
            eprintln!("skipping {test}: {ENDPOINT_VAR} is not set (source .ci/s3-env.sh)");
            None
        }
    }
}

/// A bucket name no other test or run uses: `heirloom-s3-<tag>-<hex>`.
pub fn unique_bucket(tag: &str) -> String {
    format!("heirloom-s3-{tag}-{:08x}", rand::random::<u32>())
}

/// A config for `bucket` on the test server, with credentials from the
/// environment only (never `~/.aws`, never instance metadata) and short
/// retries.
pub fn test_config(endpoint: &str, bucket: &str) -> S3Config {
    let mut cfg = S3Config::new(bucket)
        .with_endpoint(endpoint)
        .with_credentials(CredentialSource::Environment);
    cfg.region = Some("us-east-1".into());
    cfg.timeout_secs = 30;
    cfg.retry_attempts = 2;
    cfg
}

/// Creates `bucket` on the server at `endpoint`.
pub async fn create_bucket(endpoint: &str, bucket: &str) -> io::Result<()> {
    bucket_request(endpoint, "PUT", bucket).await
}

/// Removes the (empty) `bucket` from the server at `endpoint`.
pub async fn delete_bucket(endpoint: &str, bucket: &str) -> io::Result<()> {
    bucket_request(endpoint, "DELETE", bucket).await
}

async fn bucket_request(endpoint: &str, method: &str, bucket: &str) -> io::Result<()> {
    let (endpoint, method, bucket) = (endpoint.to_owned(), method.to_owned(), bucket.to_owned());
    tokio::task::spawn_blocking(move || http_request(&endpoint, &method, &format!("/{bucket}")))
        .await
        .map_err(io::Error::other)?
}

/// One HTTP/1.1 request without a body; fails unless the status is 2xx.
fn http_request(endpoint: &str, method: &str, path: &str) -> io::Result<()> {
    let host = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| io::Error::other(format!("{endpoint}: only http:// endpoints")))?
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split(' ').nth(1).unwrap_or("");
    if status.starts_with('2') {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{method} {path} on {endpoint}: {}",
            response.lines().next().unwrap_or("no response")
        )))
    }
}

/// Environment variable with the path of the `moto_server` executable, for
/// tests that start (and kill) servers of their own.
pub const MOTO_SERVER_VAR: &str = "HEIRLOOM_TEST_MOTO_SERVER";

/// A `moto_server` process this test started on a free loopback port;
/// killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct MotoServer {
    child: std::process::Child,
    endpoint: String,
}

impl MotoServer {
    /// Starts the `moto_server` named by [`MOTO_SERVER_VAR`] with the extra
    /// environment `envs`, and waits (up to 30 s) until it answers. `None`,
    /// after printing why the caller skips, when the variable is unset.
    pub fn spawn_or_skip(test: &str, envs: &[(&str, &str)]) -> Option<io::Result<MotoServer>> {
        match std::env::var(MOTO_SERVER_VAR) {
            Ok(bin) if !bin.is_empty() => Some(MotoServer::spawn(&bin, envs)),
            _ => {
                eprintln!("skipping {test}: {MOTO_SERVER_VAR} is not set (source .ci/s3-env.sh)");
                None
            }
        }
    }

    /// Starts `moto_server` at path `bin`; see [`MotoServer::spawn_or_skip`].
    pub fn spawn(bin: &str, envs: &[(&str, &str)]) -> io::Result<MotoServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = std::process::Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(envs.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let mut server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..300 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                return Err(io::Error::other(format!("moto_server exited: {status}")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        server.kill();
        Err(io::Error::other("moto_server did not listen within 30 s"))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Kills the server with SIGKILL (as a crash would) and reaps it.
    pub fn kill(&mut self) {
        if let Err(e) = self.child.kill() {
            tracing::warn!(error = %e, "could not kill moto_server");
        }
        let _ = self.child.wait();
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}
