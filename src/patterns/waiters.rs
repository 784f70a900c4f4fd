//! Long-poll waiters: first-come first-served queues of parked requests, each with an optional
//! deadline, where one request may wait on several keys at once (Redis `BLPOP a b c`).
//!
//! This is the one piece every "wait until something arrives or the time is up" shares: the job
//! queue's blocked pulls, HTTP long polling, a broker's blocked clients. It is a pure data
//! structure: time is passed in, [`Waiters::next_deadline`] says when the host must look again,
//! and [`Waiters::pop_expired`] hands back the timed-out waiters in deadline order.
//! [`crate::patterns::Timed`] puts it on an [`EventLoop`](crate::EventLoop) timer.
//!
//! Layout: every waiter has one list node per key it waits on; each key has a doubly linked list
//! of nodes (indices into a slab), so serving, cancelling or timing out a waiter unlinks it from
//! all its keys in O(keys) without scanning anyone else. Deadlines live in a binary heap with
//! lazy deletion (a cancelled waiter's heap entry is skipped when it surfaces; the heap is
//! rebuilt when such entries outnumber live ones). A key whose last waiter leaves is removed, so
//! nothing is left behind by clients that gave up.

use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::hash::Hash;
use std::time::Instant;

use crate::patterns::NameMap;
use slab::Slab;

const NIL: usize = usize::MAX;

/// Identifies a waiter. A stale id (its waiter was served, cancelled or timed out) never matches
/// a later waiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WaiterId {
    key: u32,
    gen: u64,
}

impl fmt::Display for WaiterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "w{}.{}", self.gen, self.key)
    }
}

struct Waiter<T> {
    gen: u64,
    value: T,
    deadline: Option<Instant>,
    /// One list node per key (index into `nodes`).
    nodes: Vec<usize>,
}

struct Node<K> {
    key: K,
    waiter: usize,
    prev: usize,
    next: usize,
}

#[derive(Clone, Copy)]
struct List {
    head: usize,
    tail: usize,
    len: usize,
}

/// FIFO waiters per key `K`, each carrying a value `T` and an optional deadline.
///
/// ```
/// use std::time::{Duration, Instant};
/// use ringloop::patterns::Waiters;
///
/// let now = Instant::now();
/// let mut w: Waiters<&str, &str> = Waiters::new();
/// let a = w.add("jobs", "client a", Some(now + Duration::from_secs(1)));
/// let b = w.add_multi(["jobs", "mail"], "client b", None);
/// assert_eq!(w.pop_first("jobs"), Some((a, "client a"))); // first come, first served
/// assert_eq!(w.waiting_on("mail"), 1);
/// assert_eq!(w.remove(b), Some("client b")); // gone from both keys
/// assert!(w.is_empty());
/// ```
pub struct Waiters<K, T> {
    waiters: Slab<Waiter<T>>,
    nodes: Slab<Node<K>>,
    lists: NameMap<K, List>,
    deadlines: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    next_gen: u64,
    stale_in_heap: usize,
}

impl<K, T> Default for Waiters<K, T> {
    fn default() -> Self {
        Waiters {
            waiters: Slab::new(),
            nodes: Slab::new(),
            lists: NameMap::default(),
            deadlines: BinaryHeap::new(),
            next_gen: 0,
            stale_in_heap: 0,
        }
    }
}

impl<K: Hash + Eq + Clone, T> Waiters<K, T> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parks `value` at the back of `key`'s queue until served, removed or `deadline`.
    pub fn add(&mut self, key: K, value: T, deadline: Option<Instant>) -> WaiterId {
        self.add_multi(std::iter::once(key), value, deadline)
    }

    /// Parks `value` at the back of the queue of every key in `keys` (duplicates are ignored).
    /// Whichever key serves it first takes it off all of them. With no key at all, the waiter can
    /// only time out or be removed.
    pub fn add_multi(
        &mut self,
        keys: impl IntoIterator<Item = K>,
        value: T,
        deadline: Option<Instant>,
    ) -> WaiterId {
        let gen = self.next_gen;
        self.next_gen += 1;
        let w = self.waiters.insert(Waiter {
            gen,
            value,
            deadline,
            nodes: Vec::new(),
        });
        let mut nodes = Vec::with_capacity(1);
        for key in keys {
            if nodes.iter().any(|&n: &usize| self.nodes[n].key == key) {
                continue;
            }
            nodes.push(self.link_back(key, w));
        }
        self.waiters[w].nodes = nodes;
        // Slab keys of live waiters fit u32: more than 4 billion parked requests would have run
        // out of memory long before.
        let id = WaiterId { key: w as u32, gen };
        if let Some(d) = deadline {
            self.deadlines.push(Reverse((d, gen, id.key)));
        }
        id
    }

    /// Cancels a waiter (its client went away, or was served by other means). Returns its value,
    /// or `None` if the id is stale.
    pub fn remove(&mut self, id: WaiterId) -> Option<T> {
        let w = self.index_of(id)?;
        Some(self.take(w))
    }

    /// True while the waiter is parked.
    pub fn contains(&self, id: WaiterId) -> bool {
        self.index_of(id).is_some()
    }

    /// The waiter's value.
    pub fn get(&self, id: WaiterId) -> Option<&T> {
        self.index_of(id).map(|w| &self.waiters[w].value)
    }

    /// The waiter's value, mutably.
    pub fn get_mut(&mut self, id: WaiterId) -> Option<&mut T> {
        let w = self.index_of(id)?;
        Some(&mut self.waiters[w].value)
    }

    /// The waiter's deadline.
    pub fn deadline(&self, id: WaiterId) -> Option<Instant> {
        self.index_of(id).and_then(|w| self.waiters[w].deadline)
    }

    /// The keys the waiter waits on, in the order given.
    pub fn keys_of(&self, id: WaiterId) -> impl Iterator<Item = &K> + '_ {
        let nodes: &[usize] = match self.index_of(id) {
            Some(w) => &self.waiters[w].nodes,
            None => &[],
        };
        nodes.iter().map(move |&n| &self.nodes[n].key)
    }

    /// The waiter at the front of `key`'s queue.
    pub fn first<Q>(&self, key: &Q) -> Option<WaiterId>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let list = self.lists.get(key)?;
        Some(self.id_at(self.nodes[list.head].waiter))
    }

    /// Takes the waiter at the front of `key`'s queue (off every key it waited on).
    pub fn pop_first<Q>(&mut self, key: &Q) -> Option<(WaiterId, T)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let id = self.first(key)?;
        let value = self.remove(id)?;
        Some((id, value))
    }

    /// The waiters on `key`, first come first.
    pub fn iter_key<'a, Q>(&'a self, key: &Q) -> impl Iterator<Item = (WaiterId, &'a T)> + 'a
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut n = self.lists.get(key).map_or(NIL, |l| l.head);
        std::iter::from_fn(move || {
            if n == NIL {
                return None;
            }
            let node = &self.nodes[n];
            n = node.next;
            Some((self.id_at(node.waiter), &self.waiters[node.waiter].value))
        })
    }

    /// How many waiters wait on `key`.
    pub fn waiting_on<Q>(&self, key: &Q) -> usize
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lists.get(key).map_or(0, |l| l.len)
    }

    /// Keys with at least one waiter.
    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.lists.keys()
    }

    /// Number of parked waiters.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// True if nobody waits.
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// The earliest deadline of a parked waiter.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.skip_stale();
        self.deadlines.peek().map(|Reverse((d, _, _))| *d)
    }

    /// Takes the waiter with the earliest deadline if that deadline is at or before `now`.
    /// Call in a loop to collect every timed-out waiter, in deadline order (ties: oldest first).
    pub fn pop_expired(&mut self, now: Instant) -> Option<(WaiterId, T)> {
        self.skip_stale();
        let Reverse((deadline, gen, key)) = *self.deadlines.peek()?;
        if deadline > now {
            return None;
        }
        self.deadlines.pop();
        let id = WaiterId { key, gen };
        // skip_stale left a live entry on top; the waiter's own heap entry is gone now, so
        // `take` must not count it as stale.
        let w = self.index_of(id)?;
        self.waiters[w].deadline = None;
        Some((id, self.take(w)))
    }

    /// Takes every waiter, in no particular order (for shutting down).
    pub fn drain(&mut self) -> Vec<(WaiterId, T)> {
        self.lists.clear();
        self.nodes.clear();
        self.deadlines.clear();
        self.stale_in_heap = 0;
        std::mem::take(&mut self.waiters)
            .into_iter()
            .map(|(w, waiter)| {
                let id = WaiterId {
                    key: w as u32,
                    gen: waiter.gen,
                };
                (id, waiter.value)
            })
            .collect()
    }

    fn index_of(&self, id: WaiterId) -> Option<usize> {
        let w = id.key as usize;
        (self.waiters.get(w)?.gen == id.gen).then_some(w)
    }

    fn id_at(&self, w: usize) -> WaiterId {
        WaiterId {
            key: w as u32,
            gen: self.waiters[w].gen,
        }
    }

    fn take(&mut self, w: usize) -> T {
        let waiter = self.waiters.remove(w);
        for n in waiter.nodes {
            self.unlink(n);
        }
        if waiter.deadline.is_some() {
            self.stale_in_heap += 1;
            self.compact_if_needed();
        }
        waiter.value
    }

    fn link_back(&mut self, key: K, waiter: usize) -> usize {
        let tail = self.lists.get(&key).map_or(NIL, |l| l.tail);
        let n = self.nodes.insert(Node {
            key: key.clone(),
            waiter,
            prev: tail,
            next: NIL,
        });
        match self.lists.get_mut(&key) {
            Some(list) => {
                self.nodes[list.tail].next = n;
                list.tail = n;
                list.len += 1;
            }
            None => {
                self.lists.insert(
                    key,
                    List {
                        head: n,
                        tail: n,
                        len: 1,
                    },
                );
            }
        }
        n
    }

    fn unlink(&mut self, n: usize) {
        let node = self.nodes.remove(n);
        if node.prev != NIL {
            self.nodes[node.prev].next = node.next;
        }
        if node.next != NIL {
            self.nodes[node.next].prev = node.prev;
        }
        let Some(list) = self.lists.get_mut(&node.key) else {
            return;
        };
        list.len -= 1;
        if list.len == 0 {
            self.lists.remove(&node.key);
            return;
        }
        if list.head == n {
            list.head = node.next;
        }
        if list.tail == n {
            list.tail = node.prev;
        }
    }

    fn live(&self, gen: u64, key: u32) -> bool {
        matches!(self.waiters.get(key as usize), Some(w) if w.gen == gen && w.deadline.is_some())
    }

    fn skip_stale(&mut self) {
        while let Some(Reverse((_, gen, key))) = self.deadlines.peek() {
            if self.live(*gen, *key) {
                return;
            }
            self.deadlines.pop();
            self.stale_in_heap = self.stale_in_heap.saturating_sub(1);
        }
    }

    fn compact_if_needed(&mut self) {
        if self.stale_in_heap > 64 && self.stale_in_heap > self.waiters.len() {
            let mut heap = std::mem::take(&mut self.deadlines).into_vec();
            heap.retain(|Reverse((_, gen, key))| self.live(*gen, *key));
            self.deadlines = heap.into();
            self.stale_in_heap = 0;
        }
    }

    /// Entries in the deadline heap, live or stale (for tests of the compaction).
    #[doc(hidden)]
    pub fn heap_len(&self) -> usize {
        self.deadlines.len()
    }
}

impl<K, T> fmt::Debug for Waiters<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiters")
            .field("waiters", &self.waiters.len())
            .field("keys", &self.lists.len())
            .finish()
    }
}
