//! A hash map keyed by op ids, for programs that keep their own table from op to owner (the
//! polling style: `finished()` says which ids have something, the program looks up whose).
//!
//! std's `HashMap` hashes with SipHash, which resists keys chosen by an attacker and costs
//! about a hundred instructions per lookup: more than the rest of a message's bookkeeping in
//! the polling echo server. Op ids are chosen by the loop, never by a peer, so a multiply is
//! enough: [`OpIdHasher`] spreads each id over the high bits, which the map reads first.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::inflight::OpId;

/// A `HashMap` from [`OpId`] to `V`, hashed with [`OpIdHasher`]. Create it with
/// `OpIdMap::default()`.
pub type OpIdMap<V> = HashMap<OpId, V, BuildHasherDefault<OpIdHasher>>;

/// Hashes op ids (and other small integers) with one multiply per word. Not for keys a peer
/// can choose.
#[derive(Default, Clone, Copy, Debug)]
pub struct OpIdHasher(u64);

/// 2^64 / φ, odd: multiplying by it moves every input bit into the high bits.
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for OpIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(26) ^ n).wrapping_mul(SPREAD);
    }
}

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
        let build = BuildHasherDefault::<OpIdHasher>::default();
        let tags: std::collections::HashSet<u64> =
            ids(1_000).map(|id| build.hash_one(id) >> 57).collect();
        assert!(tags.len() >= 120, "only {} of 128 tags used", tags.len());
    }
}
