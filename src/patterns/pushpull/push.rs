//! Pushing jobs: the limits check (back-pressure), ids, ready now or delayed.

use std::time::Instant;

use bytes::Bytes;

use super::job::{End, Job};
use super::{JobId, PushOptions, QueueError, Queues};

impl Queues {
    /// Pushes one job. Refused with [`QueueError::Full`] if the queue is at its job or byte
    /// limit. A job whose `ready_at` is later than `now` is delayed until then.
    pub fn push(
        &mut self,
        queue: &[u8],
        payload: Bytes,
        options: PushOptions,
        now: Instant,
    ) -> Result<JobId, QueueError> {
        let q = self.queue_for_push(queue)?;
        q.check_room(1, payload.len())?;
        let name = q.name.clone();
        // The payload is moved, never cloned: cloning a `Bytes` made from a `Vec` would give it
        // a shared header (an allocation) that a queued job does not need.
        Ok(self.enqueue(&name, payload, options, now))
    }

    /// Pushes several jobs, all or none (one limits check for the lot), in order: with
    /// `End::Front` each goes before the previous one, as Redis' `LPUSH q a b c` leaves
    /// `c b a`. Ids are consecutive; returns the first.
    pub fn push_all(
        &mut self,
        queue: &[u8],
        payloads: impl IntoIterator<Item = Bytes>,
        options: PushOptions,
        now: Instant,
    ) -> Result<JobId, QueueError> {
        let payloads: Vec<Bytes> = payloads.into_iter().collect();
        if payloads.is_empty() {
            return Err(QueueError::Invalid("nothing to push"));
        }
        let bytes = payloads.iter().map(Bytes::len).sum();
        let q = self.queue_for_push(queue)?;
        q.check_room(payloads.len(), bytes)?;
        let name = q.name.clone();
        let first = JobId(self.next_job + 1);
        for payload in payloads {
            self.enqueue(&name, payload, options, now);
        }
        Ok(first)
    }

    /// Adds a job to an existing queue that has room.
    fn enqueue(
        &mut self,
        name: &Bytes,
        payload: Bytes,
        options: PushOptions,
        now: Instant,
    ) -> JobId {
        self.next_job += 1;
        let mut job = Job {
            id: JobId(self.next_job),
            order: 0,
            priority: options.priority,
            deliveries: 0,
            payload,
        };
        let id = job.id;
        let q = self.queues.get_mut(name).expect("the queue exists");
        q.stats.pushed += 1;
        q.stats.bytes += job.payload.len();
        match options.ready_at.filter(|&t| t > now) {
            Some(t) => {
                q.stats.delayed += 1;
                self.delayed.push(t, name.clone(), job);
            }
            None => {
                q.place(&mut job, options.end);
                q.insert_ready(job);
                self.signal(name);
            }
        }
        id
    }

    /// Delayed jobs whose time has come join the back of their queue.
    pub(super) fn promote_delayed(&mut self, now: Instant) {
        while let Some(e) = self.delayed.pop_due(now) {
            let Some(q) = self.queues.get_mut(&e.queue) else {
                continue;
            };
            let mut job = e.job;
            q.stats.delayed -= 1;
            q.place(&mut job, End::Back);
            q.insert_ready(job);
            self.signal(&e.queue);
        }
    }
}
