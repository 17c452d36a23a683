//! Deep checks of one pack: every shard read and checked (header, body
//! hash, size), and for a sample of packs the pack decoded, its hash
//! compared with its id, and every chunk decrypted and checked against its id.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::join_all;
use sha2::{Digest, Sha256};

use super::cursor::RateLimiter;
use super::domain::Domains;
use super::quick::shard_finding;
use super::report::{Finding, FindingKind};
use crate::engine::Inner;
use crate::erasure::open_shard;
use crate::pack::open_chunk_checked;
use crate::provider::ProviderError;
use crate::repo::shard_key;
use crate::snapshot::PackRecord;

/// What checking one pack showed.
#[derive(Debug, Default)]
pub(crate) struct PackOutcome {
    pub findings: Vec<Finding>,
    pub shards_checked: u64,
    pub decoded: bool,
    pub chunks_verified: u64,
    pub key_domain_skipped: bool,
}

/// True when the pack is in this pass's sample.
pub(crate) fn sampled(seed: u64, pack_id: &str, one_in: u32) -> bool {
    match one_in {
        0 => false,
        1 => true,
        n => {
            let mut h = Sha256::new();
            h.update(seed.to_le_bytes());
            h.update(pack_id.as_bytes());
            let d = h.finalize();
            let mut first = [0u8; 8];
            first.copy_from_slice(&d[..8]);
            u64::from_le_bytes(first) % u64::from(n) == 0
        }
    }
}

/// Reads and checks every shard of `pack`; decodes it when `sample`.
pub(crate) async fn check_pack(
    inner: &Inner,
    pack: Arc<PackRecord>,
    limiter: &RateLimiter,
    domains: &Domains,
    skip_locations: &[String],
    sample: bool,
) -> PackOutcome {
    let mut out = PackOutcome::default();
    let n = pack.k + pack.m;
    let mut id = [0u8; 32];
    if hex::decode_to_slice(&pack.id, &mut id).is_err() || pack.locations.len() != n {
        out.findings.push(shard_finding(
            &pack,
            0,
            FindingKind::Corrupt,
            "malformed pack record",
        ));
        return out;
    }
    let reads = (0..n).map(|i| {
        let pack = pack.clone();
        async move {
            let loc = &pack.locations[i];
            if skip_locations.contains(loc) {
                return (i, None);
            }
            let Some(l) = inner.store.location(loc) else {
                return (
                    i,
                    Some(Err((
                        FindingKind::Missing,
                        format!("location {loc} is not configured"),
                    ))),
                );
            };
            let r = l.provider.get(&shard_key(&pack.id, i), None).await;
            inner.store.observe(loc, &r);
            let r = match r {
                Ok(b) => {
                    limiter.consume(b.len() as u64).await;
                    check_shard(&pack, &id, i, b)
                }
                Err(ProviderError::NotFound { .. }) => {
                    Err((FindingKind::Missing, "not found at its location".into()))
                }
                Err(e) => Err((FindingKind::Unreachable, e.to_string())),
            };
            (i, Some(r))
        }
    });
    let mut shards: Vec<Option<Bytes>> = vec![None; n];
    let mut good = 0;
    for (i, r) in join_all(reads).await {
        match r {
            None => {}
            Some(Ok(b)) => {
                out.shards_checked += 1;
                shards[i] = Some(b);
                good += 1;
            }
            Some(Err((kind, detail))) => {
                if kind != FindingKind::Unreachable {
                    out.shards_checked += 1;
                }
                out.findings.push(shard_finding(&pack, i, kind, detail));
            }
        }
    }
    if !sample || good < pack.k {
        return out;
    }
    let (k, m, pack_len) = (pack.k, pack.m, pack.pack_len);
    let decoded = tokio::task::spawn_blocking(move || {
        crate::pack::decode_verified(&id, k, m, &shards, pack_len, None)
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    let data = match decoded {
        Ok(d) => d,
        Err(detail) => {
            out.findings.push(pack_finding(&pack, detail));
            return out;
        }
    };
    out.decoded = true;
    let Some((keys, header)) = domains.open_header(inner, &pack.id, &data).await else {
        out.key_domain_skipped = true;
        return out;
    };
    if header.len() != pack.chunks.len() {
        out.findings.push(pack_finding(
            &pack,
            format!(
                "pack header lists {} chunks, the index {}",
                header.len(),
                pack.chunks.len()
            ),
        ));
    }
    let pack2 = pack.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let mut ok = 0u64;
        let mut bad = Vec::new();
        for entry in &pack2.chunks {
            match open_chunk_checked(&data, entry, &keys.data, |d| keys.chunk_id(d)) {
                Ok(_) => ok += 1,
                Err(e) => bad.push(format!("chunk {}: {e}", entry.id)),
            }
        }
        (ok, bad)
    })
    .await;
    match checked {
        Ok((ok, bad)) => {
            out.chunks_verified = ok;
            for detail in bad {
                out.findings.push(pack_finding(&pack, detail));
            }
        }
        Err(e) => out.findings.push(pack_finding(&pack, e.to_string())),
    }
    out
}

fn pack_finding(pack: &PackRecord, detail: String) -> Finding {
    Finding {
        location: "-".into(),
        object: format!("pack {}", pack.id),
        kind: FindingKind::Corrupt,
        detail,
        pack_id: Some(pack.id.clone()),
        shard_index: None,
    }
}

/// Checks one fetched shard object against its pack record.
fn check_shard(
    pack: &PackRecord,
    id: &[u8; 32],
    i: usize,
    bytes: Bytes,
) -> std::result::Result<Bytes, (FindingKind, String)> {
    if bytes.len() as u64 != pack.shard_size {
        return Err((
            FindingKind::WrongSize,
            format!(
                "{} bytes, the index records {}",
                bytes.len(),
                pack.shard_size
            ),
        ));
    }
    let (h, _) = open_shard(&bytes).map_err(|e| (FindingKind::Corrupt, e.to_string()))?;
    if &h.pack_id != id {
        return Err((FindingKind::Corrupt, "shard belongs to another pack".into()));
    }
    if usize::from(h.index) != i || usize::from(h.k) != pack.k || usize::from(h.m) != pack.m {
        return Err((
            FindingKind::Corrupt,
            format!(
                "header says index {} of {}+{}, expected {i} of {}+{}",
                h.index, h.k, h.m, pack.k, pack.m
            ),
        ));
    }
    Ok(bytes)
}
