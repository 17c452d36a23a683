//! Splitting a sealed pack into shard objects, and getting it back.

use bytes::Bytes;

use super::codec::{check_params, codec_for};
use super::shard::{body_digest, open_shard, split_shard, SHARD_FORMAT_VERSION, SHARD_HEADER_LEN};
use super::{ErasureCodec, ErasureError, ShardHeader};

/// A pack rebuilt by [`decode_pack`], with the shards that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedPack {
    /// The pack, byte-identical to what [`encode_pack`] was given.
    pub data: Vec<u8>,
    /// Shards that were fetched but rejected, by index, with the reason,
    /// in index order. Missing (`None`) shards are not listed.
    pub bad_shards: Vec<(usize, ErasureError)>,
}

/// Builds the k+m shard objects (header+body bytes each) of one pack; shard i
/// goes to index i.
///
/// Each body is `ceil(pack.len() / k)` bytes; the last data shard is padded
/// with zeros. An empty pack is allowed: every body is then empty.
pub fn encode_pack(
    codec: &dyn ErasureCodec,
    pack_id: [u8; 32],
    pack: &[u8],
    k: usize,
    m: usize,
) -> Result<Vec<Bytes>, ErasureError> {
    encode_pack_reusing(codec, pack_id, pack, k, m, &mut Vec::new())
}

/// [`encode_pack`], building the objects in buffers taken from `spare`
/// (any left over stay there) before allocating new ones: a backup gives
/// the buffers of written shards back, so that steady state allocates no
/// new memory (fresh pages each cost the kernel a fault).
pub fn encode_pack_reusing(
    codec: &dyn ErasureCodec,
    pack_id: [u8; 32],
    pack: &[u8],
    k: usize,
    m: usize,
    spare: &mut Vec<Vec<u8>>,
) -> Result<Vec<Bytes>, ErasureError> {
    check_params(k, m)?;
    let body_len = pack.len().div_ceil(k);
    // Each object is allocated once at its final size; data is copied into
    // it and parity computed in place, then the header is filled in.
    let mut objects: Vec<Vec<u8>> = (0..k + m)
        .map(|i| {
            let mut object = spare.pop().unwrap_or_default();
            object.clear();
            object.reserve_exact(SHARD_HEADER_LEN + body_len);
            object.resize(SHARD_HEADER_LEN, 0);
            if i < k {
                let start = i.saturating_mul(body_len).min(pack.len());
                let end = start.saturating_add(body_len).min(pack.len());
                object.extend_from_slice(&pack[start..end]);
            }
            object.resize(SHARD_HEADER_LEN + body_len, 0);
            object
        })
        .collect();
    let mut bodies: Vec<&mut [u8]> = objects
        .iter_mut()
        .map(|o| &mut o[SHARD_HEADER_LEN..])
        .collect();
    codec.encode(k, m, &mut bodies)?;
    let template = ShardHeader {
        version: SHARD_FORMAT_VERSION,
        codec: codec.id(),
        pack_id,
        index: 0,
        k: to_u8(k)?,
        m: to_u8(m)?,
        pack_len: pack.len() as u64,
        body_len: body_len as u64,
        body_hash: [0; 32],
    };
    objects
        .into_iter()
        .enumerate()
        .map(|(i, mut object)| {
            let (head, body) = object.split_at_mut(SHARD_HEADER_LEN);
            let header = ShardHeader {
                index: to_u8(i)?,
                body_hash: body_digest(template.version, body),
                ..template.clone()
            };
            head.copy_from_slice(&header.to_bytes());
            Ok(Bytes::from(object))
        })
        .collect()
}

/// Rebuilds the pack from shard objects: `shards[i]` is the object at index i
/// if it was fetched (None otherwise).
///
/// Each present shard is checked with [`open_shard`]; a shard that fails its
/// check, or whose header disagrees with the caller (`expected_pack_id`, `k`,
/// `m`, its index != i) or with the majority of the other good shards (pack
/// length, codec), is treated as missing and reported in
/// [`DecodedPack::bad_shards`]. Needs k good ones. When the k data shards are
/// all good the codec is not run: their bodies are concatenated and truncated.
pub fn decode_pack(
    expected_pack_id: &[u8; 32],
    k: usize,
    m: usize,
    shards: &[Option<Bytes>],
) -> Result<DecodedPack, ErasureError> {
    decode_surveyed(
        Survey::new(expected_pack_id, k, m, shards, true)?,
        Vec::new(),
    )
}

/// As [`decode_pack`], for shards whose bodies the caller has already
/// checked with [`open_shard`] (a restore checks each as it arrives, so
/// that a corrupt one is replaced at once): headers are checked again, body
/// digests are not computed a second time. The pack is written into
/// `reuse` (cleared first), so a caller decoding pack after pack can keep
/// one allocation per pack in flight.
pub fn decode_opened_pack(
    expected_pack_id: &[u8; 32],
    k: usize,
    m: usize,
    shards: &[Option<Bytes>],
    reuse: Vec<u8>,
) -> Result<DecodedPack, ErasureError> {
    decode_surveyed(Survey::new(expected_pack_id, k, m, shards, false)?, reuse)
}

fn decode_surveyed(survey: Survey<'_>, reuse: Vec<u8>) -> Result<DecodedPack, ErasureError> {
    let k = survey.k;
    let m = survey.bodies.len() - k;
    let pack_len = usize::try_from(survey.reference.pack_len)
        .map_err(|_| ErasureError::InvalidHeader("pack length does not fit in memory".into()))?;
    let data = if survey.bodies[..k].iter().all(Option::is_some) {
        concat(
            survey.bodies[..k].iter().map(|b| b.unwrap_or_default()),
            pack_len,
            reuse,
        )
    } else {
        let mut work = survey.working_set();
        codec_for(survey.reference.codec).reconstruct_data(k, m, &mut work)?;
        let data_bodies: Option<Vec<&[u8]>> = work[..k].iter().map(|b| b.as_deref()).collect();
        let data_bodies = data_bodies
            .ok_or_else(|| ErasureError::Codec("codec left a data shard missing".into()))?;
        concat(data_bodies.into_iter(), pack_len, reuse)
    };
    if data.len() != pack_len {
        return Err(ErasureError::Codec(format!(
            "rebuilt {} bytes, pack has {pack_len}",
            data.len()
        )));
    }
    Ok(DecodedPack {
        data,
        bad_shards: survey.bad,
    })
}

/// Re-creates the full shard objects (header+body) for the given missing
/// indices, from k good ones (for repair).
///
/// Shards are checked as in [`decode_pack`]. The objects returned are
/// byte-identical to those [`encode_pack`] wrote, in the order of `want`.
/// `want` must hold distinct indices below `k + m`.
pub fn rebuild_shards(
    expected_pack_id: &[u8; 32],
    k: usize,
    m: usize,
    shards: &[Option<Bytes>],
    want: &[usize],
) -> Result<Vec<(usize, Bytes)>, ErasureError> {
    check_params(k, m)?;
    let mut seen = vec![false; k + m];
    for &i in want {
        match seen.get_mut(i) {
            None => {
                return Err(ErasureError::InvalidParameters(format!(
                    "wanted shard index {i} is not below k + m = {}",
                    k + m
                )))
            }
            Some(true) => {
                return Err(ErasureError::InvalidParameters(format!(
                    "shard index {i} wanted twice"
                )))
            }
            Some(s) => *s = true,
        }
    }
    let survey = Survey::new(expected_pack_id, k, m, shards, true)?;
    if want.is_empty() {
        return Ok(Vec::new());
    }
    let mut work = survey.working_set();
    let codec = codec_for(survey.reference.codec);
    if want.iter().all(|&i| i < k) {
        codec.reconstruct_data(k, m, &mut work)?;
    } else {
        codec.reconstruct(k, m, &mut work)?;
    }
    want.iter()
        .map(|&i| {
            let body = work
                .get(i)
                .and_then(Option::as_deref)
                .ok_or_else(|| ErasureError::Codec(format!("codec did not rebuild shard {i}")))?;
            Ok((i, shard_object(&survey.reference, i, body)?))
        })
        .collect()
}

/// The good shards of one pack, found by checking every fetched object.
struct Survey<'a> {
    /// Header the good shards agree on (index field is that of one of them).
    reference: ShardHeader,
    /// Body of each good shard, by index.
    bodies: Vec<Option<&'a [u8]>>,
    /// Rejected shards, by index.
    bad: Vec<(usize, ErasureError)>,
    k: usize,
}

impl<'a> Survey<'a> {
    /// Checks every present shard; fails unless at least `k` are good.
    fn new(
        expected_pack_id: &[u8; 32],
        k: usize,
        m: usize,
        shards: &'a [Option<Bytes>],
        check_bodies: bool,
    ) -> Result<Self, ErasureError> {
        check_params(k, m)?;
        if shards.len() != k + m {
            return Err(ErasureError::InvalidParameters(format!(
                "expected k + m = {} shard slots, got {}",
                k + m,
                shards.len()
            )));
        }
        let mut bad = Vec::new();
        let mut candidates: Vec<(usize, ShardHeader, &'a [u8])> = Vec::new();
        for (i, object) in shards.iter().enumerate() {
            let Some(object) = object else { continue };
            match check_one(expected_pack_id, k, m, i, object, check_bodies) {
                Ok((header, body)) => candidates.push((i, header, body)),
                Err(e) => bad.push((i, e)),
            }
        }
        // Good shards must agree on pack length and codec: keep the largest
        // group (on a tie, the one holding the lowest index).
        let mut best: Option<(&ShardHeader, usize)> = None;
        for (_, h, _) in &candidates {
            let count = candidates
                .iter()
                .filter(|(_, o, _)| same_pack(h, o))
                .count();
            if best.is_none_or(|(_, c)| count > c) {
                best = Some((h, count));
            }
        }
        let Some(reference) = best.map(|(h, _)| h.clone()) else {
            return Err(ErasureError::NotEnoughShards { needed: k, good: 0 });
        };
        let mut bodies = vec![None; k + m];
        let mut good = 0;
        for (i, header, body) in candidates {
            if same_pack(&header, &reference) {
                bodies[i] = Some(body);
                good += 1;
            } else {
                bad.push((
                    i,
                    ErasureError::HeaderMismatch(format!(
                        "pack length {} / codec {:?}, other shards say {} / {:?}",
                        header.pack_len, header.codec, reference.pack_len, reference.codec
                    )),
                ));
            }
        }
        if good < k {
            return Err(ErasureError::NotEnoughShards { needed: k, good });
        }
        bad.sort_by_key(|(i, _)| *i);
        Ok(Survey {
            reference,
            bodies,
            bad,
            k,
        })
    }

    /// Owned copies of the first `k` good bodies (data shards first), the
    /// rest `None`: what a codec needs to rebuild the others.
    fn working_set(&self) -> Vec<Option<Vec<u8>>> {
        let mut taken = 0;
        self.bodies
            .iter()
            .map(|body| match body {
                Some(b) if taken < self.k => {
                    taken += 1;
                    Some(b.to_vec())
                }
                _ => None,
            })
            .collect()
    }
}

/// Opens the object fetched for index `i` and checks it against the caller's
/// pack id, `k`, `m` and `i`.
fn check_one<'a>(
    expected_pack_id: &[u8; 32],
    k: usize,
    m: usize,
    i: usize,
    object: &'a [u8],
    check_body: bool,
) -> Result<(ShardHeader, &'a [u8]), ErasureError> {
    let (header, body) = if check_body {
        open_shard(object)?
    } else {
        split_shard(object)?
    };
    if &header.pack_id != expected_pack_id {
        return Err(ErasureError::WrongPack);
    }
    if usize::from(header.k) != k || usize::from(header.m) != m {
        return Err(ErasureError::HeaderMismatch(format!(
            "shard says k = {}, m = {}; expected k = {k}, m = {m}",
            header.k, header.m
        )));
    }
    if usize::from(header.index) != i {
        return Err(ErasureError::WrongIndex {
            expected: i,
            got: usize::from(header.index),
        });
    }
    Ok((header, body))
}

fn same_pack(a: &ShardHeader, b: &ShardHeader) -> bool {
    a.pack_len == b.pack_len && a.codec == b.codec
}

/// Concatenates data bodies, stopping at `pack_len` bytes, into `data`
/// (cleared first; its allocation is kept).
fn concat<'b>(
    bodies: impl Iterator<Item = &'b [u8]>,
    pack_len: usize,
    mut data: Vec<u8>,
) -> Vec<u8> {
    data.clear();
    data.reserve(pack_len);
    for body in bodies {
        let take = (pack_len - data.len()).min(body.len());
        data.extend_from_slice(&body[..take]);
    }
    data
}

/// The header (from `template`, with index `i` and the body's hash) followed by the body.
fn shard_object(template: &ShardHeader, i: usize, body: &[u8]) -> Result<Bytes, ErasureError> {
    let header = ShardHeader {
        index: to_u8(i)?,
        body_len: body.len() as u64,
        body_hash: body_digest(template.version, body),
        ..template.clone()
    };
    let mut object = Vec::with_capacity(SHARD_HEADER_LEN + body.len());
    object.extend_from_slice(&header.to_bytes());
    object.extend_from_slice(body);
    Ok(Bytes::from(object))
}

fn to_u8(n: usize) -> Result<u8, ErasureError> {
    u8::try_from(n)
        .map_err(|_| ErasureError::InvalidParameters(format!("{n} does not fit in a byte")))
}

#[cfg(test)]
mod tests;
