//! The erasure codec trait and its Reed–Solomon implementation.

use reed_solomon_erasure::galois_8::ReedSolomon as Gf8ReedSolomon;

use super::ErasureError;

/// Largest `k + m`: shard indices are stored in one byte.
pub const MAX_SHARDS: usize = 255;

/// Identifies the erasure codec recorded in each shard header, so a shard
/// can be decoded years later by the codec that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CodecId {
    /// Systematic Reed–Solomon over GF(2^8) (Vandermonde-derived matrix, as
    /// in `reed-solomon-erasure` 6 / Backblaze's JavaReedSolomon).
    ReedSolomonGf8 = 1,
}

impl TryFrom<u8> for CodecId {
    type Error = ErasureError;

    fn try_from(byte: u8) -> Result<Self, Self::Error> {
        match byte {
            1 => Ok(CodecId::ReedSolomonGf8),
            other => Err(ErasureError::UnknownCodec(other)),
        }
    }
}

/// An erasure codec: `k` data shards + `m` parity shards of equal length.
///
/// Any `k` of the `k + m` shards determine all of them. `m == 0` is allowed
/// (no redundancy) and zero-length shards are allowed (nothing to compute).
pub trait ErasureCodec: Send + Sync {
    /// The id recorded in shard headers written with this codec.
    fn id(&self) -> CodecId;

    /// `shards` has k+m equal-length buffers; the first k hold data; fills
    /// the last m with parity. Slices, so that the bodies can live inside
    /// the shard objects they are written as (no copy after coding).
    fn encode(&self, k: usize, m: usize, shards: &mut [&mut [u8]]) -> Result<(), ErasureError>;

    /// `shards` has k+m entries, None for missing ones; at least k present;
    /// fills in all missing.
    fn reconstruct(
        &self,
        k: usize,
        m: usize,
        shards: &mut [Option<Vec<u8>>],
    ) -> Result<(), ErasureError>;

    /// Like [`reconstruct`](Self::reconstruct) but only the first `k` (data)
    /// entries are guaranteed filled in; missing parity may stay `None`.
    /// The default calls `reconstruct`.
    fn reconstruct_data(
        &self,
        k: usize,
        m: usize,
        shards: &mut [Option<Vec<u8>>],
    ) -> Result<(), ErasureError> {
        self.reconstruct(k, m, shards)
    }
}

/// Reed–Solomon over GF(2^8), via `reed_solomon_erasure::galois_8`.
///
/// Stateless: the coding matrix is built per call (cheap next to coding
/// megabytes of shard data).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReedSolomon;

static REED_SOLOMON: ReedSolomon = ReedSolomon;

/// The codec for an id read from a shard header.
pub fn codec_for(id: CodecId) -> &'static dyn ErasureCodec {
    match id {
        CodecId::ReedSolomonGf8 => &REED_SOLOMON,
    }
}

/// Checks `k >= 1` and `k + m <= 255`.
pub(crate) fn check_params(k: usize, m: usize) -> Result<(), ErasureError> {
    if k == 0 {
        return Err(ErasureError::InvalidParameters(
            "k (data shards) must be at least 1".into(),
        ));
    }
    if k.saturating_add(m) > MAX_SHARDS {
        return Err(ErasureError::InvalidParameters(format!(
            "k + m = {k} + {m} exceeds {MAX_SHARDS} shards"
        )));
    }
    Ok(())
}

fn check_slots(k: usize, m: usize, got: usize) -> Result<(), ErasureError> {
    check_params(k, m)?;
    if got != k + m {
        return Err(ErasureError::InvalidParameters(format!(
            "expected k + m = {} shard slots, got {got}",
            k + m
        )));
    }
    Ok(())
}

fn codec_error(e: reed_solomon_erasure::Error) -> ErasureError {
    ErasureError::Codec(e.to_string())
}

impl ReedSolomon {
    fn rebuild(
        k: usize,
        m: usize,
        shards: &mut [Option<Vec<u8>>],
        data_only: bool,
    ) -> Result<(), ErasureError> {
        check_slots(k, m, shards.len())?;
        let mut len = None;
        let mut present = 0;
        for shard in shards.iter().flatten() {
            present += 1;
            match len {
                None => len = Some(shard.len()),
                Some(l) if l != shard.len() => {
                    return Err(ErasureError::InvalidParameters(
                        "shards differ in length".into(),
                    ))
                }
                Some(_) => {}
            }
        }
        if present < k {
            return Err(ErasureError::NotEnoughShards {
                needed: k,
                good: present,
            });
        }
        if present == shards.len() {
            return Ok(());
        }
        if len == Some(0) {
            // Empty shards: every shard is empty, nothing to compute (the
            // library refuses zero-length shards).
            for slot in shards.iter_mut().filter(|s| s.is_none()) {
                *slot = Some(Vec::new());
            }
            return Ok(());
        }
        // Here m >= 1: present >= k and something is missing.
        let rs = Gf8ReedSolomon::new(k, m).map_err(codec_error)?;
        if data_only {
            rs.reconstruct_data(shards).map_err(codec_error)
        } else {
            rs.reconstruct(shards).map_err(codec_error)
        }
    }
}

impl ErasureCodec for ReedSolomon {
    fn id(&self) -> CodecId {
        CodecId::ReedSolomonGf8
    }

    fn encode(&self, k: usize, m: usize, shards: &mut [&mut [u8]]) -> Result<(), ErasureError> {
        check_slots(k, m, shards.len())?;
        let len = shards.first().map_or(0, |s| s.len());
        if shards.iter().any(|s| s.len() != len) {
            return Err(ErasureError::InvalidParameters(
                "shards differ in length".into(),
            ));
        }
        if m == 0 || len == 0 {
            return Ok(());
        }
        let rs = Gf8ReedSolomon::new(k, m).map_err(codec_error)?;
        rs.encode(shards).map_err(codec_error)
    }

    fn reconstruct(
        &self,
        k: usize,
        m: usize,
        shards: &mut [Option<Vec<u8>>],
    ) -> Result<(), ErasureError> {
        Self::rebuild(k, m, shards, false)
    }

    fn reconstruct_data(
        &self,
        k: usize,
        m: usize,
        shards: &mut [Option<Vec<u8>>],
    ) -> Result<(), ErasureError> {
        Self::rebuild(k, m, shards, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls the codec's `encode` on owned buffers.
    trait EncodeVecs {
        fn encode_vecs(
            &self,
            k: usize,
            m: usize,
            shards: &mut [Vec<u8>],
        ) -> Result<(), ErasureError>;
    }
    impl EncodeVecs for ReedSolomon {
        fn encode_vecs(
            &self,
            k: usize,
            m: usize,
            shards: &mut [Vec<u8>],
        ) -> Result<(), ErasureError> {
            let mut refs: Vec<&mut [u8]> = shards.iter_mut().map(Vec::as_mut_slice).collect();
            self.encode(k, m, &mut refs)
        }
    }

    fn encoded(k: usize, m: usize, len: usize) -> Vec<Vec<u8>> {
        let mut shards: Vec<Vec<u8>> = (0..k + m)
            .map(|i| {
                if i < k {
                    (0..len).map(|j| (i * 31 + j * 7) as u8).collect()
                } else {
                    vec![0; len]
                }
            })
            .collect();
        ReedSolomon.encode_vecs(k, m, &mut shards).unwrap();
        shards
    }

    #[test]
    fn reconstructs_any_m_missing() {
        let full = encoded(4, 2, 100);
        for a in 0..6 {
            for b in a + 1..6 {
                let mut partial: Vec<Option<Vec<u8>>> = full.iter().cloned().map(Some).collect();
                partial[a] = None;
                partial[b] = None;
                ReedSolomon.reconstruct(4, 2, &mut partial).unwrap();
                let back: Vec<Vec<u8>> = partial.into_iter().map(Option::unwrap).collect();
                assert_eq!(back, full);
            }
        }
    }

    #[test]
    fn too_few_shards_is_typed() {
        let full = encoded(3, 1, 10);
        let mut partial: Vec<Option<Vec<u8>>> = full.into_iter().map(Some).collect();
        partial[0] = None;
        partial[1] = None;
        assert_eq!(
            ReedSolomon.reconstruct(3, 1, &mut partial),
            Err(ErasureError::NotEnoughShards { needed: 3, good: 2 })
        );
    }

    #[test]
    fn no_parity_and_empty_shards() {
        let mut shards = encoded(3, 0, 5);
        ReedSolomon.encode_vecs(3, 0, &mut shards).unwrap();
        let mut empty: Vec<Option<Vec<u8>>> = vec![Some(vec![]), None, Some(vec![])];
        ReedSolomon.reconstruct(2, 1, &mut empty).unwrap();
        assert_eq!(empty, vec![Some(vec![]); 3]);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let mut none: Vec<Vec<u8>> = vec![];
        assert!(matches!(
            ReedSolomon.encode_vecs(0, 1, &mut none),
            Err(ErasureError::InvalidParameters(_))
        ));
        let mut many = vec![vec![0u8; 1]; 256];
        assert!(matches!(
            ReedSolomon.encode_vecs(200, 56, &mut many),
            Err(ErasureError::InvalidParameters(_))
        ));
        let mut uneven = vec![vec![0u8; 2], vec![0u8; 3], vec![0u8; 2]];
        assert!(matches!(
            ReedSolomon.encode_vecs(2, 1, &mut uneven),
            Err(ErasureError::InvalidParameters(_))
        ));
        assert_eq!(CodecId::try_from(9), Err(ErasureError::UnknownCodec(9)));
        assert_eq!(
            codec_for(CodecId::ReedSolomonGf8).id(),
            CodecId::ReedSolomonGf8
        );
    }
}
