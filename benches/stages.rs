//! One criterion benchmark per pipeline stage, so a regression in one
//! stage shows: chunking, hashing (chunk ids, file hashes, shard digests), sealing and opening, Reed–
//! Solomon encode and reconstruct, pack build and unpack.
//!
//! `cargo bench -p heirloom-benches --bench stages`

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use heirloom::bench;
use heirloom::erasure::{decode_pack, encode_pack, ReedSolomon};

const MIB: usize = 1024 * 1024;

fn data(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn stages(c: &mut Criterion) {
    let key = [7u8; 32];
    let input = data(16 * MIB);
    let mut g = c.benchmark_group("stage");
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.sample_size(20);

    g.bench_function("chunk_fastcdc_16MiB", |b| {
        b.iter(|| bench::chunk_count(black_box(&input)))
    });
    g.bench_function("chunk_id_hmac_sha256_16MiB", |b| {
        b.iter(|| bench::chunk_id(key, black_box(&input)))
    });
    g.bench_function("chunk_id_blake3_keyed_16MiB", |b| {
        b.iter(|| bench::chunk_id_blake3(key, black_box(&input)))
    });
    g.bench_function("file_hash_sha256_16MiB", |b| {
        b.iter(|| bench::file_hash(black_box(&input)))
    });
    g.bench_function("file_hash_blake3_16MiB", |b| {
        b.iter(|| bench::file_hash_blake3(black_box(&input)))
    });
    g.bench_function("shard_digest_blake3_16MiB", |b| {
        b.iter(|| bench::shard_digest(black_box(&input)))
    });
    let mut sealed = Vec::new();
    g.bench_function("seal_aes256gcm_16MiB", |b| {
        b.iter(|| bench::seal(key, b"id", black_box(&input), &mut sealed))
    });
    bench::seal(key, b"id", &input, &mut sealed);
    g.bench_function("open_aes256gcm_16MiB", |b| {
        b.iter(|| bench::open(key, b"id", black_box(&sealed)))
    });

    let chunks: Vec<Vec<u8>> = input.chunks(MIB).map(<[u8]>::to_vec).collect();
    g.bench_function("pack_build_16MiB", |b| {
        b.iter(|| bench::pack(key, black_box(&chunks)))
    });
    let pack = bench::pack(key, &chunks);
    g.bench_function("pack_unpack_16MiB", |b| {
        b.iter(|| bench::unpack(key, black_box(&pack)))
    });

    for (k, m) in [(3usize, 2usize), (2, 1)] {
        g.bench_with_input(
            BenchmarkId::new("erasure_encode_16MiB", format!("{k}+{m}")),
            &(k, m),
            |b, &(k, m)| b.iter(|| encode_pack(&ReedSolomon, [1; 32], black_box(&input), k, m)),
        );
        let shards = encode_pack(&ReedSolomon, [1; 32], &input, k, m).unwrap_or_default();
        // The worst case: every data shard lost but one (m of them), parity used.
        let mut missing: Vec<Option<Bytes>> = shards.into_iter().map(Some).collect();
        for s in missing.iter_mut().take(m) {
            *s = None;
        }
        g.bench_with_input(
            BenchmarkId::new("erasure_reconstruct_16MiB", format!("{k}+{m}")),
            &(k, m),
            |b, &(k, m)| b.iter(|| decode_pack(&[1; 32], k, m, black_box(&missing))),
        );
        let all: Vec<Option<Bytes>> = encode_pack(&ReedSolomon, [1; 32], &input, k, m)
            .unwrap_or_default()
            .into_iter()
            .map(Some)
            .collect();
        g.bench_with_input(
            BenchmarkId::new("erasure_decode_all_data_16MiB", format!("{k}+{m}")),
            &(k, m),
            |b, &(k, m)| b.iter(|| decode_pack(&[1; 32], k, m, black_box(&all))),
        );
    }
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
