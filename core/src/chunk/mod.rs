//! Content-defined chunking (FastCDC, 2020 variant) over any reader, so an
//! edited or re-uploaded file stores only the chunks that changed.

use std::io::Read;

use fastcdc::v2020::StreamCDC;

use crate::repo::ChunkerParams;

/// Splits a stream into content-defined chunks; yields each chunk's bytes.
/// Memory is bounded by the maximum chunk size.
pub(crate) fn chunks<R: Read>(
    reader: R,
    params: ChunkerParams,
) -> impl Iterator<Item = std::io::Result<Vec<u8>>> {
    StreamCDC::new(reader, params.min_size, params.avg_size, params.max_size).map(|r| {
        r.map(|c| c.data).map_err(|e| match e {
            fastcdc::v2020::Error::IoError(io) => io,
            other => std::io::Error::other(other.to_string()),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ChunkerParams {
        ChunkerParams {
            min_size: 4096,
            avg_size: 16384,
            max_size: 65536,
        }
    }

    fn data(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn chunks_cover_the_input_and_respect_bounds() {
        let d = data(1_000_000, 1);
        let cs: Vec<Vec<u8>> = chunks(&d[..], params()).collect::<Result<_, _>>().unwrap();
        assert_eq!(cs.concat(), d);
        assert!(cs.iter().all(|c| c.len() <= 65536));
        assert!(cs[..cs.len() - 1].iter().all(|c| c.len() >= 4096));
        assert_eq!(chunks(&b""[..], params()).count(), 0);
    }

    #[test]
    fn an_insert_changes_few_chunks() {
        let d = data(1_000_000, 2);
        let mut e = d.clone();
        e.splice(500_000..500_000, b"a new caption".iter().copied());
        let a: std::collections::HashSet<Vec<u8>> =
            chunks(&d[..], params()).map(|c| c.unwrap()).collect();
        let b: Vec<Vec<u8>> = chunks(&e[..], params()).map(|c| c.unwrap()).collect();
        let changed = b.iter().filter(|c| !a.contains(*c)).count();
        assert!(changed <= 3, "{changed} chunks changed");
    }
}
