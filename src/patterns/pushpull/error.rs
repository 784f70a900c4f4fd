//! Errors of the job queues.

use std::fmt;

use bytes::Bytes;

use super::LeaseId;

/// What can go wrong with a queue call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// Back-pressure: the push would exceed the queue's job or byte limit. Nothing was pushed.
    Full {
        /// The queue.
        queue: Bytes,
        /// Jobs it holds (ready, delayed and reserved).
        jobs: usize,
        /// Payload bytes it holds.
        bytes: usize,
        /// Its job limit.
        max_jobs: usize,
        /// Its byte limit.
        max_bytes: usize,
    },
    /// No such queue, and queues are not created on demand.
    NoSuchQueue(Bytes),
    /// The consumer id is not (or no longer) known.
    UnknownConsumer,
    /// The lease is not held: already acked or nacked, expired (the job went back to the
    /// queue), or never issued.
    UnknownLease(LeaseId),
    /// The consumer already holds as many unacked jobs as its prefetch allows.
    PrefetchLimit {
        /// Its prefetch limit.
        limit: usize,
    },
    /// A malformed request (the text says which).
    Invalid(&'static str),
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Full {
                queue,
                jobs,
                bytes,
                max_jobs,
                max_bytes,
            } => write!(
                f,
                "queue {:?} is full: {jobs} jobs / {bytes} bytes held, limits {max_jobs} jobs / {max_bytes} bytes",
                String::from_utf8_lossy(queue)
            ),
            QueueError::NoSuchQueue(q) => {
                write!(f, "no such queue {:?}", String::from_utf8_lossy(q))
            }
            QueueError::UnknownConsumer => write!(f, "unknown consumer"),
            QueueError::UnknownLease(l) => {
                write!(f, "lease {l} is not held (acked, nacked, expired or unknown)")
            }
            QueueError::PrefetchLimit { limit } => {
                write!(f, "consumer holds {limit} unacked jobs, its prefetch limit")
            }
            QueueError::Invalid(why) => write!(f, "invalid request: {why}"),
        }
    }
}

impl std::error::Error for QueueError {}
