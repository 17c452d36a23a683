//! Content-defined chunking (FastCDC, 2020 variant) over any reader, so an
//! edited or re-uploaded file stores only the chunks that changed.
//!
//! The cut points come from `fastcdc::v2020::cut`; this module only manages
//! the buffer. `fastcdc`'s own `StreamCDC` returns every chunk as a new
//! vector and shifts its whole 8 MiB buffer down after each one (a
//! `drain`, then a `resize` that zeroes the tail): seven bytes moved and one
//! zeroed per byte chunked, which was a fifth of the backup's CPU. Here a
//! chunk is a slice of a buffer the caller keeps from file to file, and only
//! the short unchunked tail moves when the buffer is refilled. The cut
//! points are the same as `StreamCDC`'s.

use std::io::{ErrorKind, Read};

use fastcdc::v2020::{cut, logarithm2, MASKS};

use crate::repo::ChunkerParams;

/// Bytes read ahead beyond one maximal chunk.
const READ_AHEAD: usize = 2 * 1024 * 1024;

/// Splits a stream into content-defined chunks, lent out one at a time.
/// Memory is one buffer of the maximum chunk size plus [`READ_AHEAD`].
/// The parameters must pass [`ChunkerParams::validate`] (checked when a
/// repository is made or opened).
pub(crate) struct Chunker<R> {
    reader: R,
    buf: Vec<u8>,
    /// First byte not yet handed out.
    start: usize,
    /// End of the bytes read.
    end: usize,
    eof: bool,
    min: usize,
    avg: usize,
    max: usize,
    /// FastCDC's masks at normalization level 1 (`StreamCDC::new`'s default).
    masks: [u64; 2],
}

impl<R: Read> Chunker<R> {
    /// A chunker reading `reader` into `buf` (any vector: it is resized, and
    /// can be taken back with [`into_buffer`](Self::into_buffer) for the next file).
    pub(crate) fn new(reader: R, params: ChunkerParams, mut buf: Vec<u8>) -> Self {
        let (min, avg, max) = (
            params.min_size as usize,
            params.avg_size as usize,
            params.max_size as usize,
        );
        buf.resize(max + READ_AHEAD, 0);
        let bits = logarithm2(params.avg_size) as usize;
        Chunker {
            reader,
            buf,
            start: 0,
            end: 0,
            eof: false,
            min,
            avg,
            max,
            masks: [MASKS[bits + 1], MASKS[bits - 1]],
        }
    }

    /// The next chunk, or `None` at the end of the stream.
    pub(crate) fn next_chunk(&mut self) -> std::io::Result<Option<&[u8]>> {
        let len = loop {
            let avail = self.end - self.start;
            if avail == 0 && self.eof {
                return Ok(None);
            }
            if avail > 0 {
                let [s, l] = self.masks;
                let (_, n) = cut(
                    &self.buf[self.start..self.end],
                    self.min,
                    self.avg,
                    self.max,
                    s,
                    l,
                    s << 1,
                    l << 1,
                );
                // A cut inside the data stays where it is whatever follows
                // (the scan stops at the first match), as does a maximal
                // chunk; a cut at the end of a short buffer only means "no
                // boundary yet", unless the stream has ended.
                if n < avail || avail >= self.max || self.eof {
                    // Never an empty chunk (with sizes FastCDC accepts, `cut`
                    // returns at least min bytes; this guards the loop anyway).
                    break n.max(1);
                }
            }
            self.refill()?;
        };
        let from = self.start;
        self.start += len;
        Ok(Some(&self.buf[from..from + len]))
    }

    /// The buffer, for the next file.
    pub(crate) fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// Moves the unchunked tail to the front and reads until the buffer is
    /// full or the stream ends.
    fn refill(&mut self) -> std::io::Result<()> {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        while self.end < self.buf.len() {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastcdc::v2020::StreamCDC;

    fn params() -> ChunkerParams {
        ChunkerParams {
            min_size: 4096,
            avg_size: 16384,
            max_size: 65536,
        }
    }

    use crate::test_data::noise as data;

    fn chunks(r: impl Read, p: ChunkerParams) -> Vec<Vec<u8>> {
        let mut c = Chunker::new(r, p, Vec::new());
        let mut out = Vec::new();
        while let Some(piece) = c.next_chunk().unwrap() {
            out.push(piece.to_vec());
        }
        out
    }

    /// A reader that hands out at most `step` bytes per call.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn chunks_cover_the_input_and_respect_bounds() {
        let d = data(1_000_000, 1);
        let cs = chunks(&d[..], params());
        assert_eq!(cs.concat(), d);
        assert!(cs.iter().all(|c| c.len() <= 65536));
        assert!(cs[..cs.len() - 1].iter().all(|c| c.len() >= 4096));
        assert!(chunks(&b""[..], params()).is_empty());
    }

    #[test]
    fn cut_points_equal_streamcdc_whatever_the_reads() {
        let mut d = data(700_000, 3);
        d.extend(std::iter::repeat_n(0u8, 200_000)); // maximal chunks
        d.extend(data(99_999, 4));
        let p = params();
        let reference: Vec<Vec<u8>> = StreamCDC::new(&d[..], p.min_size, p.avg_size, p.max_size)
            .map(|c| c.unwrap().data)
            .collect();
        assert_eq!(chunks(&d[..], p), reference);
        for step in [1, 777, 4096, 65_537] {
            assert_eq!(chunks(Trickle(&d, step), p), reference, "reads of {step}");
        }
        // The default (restic-sized) parameters too.
        let big = ChunkerParams::default();
        let d = data(12_000_000, 5);
        let reference: Vec<usize> =
            StreamCDC::new(&d[..], big.min_size, big.avg_size, big.max_size)
                .map(|c| c.unwrap().length)
                .collect();
        let ours: Vec<usize> = chunks(&d[..], big).iter().map(Vec::len).collect();
        assert_eq!(ours, reference);
    }

    #[test]
    fn the_buffer_is_reused_across_files() {
        let d = data(300_000, 6);
        let mut c = Chunker::new(&d[..], params(), Vec::new());
        while c.next_chunk().unwrap().is_some() {}
        let buf = c.into_buffer();
        let ptr = buf.as_ptr();
        let mut c = Chunker::new(&d[..100], params(), buf);
        assert_eq!(c.next_chunk().unwrap().unwrap(), &d[..100]);
        assert!(c.next_chunk().unwrap().is_none());
        let back = c.into_buffer();
        assert_eq!(back.as_ptr(), ptr);
    }

    #[test]
    fn read_errors_surface() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk gone"))
            }
        }
        let mut c = Chunker::new(Broken, params(), Vec::new());
        assert!(c.next_chunk().is_err());
    }

    #[test]
    fn an_insert_changes_few_chunks() {
        let d = data(1_000_000, 2);
        let mut e = d.clone();
        e.splice(500_000..500_000, b"a new caption".iter().copied());
        let a: std::collections::HashSet<Vec<u8>> = chunks(&d[..], params()).into_iter().collect();
        let b = chunks(&e[..], params());
        let changed = b.iter().filter(|c| !a.contains(*c)).count();
        assert!(changed <= 3, "{changed} chunks changed");
    }
}
