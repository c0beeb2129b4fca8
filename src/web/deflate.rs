//! A small deflate encoder (RFC 1951) for the few kilobytes a scrape adds to `/metrics`.
//!
//! A general-purpose compressor sets up hash tables and a window of some hundreds of kilobytes
//! for every stream, which for a 3 KiB input costs more than the compression: 15 µs a scrape
//! with flate2 (miniz_oxide) on the machine of docs/performance.md, the largest share of a
//! gzip scrape's own work. This one sizes its state for small inputs (a 16 KiB match table on
//! the stack), finds repeats greedily, and writes one final block with the fixed Huffman codes
//! of the format: some 40% of the text's size for the exporter's own series, in about 5 µs
//! there. Any inflater reads it; the tests check it against flate2's.

/// The longest distance back a match may reach.
const WINDOW: usize = 32 * 1024;
/// The shortest and longest match the format can express.
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
/// log2 of the match table's size.
const HASH_BITS: u32 = 12;

/// The first length of each length code 257..=285, and its extra bits.
const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// The first distance of each distance code 0..=29, and its extra bits.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// Each byte's fixed literal code, bit-reversed as it is written, and its length: most of a
/// scrape's bytes are literals, so they are looked up rather than computed.
const LITERALS: [(u16, u8); 256] = {
    let mut table = [(0u16, 0u8); 256];
    let mut b = 0;
    while b < 256 {
        let (code, len) = if b < 144 {
            (0x30 + b as u32, 8)
        } else {
            (0x190 + b as u32 - 144, 9)
        };
        table[b] = ((code.reverse_bits() >> (32 - len)) as u16, len as u8);
        b += 1;
    }
    table
};

/// Appends `data` to `out` as one complete raw deflate stream: a single final block with the
/// fixed Huffman codes.
pub fn deflate_into(data: &[u8], out: &mut Vec<u8>) {
    let mut bits = Bits { out, acc: 0, n: 0 };
    // BFINAL = 1, BTYPE = 01 (fixed Huffman codes).
    bits.put(1, 1);
    bits.put(1, 2);
    let mut table = [0u32; 1 << HASH_BITS];
    let mut i = 0;
    while i < data.len() {
        let found = if i + MIN_MATCH <= data.len() {
            let h = hash(&data[i..i + MIN_MATCH]);
            // Positions are stored plus one, so that 0 means empty.
            let candidate = table[h] as usize;
            table[h] = (i + 1) as u32;
            candidate
                .checked_sub(1)
                .filter(|&c| i - c <= WINDOW)
                .map(|c| (i - c, match_len(data, c, i)))
                .filter(|&(_, len)| len >= MIN_MATCH)
        } else {
            None
        };
        match found {
            Some((distance, len)) => {
                bits.length(len);
                bits.distance(distance);
                // As zlib's fastest levels do, the positions inside a match are not remembered:
                // fewer repeats are found, in far less time.
                i += len;
            }
            None => {
                bits.literal(data[i]);
                i += 1;
            }
        }
    }
    // End of block.
    bits.code(0, 7);
    bits.finish();
}

fn hash(three: &[u8]) -> usize {
    let v = u32::from(three[0]) | u32::from(three[1]) << 8 | u32::from(three[2]) << 16;
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

/// How long the text at `at` repeats the text at `from` (< `at`), up to the format's maximum.
fn match_len(data: &[u8], from: usize, at: usize) -> usize {
    let limit = MAX_MATCH.min(data.len() - at);
    let (a, b) = (&data[from..from + limit], &data[at..at + limit]);
    // Eight bytes at a time: the first differing bit tells the first differing byte.
    let mut k = 0;
    while k + 8 <= limit {
        let x = u64::from_le_bytes(a[k..k + 8].try_into().expect("8 bytes"));
        let y = u64::from_le_bytes(b[k..k + 8].try_into().expect("8 bytes"));
        if x != y {
            return k + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        k += 8;
    }
    k + a[k..]
        .iter()
        .zip(&b[k..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Writes bits least significant first, as deflate packs them.
struct Bits<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits<'_> {
    /// Adds `count` (at most 16) bits; whole words go out four bytes at a time.
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += count;
        if self.n >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.n -= 32;
        }
    }

    /// A Huffman code, which deflate writes most significant bit first.
    fn code(&mut self, code: u32, len: u32) {
        self.put(code.reverse_bits() >> (32 - len), len);
    }

    /// A literal byte in the fixed literal/length code.
    fn literal(&mut self, byte: u8) {
        let (bits, len) = LITERALS[usize::from(byte)];
        self.put(u32::from(bits), u32::from(len));
    }

    /// A match length (3..=258): its code in the fixed literal/length code, then extra bits.
    fn length(&mut self, len: usize) {
        let i = LENGTH_BASE.partition_point(|&base| usize::from(base) <= len) - 1;
        let symbol = 257 + i as u32;
        if symbol < 280 {
            self.code(symbol - 256, 7);
        } else {
            self.code(0xC0 + symbol - 280, 8);
        }
        self.put(
            (len - usize::from(LENGTH_BASE[i])) as u32,
            u32::from(LENGTH_EXTRA[i]),
        );
    }

    /// A match distance (1..=32768): its fixed 5-bit code, then extra bits.
    fn distance(&mut self, distance: usize) {
        let i = DIST_BASE.partition_point(|&base| usize::from(base) <= distance) - 1;
        self.code(i as u32, 5);
        self.put(
            (distance - usize::from(DIST_BASE[i])) as u32,
            u32::from(DIST_EXTRA[i]),
        );
    }

    /// Writes the bits left, the last byte padded with zero bits.
    fn finish(self) {
        let bytes = self.n.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn inflate(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(data)
            .read_to_end(&mut out)
            .expect("a valid deflate stream");
        out
    }

    /// A deterministic byte generator, so that a failure can be replayed.
    fn noise(seed: u64, len: usize, alphabet: u8) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % u64::from(alphabet)) as u8
            })
            .collect()
    }

    #[test]
    fn what_is_deflated_inflates_to_itself() {
        let series: Vec<u8> = (0..300)
            .flat_map(|i| format!("aws_root_mfa_exporter_api_requests_total{{operation=\"Op{i}\",service=\"iam\"}} {i}\n").into_bytes())
            .collect();
        let mut cases: Vec<Vec<u8>> = vec![
            vec![],
            b"a".to_vec(),
            b"ab".to_vec(),
            b"abc".to_vec(),
            b"aaaa".to_vec(),
            vec![0; 100_000],
            vec![255; 1000],
            (0..=255).collect(),
            series.clone(),
            [series.as_slice(), &series].concat(),
        ];
        // Lengths across every length code, and distances across the whole window.
        for len in [3, 10, 11, 18, 130, 257, 258, 259, 600] {
            let mut v = noise(len as u64, 40_000, 255);
            let copy = v[100..100 + len].to_vec();
            v.extend_from_slice(&copy);
            cases.push(v);
        }
        for seed in 1..40 {
            cases.push(noise(
                seed,
                (seed as usize * 997) % 70_000,
                2 + seed as u8 * 6,
            ));
        }
        for data in cases {
            let mut out = vec![0xAA];
            deflate_into(&data, &mut out);
            assert_eq!(out[0], 0xAA, "appends");
            assert_eq!(inflate(&out[1..]), data, "{} bytes", data.len());
        }
    }

    #[test]
    fn the_exporters_own_series_shrink_to_under_half() {
        let text: Vec<u8> = (0..40)
            .flat_map(|i| format!("# HELP aws_root_mfa_exporter_x{i} Something the exporter counts.\n# TYPE aws_root_mfa_exporter_x{i} counter\naws_root_mfa_exporter_x{i}{{service=\"iam\"}} {}\n", i * 37).into_bytes())
            .collect();
        let mut out = Vec::new();
        deflate_into(&text, &mut out);
        assert!(
            out.len() * 3 < text.len(),
            "{} of {}",
            out.len(),
            text.len()
        );
    }
}
