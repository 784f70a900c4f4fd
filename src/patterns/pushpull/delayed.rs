//! Delayed jobs of every queue, in one heap ordered by ready time (ties: job id, so jobs due
//! together become ready in push order).
//!
//! One heap for all queues rather than one per queue, so the nearest deadline is a peek, not a
//! scan of every queue.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

use bytes::Bytes;

use super::job::Job;

pub(crate) struct Entry {
    pub(crate) ready_at: Instant,
    pub(crate) queue: Bytes,
    pub(crate) job: Job,
}

impl Entry {
    fn key(&self) -> (Instant, u64) {
        (self.ready_at, self.job.id.0)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Reversed: `BinaryHeap` is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

#[derive(Default)]
pub(crate) struct Delayed {
    heap: BinaryHeap<Entry>,
}

impl Delayed {
    pub(crate) fn push(&mut self, ready_at: Instant, queue: Bytes, job: Job) {
        self.heap.push(Entry {
            ready_at,
            queue,
            job,
        });
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.ready_at)
    }

    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Entry> {
        if self.heap.peek()?.ready_at > now {
            return None;
        }
        self.heap.pop()
    }

    /// Removes every delayed job of one queue; returns their payload bytes.
    pub(crate) fn remove_queue(&mut self, queue: &[u8]) -> usize {
        let mut bytes = 0;
        self.heap.retain(|e| {
            let keep = e.queue != queue;
            if !keep {
                bytes += e.job.payload.len();
            }
            keep
        });
        bytes
    }
}
