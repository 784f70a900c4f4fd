//! Settling reservations: ack, nack, touch, lease expiry, and where a returning job goes —
//! back to its place, to the delayed heap, or (after `max_deliveries`) to the dead-letter queue.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::job::{End, Job};
use super::{later, JobId, LeaseId, QueueError, Queues};

/// Where a nacked job went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returned {
    /// Back to its place in the queue, ready now.
    Ready,
    /// To the delayed heap, ready at this time (then at the back of its priority).
    Delayed(Instant),
    /// It reached `max_deliveries`: dead-lettered (or dropped if no dead-letter queue took it).
    DeadLettered,
}

impl Queues {
    /// Acknowledges a reserved job: it is done and leaves the queue.
    pub fn ack(&mut self, lease: LeaseId) -> Result<JobId, QueueError> {
        let l = self
            .leases
            .remove(lease)
            .ok_or(QueueError::UnknownLease(lease))?;
        if let Some(c) = self.consumers.get_mut(l.consumer as usize) {
            c.leases.remove(&lease.0);
        }
        if let Some(q) = self.queues.get_mut(&l.queue) {
            q.stats.reserved -= 1;
            q.stats.bytes -= l.job.payload.len();
            q.stats.acked += 1;
        }
        self.credit_freed(l.consumer);
        Ok(l.job.id)
    }

    /// Gives a reserved job back: ready again at its old place, or after `delay`; or
    /// dead-lettered if it reached the queue's `max_deliveries`.
    pub fn nack(
        &mut self,
        lease: LeaseId,
        delay: Option<Duration>,
        now: Instant,
    ) -> Result<Returned, QueueError> {
        let l = self
            .leases
            .remove(lease)
            .ok_or(QueueError::UnknownLease(lease))?;
        if let Some(c) = self.consumers.get_mut(l.consumer as usize) {
            c.leases.remove(&lease.0);
        }
        if let Some(q) = self.queues.get_mut(&l.queue) {
            q.stats.nacked += 1;
        }
        let returned = self.return_job(l.queue, l.job, delay, now);
        self.credit_freed(l.consumer);
        Ok(returned)
    }

    /// Extends a lease to `now + extend` (or `now` + the lease's original length). Returns the
    /// new deadline.
    pub fn touch(
        &mut self,
        lease: LeaseId,
        extend: Option<Duration>,
        now: Instant,
    ) -> Result<Instant, QueueError> {
        let l = self
            .leases
            .get(lease)
            .ok_or(QueueError::UnknownLease(lease))?;
        let deadline = later(now, extend.unwrap_or(l.duration));
        self.leases.reschedule(lease, deadline);
        Ok(deadline)
    }

    /// The job and deadline of a held lease.
    pub fn lease(&self, lease: LeaseId) -> Option<(JobId, Instant)> {
        self.leases.get(lease).map(|l| (l.job.id, l.deadline))
    }

    /// Returns the jobs of every lease expired at `now`.
    pub(super) fn expire_leases(&mut self, now: Instant) {
        while let Some((id, l)) = self.leases.pop_expired(now) {
            if let Some(c) = self.consumers.get_mut(l.consumer as usize) {
                c.leases.remove(&id.0);
            }
            if let Some(q) = self.queues.get_mut(&l.queue) {
                q.stats.expired += 1;
            }
            log::debug!("pushpull: lease {id} of job {} expired", l.job.id);
            self.return_job(l.queue, l.job, None, now);
            self.credit_freed(l.consumer);
        }
    }

    /// A reserved job comes back to `queue` (nack, expiry, lost consumer).
    pub(super) fn return_job(
        &mut self,
        queue: Bytes,
        job: Job,
        delay: Option<Duration>,
        now: Instant,
    ) -> Returned {
        let Some(q) = self.queues.get_mut(&queue) else {
            return Returned::DeadLettered;
        };
        q.stats.reserved -= 1;
        if q.config
            .max_deliveries
            .is_some_and(|max| job.deliveries >= max)
        {
            self.dead_letter(queue, job);
            return Returned::DeadLettered;
        }
        match delay.filter(|d| !d.is_zero()) {
            Some(d) => {
                let t = later(now, d);
                q.stats.delayed += 1;
                self.delayed.push(t, queue, job);
                Returned::Delayed(t)
            }
            None => {
                // Its order key is unchanged: it goes back exactly where it was.
                q.insert_ready(job);
                self.signal(&queue);
                Returned::Ready
            }
        }
    }

    /// Moves a job that reached `max_deliveries` out of `queue` (whose counters still include
    /// it) into its dead-letter queue, if one is configured and has room.
    fn dead_letter(&mut self, queue: Bytes, mut job: Job) {
        let Some(q) = self.queues.get_mut(&queue) else {
            return;
        };
        q.stats.bytes -= job.payload.len();
        q.stats.dead_lettered += 1;
        let target = q.config.dead_letter.clone().filter(|t| *t != queue);
        let Some(target) = target else {
            q.stats.dead_letter_dropped += 1;
            log::debug!("pushpull: job {} dropped after max deliveries", job.id);
            return;
        };
        let placed = match self.queue_for_push(&target) {
            Ok(dlq) => match dlq.check_room(1, job.payload.len()) {
                Ok(()) => {
                    job.deliveries = 0;
                    dlq.stats.pushed += 1;
                    dlq.stats.bytes += job.payload.len();
                    dlq.place(&mut job, End::Back);
                    dlq.insert_ready(job);
                    true
                }
                Err(_) => false,
            },
            Err(_) => false,
        };
        if placed {
            self.signal(&target);
        } else {
            log::warn!(
                "pushpull: dead-letter queue {:?} refused a job from {:?}; dropped",
                String::from_utf8_lossy(&target),
                String::from_utf8_lossy(&queue)
            );
            if let Some(q) = self.queues.get_mut(&queue) {
                q.stats.dead_letter_dropped += 1;
            }
        }
    }
}
