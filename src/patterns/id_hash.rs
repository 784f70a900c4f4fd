//! Hashers for the patterns' maps: one for ids the program generates itself (lease ids,
//! subscriber ids, connection ids), one for names a client chooses (queues, channels, keys).
//!
//! Ids handed out by the program — a client can only look one up, never choose what gets
//! inserted — are safe with a multiplicative hash: [`IdBuild`], the loop's own id hasher (see
//! `event_loop::id_map`, where the op-id map uses it too). It matters on the push → reserve →
//! ack path and on pub/sub fan-out, where every delivery looks its subscriber up.
//!
//! Names are chosen by clients, so their hash must be seeded: [`NameBuild`] is `foldhash`'s
//! randomly seeded hasher (hashbrown's default), several times cheaper than std's SipHash-1-3 on
//! short keys. A pipelined `LPUSH` hashes its queue name about six times (type check, queue,
//! waiters, length), and SipHash was 6 % of the broker's CPU there. foldhash makes no
//! cryptographic promise; a client that could learn the per-map seed could aim for collisions,
//! which costs it (and its neighbours) time, never correctness.

pub use crate::event_loop::id_map::{IdBuild, IdHasher};

/// A map keyed by `u64` ids.
pub type IdMap<V> = std::collections::HashMap<u64, V, IdBuild>;
/// A set of `u64` ids.
pub type IdSet = std::collections::HashSet<u64, IdBuild>;

/// Builds seeded hashers for client-chosen names: `HashMap<Bytes, V, NameBuild>`.
pub type NameBuild = foldhash::fast::RandomState;
/// A map keyed by client-chosen names.
pub type NameMap<K, V> = std::collections::HashMap<K, V, NameBuild>;
