//! A cheap hasher for ids the program generates itself, and a map keyed by op ids with it (for
//! programs that keep their own table from op to owner: the polling style's `finished()` says
//! which ids have something, the program looks up whose).
//!
//! std's `HashMap` hashes with SipHash, which resists keys chosen by an attacker and costs about
//! a hundred instructions per lookup: more than the rest of a message's bookkeeping in the
//! polling echo server. Ids handed out by the program — op ids, lease ids, subscriber ids,
//! connection ids: a peer can only look one up, never choose what gets inserted — are safe with
//! a multiplicative hash (Fibonacci hashing, as in FxHash): [`IdHasher`]. The patterns layer
//! uses the same hasher for its id maps (`patterns::IdMap`), and a seeded one for names that
//! clients choose.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::inflight::OpId;

/// The hasher; use it through [`IdBuild`] or [`OpIdMap`], or as `HashMap<K, V, IdBuild>` for
/// any id type `K` made of integers.
#[derive(Default, Clone, Copy, Debug)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not used by integer keys; kept correct for any other key type.
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        // hashbrown takes the top 7 bits for its control bytes and the low bits for the bucket:
        // fold the well-mixed high half down so both are spread.
        self.0 ^ (self.0 >> 32)
    }
}

/// Builds [`IdHasher`]s: `HashMap<K, V, IdBuild>`.
pub type IdBuild = BuildHasherDefault<IdHasher>;

/// A `HashMap` from [`OpId`] to `V`, hashed with [`IdHasher`]. Create it with
/// `OpIdMap::default()`.
pub type OpIdMap<V> = HashMap<OpId, V, IdBuild>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn ids(n: u32) -> impl Iterator<Item = OpId> {
        (0..n).map(|i| OpId::from_user_data(((i as u64 / 7 + 1) << 32) | i as u64))
    }

    #[test]
    fn a_map_of_ids_finds_and_removes_each_one() {
        let mut map = OpIdMap::default();
        for (n, id) in ids(10_000).enumerate() {
            assert!(map.insert(id, n).is_none(), "{id:?} is new");
        }
        for (n, id) in ids(10_000).enumerate() {
            assert_eq!(map.get(&id), Some(&n));
        }
        for id in ids(10_000).step_by(2) {
            assert!(map.remove(&id).is_some());
        }
        assert_eq!(map.len(), 5_000);
    }

    #[test]
    fn consecutive_ids_differ_in_the_high_bits_the_map_reads_first() {
        // hashbrown compares a 7-bit tag from the top of the hash before any key: ids from
        // neighbouring slots must not share it, or every probe would compare keys.
        let build = IdBuild::default();
        let tags: std::collections::HashSet<u64> =
            ids(1_000).map(|id| build.hash_one(id) >> 57).collect();
        assert!(tags.len() >= 120, "only {} of 128 tags used", tags.len());
    }
}
