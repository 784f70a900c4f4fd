//! A fast hasher for maps keyed by ids this module generates itself (lease ids).
//!
//! `HashMap`'s default SipHash resists collision attacks, which matters for keys a client
//! chooses (queue names). Lease ids are sequential numbers handed out here — a client can only
//! look one up, never choose what gets inserted — so a multiplicative hash (Fibonacci hashing,
//! as in FxHash) is safe and several times cheaper on the push → reserve → ack path.

use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

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

    fn finish(&self) -> u64 {
        // hashbrown takes the top 7 bits for its control bytes and the low bits for the bucket:
        // fold the well-mixed high half down so both are spread.
        self.0 ^ (self.0 >> 32)
    }
}

pub(crate) type IdBuild = BuildHasherDefault<IdHasher>;
pub(crate) type IdMap<V> = std::collections::HashMap<u64, V, IdBuild>;
pub(crate) type IdSet = std::collections::HashSet<u64, IdBuild>;
