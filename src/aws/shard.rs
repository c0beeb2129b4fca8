//! Sharding: `--shard INDEX/COUNT` splits the accounts between replicas by a fixed hash of the
//! account id, so that every replica, of any version, agrees on who watches which account.

use std::fmt;
use std::str::FromStr;

/// `--shard INDEX/COUNT`: this instance checks the accounts whose id hashes to INDEX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This instance's shard, from 0.
    pub index: u32,
    /// How many shards there are.
    pub count: u32,
}

impl Shard {
    /// Whether `account_id` belongs to this shard.
    pub fn owns(&self, account_id: &str) -> bool {
        shard_of(account_id, self.count) == self.index
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("expected INDEX/COUNT with 0 <= INDEX < COUNT, got {s:?}");
        let (index, count) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = index.trim().parse().map_err(|_| bad())?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard of an account: FNV-1a of its id, modulo `count`. The hash is fixed here (not the
/// standard library's, which may change between releases) so that replicas of different
/// versions still split an Organization the same way.
pub fn shard_of(account_id: &str, count: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in account_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(count.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse() {
        assert_eq!("0/1".parse(), Ok(Shard { index: 0, count: 1 }));
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["", "1", "3/3", "0/0", "-1/2", "a/b", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_partition_the_accounts() {
        let ids: Vec<String> = (0..3000u64)
            .map(|i| format!("{:012}", 100_000_000_000 + i * 7919))
            .collect();
        for count in [1u32, 2, 3, 7] {
            let mut sizes = vec![0usize; count as usize];
            for id in &ids {
                let owners: Vec<u32> = (0..count)
                    .filter(|&index| Shard { index, count }.owns(id))
                    .collect();
                assert_eq!(owners.len(), 1, "{id} has exactly one shard of {count}");
                sizes[owners[0] as usize] += 1;
            }
            let even = ids.len() / count as usize;
            for size in sizes {
                assert!(
                    size.abs_diff(even) < even / 5 + 10,
                    "uneven {count} shards: {size} vs {even}"
                );
            }
        }
    }

    #[test]
    fn the_hash_is_stable() {
        // Replicas of different versions must agree, so these values may never change. They
        // were computed apart from this code (FNV-1a 64 in a few lines of Python).
        let pinned = [
            ("123456789012", [1, 2, 6, 431]),
            ("111111111111", [1, 0, 3, 17]),
            ("210987654321", [1, 2, 4, 471]),
            ("000000000001", [0, 0, 0, 834]),
            ("999999999999", [1, 2, 2, 849]),
        ];
        for (id, want) in pinned {
            let got = [2, 3, 7, 1000].map(|count| shard_of(id, count));
            assert_eq!(got, want, "{id}");
        }
        assert_eq!(
            shard_of("", u32::MAX),
            (0xcbf2_9ce4_8422_2325u64 % u64::from(u32::MAX)) as u32
        );
    }
}
