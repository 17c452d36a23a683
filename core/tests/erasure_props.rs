//! Property tests for erasure coding: any k shards rebuild the pack, and up
//! to m damaged shards are found, reported and worked around.

use bytes::Bytes;
use heirloom::erasure::{decode_pack, encode_pack, rebuild_shards, ReedSolomon};
use proptest::prelude::*;

const PACK_ID: [u8; 32] = [0xC3; 32];

/// A pack of `len` bytes from a seed (cheaper to generate and shrink than a
/// proptest `Vec<u8>` of up to 200 000 elements).
fn pack_from_seed(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// (pack length, seed, k, m, a random order of the k+m shard indices).
fn geometry() -> impl Strategy<Value = (usize, u64, usize, usize, Vec<usize>)> {
    (1usize..=10, 0usize..=4).prop_flat_map(|(k, m)| {
        (
            0usize..200_000,
            any::<u64>(),
            Just(k),
            Just(m),
            Just((0..k + m).collect::<Vec<_>>()).prop_shuffle(),
        )
    })
}

/// Damages one shard object in one of three ways, each of which must be detected.
fn damage(objects: &[Bytes], i: usize, how: u8, at: usize) -> Bytes {
    let object = &objects[i];
    match how % 3 {
        0 => {
            let mut v = object.to_vec();
            let pos = at % v.len();
            v[pos] ^= 1 << (at % 8);
            Bytes::from(v)
        }
        1 => object.slice(..at % object.len()),
        _ => objects[(i + 1) % objects.len()].clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn erasure_any_k_shards_rebuild_the_pack((len, seed, k, m, order) in geometry()) {
        let pack = pack_from_seed(len, seed);
        let objects = encode_pack(&ReedSolomon, PACK_ID, &pack, k, m).unwrap();
        prop_assert_eq!(objects.len(), k + m);

        let mut fetched: Vec<Option<Bytes>> = vec![None; k + m];
        for &i in &order[..k] {
            fetched[i] = Some(objects[i].clone());
        }
        let decoded = decode_pack(&PACK_ID, k, m, &fetched).unwrap();
        prop_assert!(decoded.data == pack, "pack differs");
        prop_assert!(decoded.bad_shards.is_empty());

        let lost = &order[k..];
        let rebuilt = rebuild_shards(&PACK_ID, k, m, &fetched, lost).unwrap();
        prop_assert_eq!(rebuilt.len(), lost.len());
        for (i, object) in rebuilt {
            prop_assert!(object == objects[i], "shard {} differs", i);
        }
    }

    #[test]
    fn erasure_damaged_shards_are_reported_and_skipped(
        (len, seed, k, m, order) in geometry(),
        counts in any::<(usize, usize)>(),
        how in prop::collection::vec((any::<u8>(), any::<usize>()), 4),
    ) {
        let pack = pack_from_seed(len, seed);
        let objects = encode_pack(&ReedSolomon, PACK_ID, &pack, k, m).unwrap();
        // c damaged and d missing, c + d <= m, so at least k stay good.
        let c = counts.0 % (m + 1);
        let d = counts.1 % (m - c + 1);
        let mut fetched: Vec<Option<Bytes>> = objects.iter().cloned().map(Some).collect();
        for (j, &i) in order[..c].iter().enumerate() {
            let (kind, at) = how[j];
            fetched[i] = Some(damage(&objects, i, kind, at));
        }
        for &i in &order[c..c + d] {
            fetched[i] = None;
        }

        let decoded = decode_pack(&PACK_ID, k, m, &fetched).unwrap();
        prop_assert!(decoded.data == pack, "pack differs");
        let mut expected: Vec<usize> = order[..c].to_vec();
        expected.sort_unstable();
        let reported: Vec<usize> = decoded.bad_shards.iter().map(|(i, _)| *i).collect();
        prop_assert_eq!(reported, expected);
        prop_assert!(decoded.bad_shards.iter().all(|(_, e)| e.is_corrupt_shard()));
    }
}
