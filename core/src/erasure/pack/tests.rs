use super::*;
use crate::erasure::ReedSolomon;

const ID: [u8; 32] = [0x5A; 32];

fn sample_pack(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + i / 7) as u8).collect()
}

fn all_present(objects: &[Bytes]) -> Vec<Option<Bytes>> {
    objects.iter().cloned().map(Some).collect()
}

fn flip(object: &Bytes, pos: usize) -> Bytes {
    let mut v = object.to_vec();
    v[pos] ^= 0x01;
    Bytes::from(v)
}

#[test]
fn shard_objects_have_headers_and_bodies() {
    let pack = sample_pack(1001);
    let objects = encode_pack(&ReedSolomon, ID, &pack, 4, 2).unwrap();
    assert_eq!(objects.len(), 6);
    for (i, object) in objects.iter().enumerate() {
        let (h, body) = open_shard(object).unwrap();
        assert_eq!(usize::from(h.index), i);
        assert_eq!((h.k, h.m, h.pack_len, h.body_len), (4, 2, 1001, 251));
        assert_eq!(body.len(), 251);
        if i < 4 {
            let end = (i * 251 + 251).min(1001);
            assert_eq!(&body[..end - i * 251], &pack[i * 251..end]);
        }
    }
}

#[test]
fn decode_with_all_data_shards() {
    let pack = sample_pack(10_000);
    let objects = encode_pack(&ReedSolomon, ID, &pack, 5, 3).unwrap();
    let mut fetched = all_present(&objects);
    // Parity absent: the fast path concatenates the data shards.
    for slot in &mut fetched[5..] {
        *slot = None;
    }
    let decoded = decode_pack(&ID, 5, 3, &fetched).unwrap();
    assert_eq!(decoded.data, pack);
    assert!(decoded.bad_shards.is_empty());
}

#[test]
fn decode_with_m_shards_missing() {
    let pack = sample_pack(77_777);
    let objects = encode_pack(&ReedSolomon, ID, &pack, 4, 3).unwrap();
    for missing in [[0, 1, 2], [1, 3, 5], [4, 5, 6], [0, 3, 6]] {
        let mut fetched = all_present(&objects);
        for i in missing {
            fetched[i] = None;
        }
        let decoded = decode_pack(&ID, 4, 3, &fetched).unwrap();
        assert_eq!(decoded.data, pack, "missing {missing:?}");
        assert!(decoded.bad_shards.is_empty());
    }
    let mut too_few = all_present(&objects);
    for slot in &mut too_few[..4] {
        *slot = None;
    }
    assert_eq!(
        decode_pack(&ID, 4, 3, &too_few),
        Err(ErasureError::NotEnoughShards { needed: 4, good: 3 })
    );
}

#[test]
fn bad_shards_are_treated_as_missing_and_reported() {
    let pack = sample_pack(5_000);
    let objects = encode_pack(&ReedSolomon, ID, &pack, 3, 3).unwrap();
    let other = encode_pack(&ReedSolomon, [0x11; 32], &pack, 3, 3).unwrap();
    let mut fetched = all_present(&objects);
    fetched[0] = Some(other[0].clone()); // another pack
    fetched[1] = Some(objects[2].clone()); // right pack, wrong index
    fetched[4] = Some(flip(&objects[4], SHARD_HEADER_LEN + 3)); // body bit rot
    let decoded = decode_pack(&ID, 3, 3, &fetched).unwrap();
    assert_eq!(decoded.data, pack);
    assert_eq!(
        decoded.bad_shards,
        vec![
            (0, ErasureError::WrongPack),
            (
                1,
                ErasureError::WrongIndex {
                    expected: 1,
                    got: 2
                }
            ),
            (4, ErasureError::BodyHashMismatch),
        ]
    );
}

#[test]
fn disagreeing_headers_are_reported() {
    let pack = sample_pack(3_000);
    let objects = encode_pack(&ReedSolomon, ID, &pack, 2, 2).unwrap();
    // Same pack id and geometry, different length: a consistent but foreign shard.
    let longer = encode_pack(&ReedSolomon, ID, &sample_pack(3_002), 2, 2).unwrap();
    let mut fetched = all_present(&objects);
    fetched[3] = Some(longer[3].clone());
    let decoded = decode_pack(&ID, 2, 2, &fetched).unwrap();
    assert_eq!(decoded.data, pack);
    assert_eq!(decoded.bad_shards.len(), 1);
    assert!(matches!(
        decoded.bad_shards[0],
        (3, ErasureError::HeaderMismatch(_))
    ));

    // Caller's k/m differ from the shards': all rejected.
    let wrong_geometry = encode_pack(&ReedSolomon, ID, &pack, 3, 1).unwrap();
    let err = decode_pack(&ID, 2, 2, &all_present(&wrong_geometry)).unwrap_err();
    assert_eq!(err, ErasureError::NotEnoughShards { needed: 2, good: 0 });
}

#[test]
fn rebuild_shards_is_byte_identical() {
    let pack = sample_pack(12_345);
    let objects = encode_pack(&ReedSolomon, ID, &pack, 4, 2).unwrap();
    let mut fetched = all_present(&objects);
    fetched[1] = None;
    fetched[5] = Some(flip(&objects[5], 10));
    let rebuilt = rebuild_shards(&ID, 4, 2, &fetched, &[5, 1]).unwrap();
    assert_eq!(
        rebuilt,
        vec![(5, objects[5].clone()), (1, objects[1].clone())]
    );
    // Data-only rebuild path.
    let rebuilt = rebuild_shards(&ID, 4, 2, &fetched, &[1]).unwrap();
    assert_eq!(rebuilt, vec![(1, objects[1].clone())]);

    assert!(matches!(
        rebuild_shards(&ID, 4, 2, &fetched, &[6]),
        Err(ErasureError::InvalidParameters(_))
    ));
    assert!(matches!(
        rebuild_shards(&ID, 4, 2, &fetched, &[1, 1]),
        Err(ErasureError::InvalidParameters(_))
    ));
}

#[test]
fn empty_pack_and_no_parity() {
    for (k, m) in [(1, 0), (3, 2), (1, 4)] {
        let objects = encode_pack(&ReedSolomon, ID, &[], k, m).unwrap();
        assert!(objects.iter().all(|o| o.len() == SHARD_HEADER_LEN));
        let mut fetched = all_present(&objects);
        for slot in fetched.iter_mut().take(m) {
            *slot = None;
        }
        assert_eq!(
            decode_pack(&ID, k, m, &fetched).unwrap().data,
            Vec::<u8>::new()
        );
        let want: Vec<usize> = (0..m).collect();
        let rebuilt = rebuild_shards(&ID, k, m, &fetched, &want).unwrap();
        for (i, object) in rebuilt {
            assert_eq!(object, objects[i]);
        }
    }
    let pack = sample_pack(999);
    let objects = encode_pack(&ReedSolomon, ID, &pack, 3, 0).unwrap();
    assert_eq!(
        decode_pack(&ID, 3, 0, &all_present(&objects)).unwrap().data,
        pack
    );
}

#[test]
fn invalid_parameters_are_refused() {
    for (k, m) in [(0, 2), (250, 6), (usize::MAX, usize::MAX)] {
        assert!(matches!(
            encode_pack(&ReedSolomon, ID, b"x", k, m),
            Err(ErasureError::InvalidParameters(_))
        ));
        assert!(matches!(
            decode_pack(&ID, k, m, &[]),
            Err(ErasureError::InvalidParameters(_))
        ));
    }
    assert!(matches!(
        decode_pack(&ID, 2, 1, &[None, None]),
        Err(ErasureError::InvalidParameters(_))
    ));
}

#[test]
fn garbage_objects_are_reported_not_panicked_on() {
    let pack = sample_pack(4_000);
    let objects = encode_pack(&ReedSolomon, ID, &pack, 2, 2).unwrap();
    let mut fetched = all_present(&objects);
    fetched[0] = Some(Bytes::new());
    fetched[1] = Some(Bytes::from_static(&[0xFF; 500]));
    let decoded = decode_pack(&ID, 2, 2, &fetched).unwrap();
    assert_eq!(decoded.data, pack);
    assert_eq!(
        decoded.bad_shards,
        vec![
            (
                0,
                ErasureError::Truncated {
                    needed: SHARD_HEADER_LEN,
                    got: 0
                }
            ),
            (1, ErasureError::BadMagic),
        ]
    );
}

#[test]
fn reusing_buffers_builds_the_same_objects_in_them() {
    let pack: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
    let fresh = encode_pack(&ReedSolomon, [4; 32], &pack, 3, 2).unwrap();
    // Spare buffers of any size and content; one more than needed stays spare.
    let mut spare: Vec<Vec<u8>> = (0..6).map(|i| vec![0xEE; i * 3000]).collect();
    let ptrs: Vec<*const u8> = spare[1..].iter().map(|v| v.as_ptr()).collect();
    let reused = encode_pack_reusing(&ReedSolomon, [4; 32], &pack, 3, 2, &mut spare).unwrap();
    assert_eq!(reused, fresh);
    assert_eq!(spare.len(), 1);
    // Buffers already big enough are written in place, not reallocated.
    let big_enough = ptrs
        .iter()
        .filter(|p| reused.iter().any(|o| o.as_ptr() == **p))
        .count();
    assert!(big_enough >= 1, "no spare buffer was reused");
}
