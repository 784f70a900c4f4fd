//! Jobs and what a consumer receives: ids, leases, push options, deliveries.

use std::fmt;
use std::time::Instant;

use bytes::Bytes;

/// A job's id: unique within one [`Queues`](super::Queues) for its whole life (it survives
/// redelivery and dead-lettering), increasing in push order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

/// One reservation of a job (a *receipt*): ack, nack and touch name it. Every delivery gets a
/// new lease id, so a consumer whose lease expired cannot ack the job after it was redelivered
/// to someone else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which end of a queue.
///
/// For a push, `Back` (the default) is the normal FIFO append (`RPUSH`), `Front` jumps the queue
/// (`LPUSH`). For a pull, `Front` (the default) takes the oldest job (`LPOP`), `Back` the newest
/// (`RPOP`). With priorities, the front is the lowest priority number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The head: next to be pulled.
    Front,
    /// The tail: last to be pulled.
    Back,
}

/// How a job is pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushOptions {
    /// Lower is served first (0 = most urgent, the default).
    pub priority: u32,
    /// Not ready before this time (a delayed job joins the back of its priority when due).
    pub ready_at: Option<Instant>,
    /// Which end of the queue it joins.
    pub end: End,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            priority: 0,
            ready_at: None,
            end: End::Back,
        }
    }
}

impl PushOptions {
    /// With a priority (lower first).
    pub fn priority(mut self, priority: u32) -> Self {
        self.priority = priority;
        self
    }

    /// Ready at `t` rather than now.
    pub fn ready_at(mut self, t: Instant) -> Self {
        self.ready_at = Some(t);
        self
    }

    /// Pushed at the front (`LPUSH`).
    pub fn front(mut self) -> Self {
        self.end = End::Front;
        self
    }
}

/// A job handed to a consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The job.
    pub job: JobId,
    /// Its payload (shared with the queue's copy while reserved: no copy is made).
    pub payload: Bytes,
    /// Its priority.
    pub priority: u32,
    /// 1 for the first delivery, more for redeliveries (after a nack, an expired lease, or a lost
    /// consumer): the consumer's hint that it may have seen this job before.
    pub attempt: u32,
    /// The lease to ack, nack or touch (at-least-once); `None` for a pop (at-most-once).
    pub lease: Option<LeaseId>,
    /// When the lease expires unless touched.
    pub lease_deadline: Option<Instant>,
}

/// A job as stored. Kept small: a million queued jobs cost a million of these plus payloads.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub(crate) id: JobId,
    /// Position key within its priority lane: pushes to the back count up from 0, pushes to the
    /// front count down from -1, so a returned job can go back exactly where it was.
    pub(crate) order: i64,
    pub(crate) priority: u32,
    /// Times delivered so far.
    pub(crate) deliveries: u32,
    pub(crate) payload: Bytes,
}
