//! Hashers for the patterns' maps: one for ids the program generates itself (lease ids,
//! subscriber ids, connection ids), one for names a client chooses (queues, channels, keys).
//!
//! Ids handed out by the program — a client can only look one up, never choose what gets
//! inserted — are safe with a multiplicative hash (Fibonacci hashing, as in FxHash): [`IdBuild`].
//! It matters on the push → reserve → ack path and on pub/sub fan-out, where every delivery looks
//! its subscriber up.
//!
//! Names are chosen by clients, so their hash must be seeded: [`NameBuild`] is `foldhash`'s
//! randomly seeded hasher (hashbrown's default), several times cheaper than std's SipHash-1-3 on
//! short keys. A pipelined `LPUSH` hashes its queue name about six times (type check, queue,
//! waiters, length), and SipHash was 6 % of the broker's CPU there. foldhash makes no
//! cryptographic promise; a client that could learn the per-map seed could aim for collisions,
//! which costs it (and its neighbours) time, never correctness.

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

/// Builds seeded hashers for client-chosen names: `HashMap<Bytes, V, NameBuild>`.
pub type NameBuild = foldhash::fast::RandomState;
/// A map keyed by client-chosen names.
pub type NameMap<K, V> = std::collections::HashMap<K, V, NameBuild>;
