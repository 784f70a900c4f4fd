//! A fast hasher for maps keyed by ids a program generates itself (lease ids, subscriber ids,
//! connection ids).
//!
//! `HashMap`'s default SipHash resists collision attacks, which matters for keys a client
//! chooses (queue names). Ids handed out by the program — a client can only look one up, never
//! choose what gets inserted — are safe with a multiplicative hash (Fibonacci hashing, as in
//! FxHash), several times cheaper: it matters on the push → reserve → ack path and on pub/sub
//! fan-out, where every delivery looks its subscriber up.

use std::hash::{BuildHasherDefault, Hasher};

/// The hasher; use it through [`IdBuild`], [`IdMap`] or [`IdSet`], or as
/// `HashMap<K, V, IdBuild>` for any id type `K` made of integers.
#[derive(Default, Clone, Copy, Debug)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not used by u64 keys; kept correct for any other key type.
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
/// A map keyed by `u64` ids.
pub type IdMap<V> = std::collections::HashMap<u64, V, IdBuild>;
/// A set of `u64` ids.
pub type IdSet = std::collections::HashSet<u64, IdBuild>;
