//! Reserved jobs: the lease table and its expiry heap.
//!
//! A lease is found by id (ack, nack, touch) in a hash map; expiry order comes from a binary heap
//! of `(deadline, lease)`. Acks and touches do not search the heap: they leave its entry behind,
//! and an entry is recognised as stale when it surfaces (the lease is gone, or its deadline
//! moved). The heap is rebuilt when stale entries dominate, so a busy queue acking a million
//! jobs does not keep a million dead entries.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::job::Job;
use super::LeaseId;
use crate::patterns::IdMap;

pub(crate) struct Lease {
    pub(crate) queue: Bytes,
    /// The consumer's slab key.
    pub(crate) consumer: u32,
    pub(crate) job: Job,
    pub(crate) deadline: Instant,
    /// The lease length asked for: a touch without a length extends by this much again.
    pub(crate) duration: Duration,
}

#[derive(Default)]
pub(crate) struct Leases {
    map: IdMap<Lease>,
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    next: u64,
}

impl Leases {
    pub(crate) fn insert(&mut self, lease: Lease) -> LeaseId {
        self.next += 1;
        let id = self.next;
        self.heap.push(Reverse((lease.deadline, id)));
        self.map.insert(id, lease);
        LeaseId(id)
    }

    pub(crate) fn get(&self, id: LeaseId) -> Option<&Lease> {
        self.map.get(&id.0)
    }

    pub(crate) fn remove(&mut self, id: LeaseId) -> Option<Lease> {
        let lease = self.map.remove(&id.0)?;
        self.compact_if_needed();
        Some(lease)
    }

    /// Moves a lease's deadline.
    pub(crate) fn reschedule(&mut self, id: LeaseId, deadline: Instant) -> bool {
        let Some(lease) = self.map.get_mut(&id.0) else {
            return false;
        };
        lease.deadline = deadline;
        self.heap.push(Reverse((deadline, id.0)));
        self.compact_if_needed();
        true
    }

    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.skip_stale();
        self.heap.peek().map(|Reverse((d, _))| *d)
    }

    /// The lease with the earliest deadline, if that deadline is at or before `now` (ties: the
    /// older lease first).
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<(LeaseId, Lease)> {
        self.skip_stale();
        let Reverse((deadline, id)) = *self.heap.peek()?;
        if deadline > now {
            return None;
        }
        self.heap.pop();
        let lease = self.map.remove(&id)?;
        Some((LeaseId(id), lease))
    }

    /// Removes every lease of one queue (the queue is being deleted).
    pub(crate) fn remove_queue(&mut self, queue: &[u8]) -> Vec<(LeaseId, Lease)> {
        let ids: Vec<u64> = self
            .map
            .iter()
            .filter(|(_, l)| l.queue == queue)
            .map(|(&id, _)| id)
            .collect();
        let out = ids
            .into_iter()
            .filter_map(|id| self.map.remove(&id).map(|l| (LeaseId(id), l)))
            .collect();
        self.compact_if_needed();
        out
    }

    fn live(map: &IdMap<Lease>, deadline: Instant, id: u64) -> bool {
        map.get(&id).is_some_and(|l| l.deadline == deadline)
    }

    fn skip_stale(&mut self) {
        while let Some(Reverse((d, id))) = self.heap.peek() {
            if Self::live(&self.map, *d, *id) {
                return;
            }
            self.heap.pop();
        }
    }

    fn compact_if_needed(&mut self) {
        if self.heap.len() > 64 && self.heap.len() > 2 * self.map.len() {
            let map = &self.map;
            self.heap
                .retain(|Reverse((d, id))| Self::live(map, *d, *id));
        }
    }
}
