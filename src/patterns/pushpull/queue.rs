//! One named queue: its ready jobs in order, its limits and its counters.
//!
//! Ready jobs live in one deque per priority ("lanes", in a `BTreeMap` so the most urgent
//! lane is the first key). A deque, not a heap, because the common case is FIFO at one priority:
//! push and pull are O(1), both ends work (`LPUSH`/`RPOP`), and a job costs its own 56 bytes
//! and little more. The deque is chunked ([`ChunkedDeque`]) so a queue that grows to millions
//! of jobs never stops the loop to move them all. Each job carries an order key, so a job
//! returned by a nack, an expired lease or a lost consumer goes back to exactly the place it
//! left (binary search; returned jobs are old, so they land near the front, and an insert moves
//! at most one chunk) — FIFO survives redelivery. Delayed and reserved jobs are held elsewhere but counted here, against the limits.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::chunked::ChunkedDeque;
use super::job::{End, Job};
use super::QueueError;

/// A queue's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Jobs held at most (ready + delayed + reserved). A push beyond is refused.
    pub max_jobs: usize,
    /// Payload bytes held at most. A push beyond is refused.
    pub max_bytes: usize,
    /// After this many deliveries, a job that comes back (nack, expired lease, lost consumer)
    /// is dead-lettered instead of requeued. `None`: redeliver forever.
    pub max_deliveries: Option<u32>,
    /// Where dead-lettered jobs go (a queue created on demand with the default settings). `None`
    /// (or this queue's own name): they are discarded, and counted as dropped.
    pub dead_letter: Option<Bytes>,
}

impl Default for QueueConfig {
    /// 1,000,000 jobs, 1 GiB, redelivered forever, no dead-letter queue.
    fn default() -> Self {
        QueueConfig {
            max_jobs: 1_000_000,
            max_bytes: 1 << 30,
            max_deliveries: None,
            dead_letter: None,
        }
    }
}

/// A queue's gauges and counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Jobs ready to be pulled.
    pub ready: usize,
    /// Jobs waiting for their ready time.
    pub delayed: usize,
    /// Jobs reserved by consumers, not yet acked.
    pub reserved: usize,
    /// Payload bytes held (ready + delayed + reserved).
    pub bytes: usize,
    /// Pulls parked on this queue.
    pub waiting: usize,
    /// Jobs pushed (accepted).
    pub pushed: u64,
    /// Pushes refused because the queue was full.
    pub refused: u64,
    /// Deliveries (pops and reservations, first or not).
    pub delivered: u64,
    /// Deliveries of a job delivered before.
    pub redelivered: u64,
    /// Reservations acked.
    pub acked: u64,
    /// Reservations nacked.
    pub nacked: u64,
    /// Leases that expired (their jobs came back).
    pub expired: u64,
    /// Reservations returned because their consumer went away.
    pub orphaned: u64,
    /// Jobs that reached `max_deliveries`.
    pub dead_lettered: u64,
    /// Of those, jobs that no dead-letter queue took (none configured, or it was full).
    pub dead_letter_dropped: u64,
}

pub(crate) struct Queue {
    pub(crate) name: Bytes,
    pub(crate) config: QueueConfig,
    lanes: BTreeMap<u32, ChunkedDeque<Job>>,
    /// An emptied lane kept to be reused, so a queue that keeps going from 0 to 1 job does not
    /// allocate each time.
    spare: Option<ChunkedDeque<Job>>,
    /// Order keys of the next push to the back / the last push to the front.
    back: i64,
    front: i64,
    /// Gauges and counters (`waiting` is filled in on demand).
    pub(crate) stats: QueueStats,
    /// Already on the list of queues whose waiters must be looked at.
    pub(crate) signaled: bool,
}

impl Queue {
    pub(crate) fn new(name: Bytes, config: QueueConfig) -> Self {
        Queue {
            name,
            config,
            lanes: BTreeMap::new(),
            spare: None,
            back: 0,
            front: 0,
            stats: QueueStats::default(),
            signaled: false,
        }
    }

    /// Jobs held: ready, delayed, reserved.
    pub(crate) fn held(&self) -> usize {
        self.stats.ready + self.stats.delayed + self.stats.reserved
    }

    /// Refuses (and counts) a push of `jobs` jobs / `bytes` bytes that would exceed a limit.
    pub(crate) fn check_room(&mut self, jobs: usize, bytes: usize) -> Result<(), QueueError> {
        let held = self.held();
        if held.saturating_add(jobs) > self.config.max_jobs
            || self.stats.bytes.saturating_add(bytes) > self.config.max_bytes
        {
            self.stats.refused += jobs as u64;
            return Err(QueueError::Full {
                queue: self.name.clone(),
                jobs: held,
                bytes: self.stats.bytes,
                max_jobs: self.config.max_jobs,
                max_bytes: self.config.max_bytes,
            });
        }
        Ok(())
    }

    /// Gives a new job its order key for the end it joins.
    pub(crate) fn place(&mut self, job: &mut Job, end: End) {
        job.order = match end {
            End::Back => {
                self.back += 1;
                self.back - 1
            }
            End::Front => {
                self.front -= 1;
                self.front
            }
        };
    }

    /// Adds a ready job at the position its order key says (new jobs: an end; returned jobs:
    /// where they were).
    pub(crate) fn insert_ready(&mut self, job: Job) {
        let spare = &mut self.spare;
        let lane = self
            .lanes
            .entry(job.priority)
            .or_insert_with(|| spare.take().unwrap_or_default());
        match lane.back() {
            None => lane.push_back(job),
            Some(last) if last.order < job.order => lane.push_back(job),
            Some(_) => {
                if lane.front().is_some_and(|f| job.order < f.order) {
                    lane.push_front(job);
                } else {
                    let order = job.order;
                    lane.insert_at_partition(job, |j| j.order < order);
                }
            }
        }
        self.stats.ready += 1;
    }

    /// Takes the ready job at one end.
    pub(crate) fn pop_ready(&mut self, end: End) -> Option<Job> {
        let mut lane = match end {
            End::Front => self.lanes.first_entry()?,
            End::Back => self.lanes.last_entry()?,
        };
        let job = match end {
            End::Front => lane.get_mut().pop_front(),
            End::Back => lane.get_mut().pop_back(),
        }?;
        if lane.get().is_empty() {
            // An empty chunked deque holds at most one chunk's allocation: worth keeping.
            self.spare = Some(lane.remove());
        }
        self.stats.ready -= 1;
        Some(job)
    }

    /// Ready jobs in pull order.
    pub(crate) fn iter_ready(&self) -> impl Iterator<Item = &Job> + '_ {
        self.lanes.values().flatten()
    }

    /// Drops every ready job; returns how many.
    pub(crate) fn clear_ready(&mut self) -> usize {
        let n = self.stats.ready;
        for job in self.lanes.values().flatten() {
            self.stats.bytes -= job.payload.len();
        }
        self.lanes.clear();
        self.stats.ready = 0;
        n
    }
}
