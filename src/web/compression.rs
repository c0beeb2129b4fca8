//! Gzip for `/metrics` without compressing, or copying, the whole exposition on every scrape.
//!
//! The account series change once per poll, so they are deflated once per poll, gzip header
//! included, into one shared buffer; a scrape sends that buffer as it is and compresses only
//! the few per-scrape lines (the exporter's own series) into a small closing part, with an
//! encoder made for such small inputs ([`super::deflate`]). This is
//! sound because the poll's part ends with a sync flush (byte-aligned, not the final block),
//! the scrape's part is a complete deflate stream of its own that never refers back, and the
//! CRC-32 of the gzip trailer is continued over the scrape's bytes. The response is one
//! ordinary gzip member: clients that read only the first member of a multi-member stream
//! (several common gzip readers do) still see every line.

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress};

use super::deflate::deflate_into;

/// The gzip header: deflate, no name, no modification time, unknown operating system.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The gzip form of the part of a response that changes once per poll.
#[derive(Debug, Clone)]
pub struct Precompressed {
    /// The gzip header and the deflated data, ending in a sync flush.
    head: Bytes,
    crc: crc32fast::Hasher,
    len: u64,
}

impl Default for Precompressed {
    /// Nothing yet (before the first poll), but still a gzip header and an empty deflate part,
    /// so that a scrape's lines can close it.
    fn default() -> Self {
        Precompressed::deflate(b"")
    }
}

impl Precompressed {
    /// Deflates `data` (thoroughly: this runs once per poll, not per scrape).
    pub fn deflate(data: &[u8]) -> Precompressed {
        let mut out = Vec::with_capacity(HEADER.len() + data.len() / 8 + 64);
        out.extend_from_slice(&HEADER);
        let mut deflate = Compress::new(Compression::default(), false);
        run(&mut deflate, data, &mut out);
        out.shrink_to_fit();
        let mut crc = crc32fast::Hasher::new();
        crc.update(data);
        Precompressed {
            head: Bytes::from(out),
            crc,
            len: data.len() as u64,
        }
    }

    /// The parts of a complete gzip member holding the poll's data followed by `tail`: the
    /// shared part, not copied, then `tail` compressed with the gzip trailer.
    pub fn gzip_with(&self, tail: &[u8]) -> [Bytes; 2] {
        let mut closing = Vec::with_capacity(tail.len() / 2 + 64);
        deflate_into(tail, &mut closing);
        let mut crc = self.crc.clone();
        crc.update(tail);
        closing.extend_from_slice(&crc.finalize().to_le_bytes());
        // ISIZE is the length modulo 2^32, as RFC 1952 defines it.
        closing.extend_from_slice(&((self.len + tail.len() as u64) as u32).to_le_bytes());
        [self.head.clone(), Bytes::from(closing)]
    }
}

/// Deflates all of `input` onto `out` and ends with a sync flush, growing `out` as needed.
fn run(deflate: &mut Compress, input: &[u8], out: &mut Vec<u8>) {
    let start = deflate.total_in();
    loop {
        let consumed = (deflate.total_in() - start) as usize;
        // compress_vec writes into spare capacity only.
        out.reserve(1024.max((input.len() - consumed) / 4));
        deflate
            .compress_vec(&input[consumed..], out, FlushCompress::Sync)
            .expect("deflating into memory cannot fail");
        // As zlib documents: a flush is complete once a call ends with output room to spare.
        if deflate.total_in() - start == input.len() as u64 && out.len() < out.capacity() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn gunzip(parts: [Bytes; 2]) -> Vec<u8> {
        let data = parts.concat();
        // GzDecoder reads one member only: a second member would be left unread.
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&data[..])
            .read_to_end(&mut out)
            .expect("a valid gzip member");
        out
    }

    #[test]
    fn prefix_and_tail_make_one_valid_gzip_member() {
        let big: Vec<u8> = (0..200_000u32)
            .flat_map(|i| {
                format!("aws_root_mfa_enabled{{account_id=\"{i:012}\"}} 1\n").into_bytes()
            })
            .collect();
        let cases: [(&[u8], &[u8]); 5] = [
            (b"", b""),
            (b"", b"process_open_fds 7\n"),
            (b"x 1\n", b""),
            (b"x 1\n", b"x 1\nx 1\n"),
            (&big, b"process_resident_memory_bytes 6.1e+07\n"),
        ];
        for (prefix, tail) in cases {
            let compressed = Precompressed::deflate(prefix);
            let gz = compressed.gzip_with(tail);
            let mut want = prefix.to_vec();
            want.extend_from_slice(tail);
            assert_eq!(gunzip(gz), want, "{} + {} bytes", prefix.len(), tail.len());
            // Reused for the next scrape, unchanged.
            assert_eq!(gunzip(compressed.gzip_with(tail)), want);
            // The poll's part is shared by every scrape, not copied.
            assert_eq!(
                compressed.gzip_with(tail)[0].as_ptr(),
                compressed.gzip_with(b"other")[0].as_ptr()
            );
        }
    }

    #[test]
    fn before_the_first_poll_a_scrape_is_still_valid_gzip() {
        let tail = b"aws_root_mfa_exporter_build_info 1\n";
        assert_eq!(gunzip(Precompressed::default().gzip_with(tail)), tail);
    }

    #[test]
    fn the_poll_part_is_compressed_well() {
        let text: Vec<u8> = (0..10_000u32)
            .flat_map(|i| {
                format!("aws_root_mfa_hardware{{account_id=\"{i:012}\"}} 1\n").into_bytes()
            })
            .collect();
        let gz = Precompressed::deflate(&text).gzip_with(b"").concat();
        assert!(gz.len() * 5 < text.len(), "{} of {}", gz.len(), text.len());
    }
}
