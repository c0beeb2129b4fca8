//! Gzip for `/metrics` without compressing the whole exposition on every scrape.
//!
//! The account series change once per poll, so they are deflated once per poll; a scrape only
//! deflates the few per-scrape lines (the `process_*` series) and splices them on. This is
//! sound because the poll's part ends with a sync flush (byte-aligned, not the final block),
//! the scrape's part is a complete deflate stream of its own that never refers back, and the
//! CRC-32 of the gzip trailer is continued over the scrape's bytes. The result is one ordinary
//! gzip member, as any client expects.

use std::io::Write as _;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::DeflateEncoder;

/// The gzip header: deflate, no name, no modification time, unknown operating system.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The deflated form of the part of a response that changes once per poll.
#[derive(Debug, Clone, Default)]
pub struct Precompressed {
    deflated: Bytes,
    crc: crc32fast::Hasher,
    len: u64,
}

impl Precompressed {
    /// Deflates `data` (thoroughly: this runs once per poll, not per scrape).
    pub fn deflate(data: &[u8]) -> Precompressed {
        let mut enc =
            DeflateEncoder::new(Vec::with_capacity(data.len() / 8), Compression::default());
        enc.write_all(data)
            .and_then(|()| enc.flush())
            .expect("writing to a Vec cannot fail");
        // Taken before the encoder is dropped, so that its final block is not included.
        let deflated = std::mem::take(enc.get_mut());
        let mut crc = crc32fast::Hasher::new();
        crc.update(data);
        Precompressed {
            deflated: Bytes::from(deflated),
            crc,
            len: data.len() as u64,
        }
    }

    /// A complete gzip member holding the prefix's data followed by `tail`.
    pub fn gzip_with(&self, tail: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER.len() + self.deflated.len() + tail.len() / 2 + 64);
        out.extend_from_slice(&HEADER);
        out.extend_from_slice(&self.deflated);
        let mut enc = DeflateEncoder::new(out, Compression::fast());
        enc.write_all(tail).expect("writing to a Vec cannot fail");
        let mut out = enc.finish().expect("writing to a Vec cannot fail");
        let mut crc = self.crc.clone();
        crc.update(tail);
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        // ISIZE is the length modulo 2^32, as RFC 1952 defines it.
        out.extend_from_slice(&((self.len + tail.len() as u64) as u32).to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn gunzip(data: &[u8]) -> Vec<u8> {
        // GzDecoder reads one member only: a second member would be left unread.
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
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
            assert_eq!(gunzip(&gz), want, "{} + {} bytes", prefix.len(), tail.len());
            // Reused for the next scrape, unchanged.
            assert_eq!(gunzip(&compressed.gzip_with(tail)), want);
        }
    }

    #[test]
    fn the_poll_part_is_compressed_well() {
        let text: Vec<u8> = (0..10_000u32)
            .flat_map(|i| {
                format!("aws_root_mfa_hardware{{account_id=\"{i:012}\"}} 1\n").into_bytes()
            })
            .collect();
        let gz = Precompressed::deflate(&text).gzip_with(b"");
        assert!(gz.len() * 5 < text.len(), "{} of {}", gz.len(), text.len());
    }
}
