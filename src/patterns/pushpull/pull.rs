//! Pulling: now, or parked until jobs arrive or a deadline passes (long polling), and
//! [`Queues::process`], the one call that does everything time or a command made due.
//!
//! A parked pull is a waiter in a [`Waiters`](crate::patterns::Waiters) keyed by queue name, so
//! one pull may wait on several queues (`BLPOP a b`) and is served by whichever gets a job first;
//! per queue, parked pulls are served first-come first-served. Pushes do not serve anyone
//! directly: they mark the queue as *signaled*, and `process` serves signaled queues in the
//! order they were signaled — after the host's command is complete, as Redis does.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::job::End;
use super::leases::Lease;
use super::{later, Consumer, ConsumerId, Delivery, QueueError, Queues, WaiterId};

/// How jobs are handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// At-most-once: the job leaves the queue as it is handed out.
    Pop,
    /// At-least-once: the job is leased for this long; ack it, or it comes back.
    Reserve {
        /// The lease length.
        lease: Duration,
    },
}

/// Whether a pull that finds nothing ready parks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Return [`Pulled::Empty`] at once.
    No,
    /// Park until this time at the latest.
    Until(Instant),
    /// Park until served or cancelled.
    Forever,
}

impl Wait {
    /// The protocol convention: a timeout of 0 waits forever (`BLPOP q 0`, `?wait=0`).
    pub fn timeout(timeout: Duration, now: Instant) -> Wait {
        if timeout.is_zero() {
            return Wait::Forever;
        }
        match now.checked_add(timeout) {
            Some(t) => Wait::Until(t),
            None => Wait::Forever,
        }
    }
}

/// A pull.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PullRequest {
    /// Jobs wanted at most (at least 1). A pull takes what is ready up to this, from one queue.
    pub max: usize,
    /// Pop or reserve.
    pub mode: Mode,
    /// Which end to take from (`Front`: oldest first).
    pub end: End,
    /// Park if nothing is ready?
    pub wait: Wait,
}

impl PullRequest {
    /// Pop up to `max` jobs, oldest first, without waiting.
    pub fn pop(max: usize) -> Self {
        PullRequest {
            max,
            mode: Mode::Pop,
            end: End::Front,
            wait: Wait::No,
        }
    }

    /// Reserve up to `max` jobs with a lease, oldest first, without waiting.
    pub fn reserve(max: usize, lease: Duration) -> Self {
        PullRequest {
            mode: Mode::Reserve { lease },
            ..Self::pop(max)
        }
    }

    /// With a waiting rule.
    pub fn wait(mut self, wait: Wait) -> Self {
        self.wait = wait;
        self
    }

    /// Taking from the back (newest first: `RPOP`).
    pub fn from_back(mut self) -> Self {
        self.end = End::Back;
        self
    }
}

/// What a pull got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pulled {
    /// Jobs, all from `queue`.
    Jobs {
        /// The queue they came from.
        queue: Bytes,
        /// The jobs, in pull order.
        deliveries: Vec<Delivery>,
    },
    /// Nothing ready: the pull is parked; its result comes as an [`Event`] for this waiter.
    Waiting(WaiterId),
    /// Nothing ready, and the pull did not want to wait.
    Empty,
}

/// The outcome of a parked pull, for the host to send to its consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Jobs arrived.
    Served {
        /// The parked pull.
        waiter: WaiterId,
        /// Its consumer.
        consumer: ConsumerId,
        /// The queue the jobs came from.
        queue: Bytes,
        /// The jobs.
        deliveries: Vec<Delivery>,
    },
    /// The deadline passed first.
    TimedOut {
        /// The parked pull.
        waiter: WaiterId,
        /// Its consumer.
        consumer: ConsumerId,
    },
}

/// A parked pull, as stored in the waiter set.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WaitRequest {
    consumer: u32,
    max: usize,
    mode: Mode,
    end: End,
}

/// Jobs `consumer` may take now in `mode` (reservations are capped by its prefetch).
fn credit(consumer: &Consumer, mode: Mode) -> usize {
    match (mode, consumer.prefetch) {
        (Mode::Reserve { .. }, Some(limit)) => limit.saturating_sub(consumer.leases.len()),
        _ => usize::MAX,
    }
}

impl Queues {
    /// Pulls from the first of `queues` that has ready jobs (in the order given), or parks (see
    /// [`Wait`]). Reserving with no prefetch credit left fails with
    /// [`QueueError::PrefetchLimit`].
    pub fn pull(
        &mut self,
        consumer: ConsumerId,
        queues: &[&[u8]],
        request: PullRequest,
        now: Instant,
    ) -> Result<Pulled, QueueError> {
        let key = self.consumer_key(consumer)?;
        if request.max == 0 {
            return Err(QueueError::Invalid("a pull must ask for at least one job"));
        }
        if queues.is_empty() {
            return Err(QueueError::Invalid("a pull must name a queue"));
        }
        if !self.config.auto_create {
            if let Some(missing) = queues.iter().find(|q| !self.queues.contains_key(**q)) {
                return Err(QueueError::NoSuchQueue(Bytes::copy_from_slice(missing)));
            }
        }
        // Leases and delays that fell due are settled first, so the pull sees the queue (and the
        // consumer's credit) as they are at `now`, even if the host's timer has not fired yet.
        self.expire_leases(now);
        self.promote_delayed(now);
        let c = &self.consumers[key as usize];
        let n = request.max.min(credit(c, request.mode));
        if n == 0 {
            return Err(QueueError::PrefetchLimit {
                limit: c.prefetch.unwrap_or(usize::MAX),
            });
        }
        for name in queues {
            if let Some(q) = self.queues.get(*name) {
                if q.stats.ready > 0 {
                    let queue = q.name.clone();
                    let deliveries = self.take(&queue, key, n, request.mode, request.end, now);
                    return Ok(Pulled::Jobs { queue, deliveries });
                }
            }
        }
        let deadline = match request.wait {
            Wait::No => return Ok(Pulled::Empty),
            Wait::Until(t) if t <= now => return Ok(Pulled::Empty),
            Wait::Until(t) => Some(t),
            Wait::Forever => None,
        };
        let keys = queues.iter().map(|q| Bytes::copy_from_slice(q));
        let wait = WaitRequest {
            consumer: key,
            max: request.max,
            mode: request.mode,
            end: request.end,
        };
        let w = self.waiters.add_multi(keys, wait, deadline);
        self.consumers[key as usize].waiters.push(w);
        Ok(Pulled::Waiting(w))
    }

    /// Cancels a parked pull (its client went away). Returns false if it was already served,
    /// timed out or cancelled.
    pub fn cancel_wait(&mut self, waiter: WaiterId) -> bool {
        let Some(w) = self.waiters.remove(waiter) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(w.consumer as usize) {
            c.waiters.retain(|&x| x != waiter);
        }
        true
    }

    /// Does everything due at `now`, in this order: expired leases return their jobs, delayed
    /// jobs become ready, parked pulls whose deadline passed time out, and parked pulls on
    /// queues that got jobs are served (first-come first-served per queue). Results go to the
    /// event list ([`Queues::take_events`]). Call after every command that may have made jobs
    /// ready (push, nack, remove_consumer, ack with prefetch) and when
    /// [`Queues::next_deadline`] passes.
    pub fn process(&mut self, now: Instant) {
        self.expire_leases(now);
        self.promote_delayed(now);
        while let Some((waiter, w)) = self.waiters.pop_expired(now) {
            let consumer = self.consumer_id(w.consumer);
            self.consumers[w.consumer as usize]
                .waiters
                .retain(|&x| x != waiter);
            self.events.push(Event::TimedOut { waiter, consumer });
        }
        self.serve(now);
    }

    /// Serves parked pulls on signaled queues.
    fn serve(&mut self, now: Instant) {
        let signaled = std::mem::take(&mut self.signaled);
        for name in &signaled {
            let Some(q) = self.queues.get_mut(name) else {
                continue;
            };
            q.signaled = false;
            loop {
                if self.queues.get(name).is_none_or(|q| q.stats.ready == 0) {
                    break;
                }
                // The first parked pull whose consumer can take a job (one at its prefetch
                // limit keeps its place in line).
                let consumers = &self.consumers;
                let next = self
                    .waiters
                    .iter_key(&name[..])
                    .find(|(_, w)| credit(&consumers[w.consumer as usize], w.mode) > 0)
                    .map(|(id, _)| id);
                let Some(waiter) = next else {
                    break;
                };
                let Some(w) = self.waiters.remove(waiter) else {
                    break;
                };
                let c = &mut self.consumers[w.consumer as usize];
                c.waiters.retain(|&x| x != waiter);
                let n = w.max.min(credit(c, w.mode));
                let deliveries = self.take(name, w.consumer, n, w.mode, w.end, now);
                let consumer = self.consumer_id(w.consumer);
                self.events.push(Event::Served {
                    waiter,
                    consumer,
                    queue: name.clone(),
                    deliveries,
                });
            }
        }
        // Reuse the allocation (nothing can have been signaled meanwhile: serving only removes).
        let mut signaled = signaled;
        signaled.clear();
        if self.signaled.is_empty() {
            self.signaled = signaled;
        }
    }

    /// Takes up to `n` ready jobs from `name` for consumer `key`.
    fn take(
        &mut self,
        name: &Bytes,
        key: u32,
        n: usize,
        mode: Mode,
        end: End,
        now: Instant,
    ) -> Vec<Delivery> {
        let Some(q) = self.queues.get_mut(name) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(n.min(q.stats.ready));
        while out.len() < n {
            let Some(mut job) = q.pop_ready(end) else {
                break;
            };
            job.deliveries = job.deliveries.saturating_add(1);
            q.stats.delivered += 1;
            if job.deliveries > 1 {
                q.stats.redelivered += 1;
            }
            let mut d = Delivery {
                job: job.id,
                payload: Bytes::new(),
                priority: job.priority,
                attempt: job.deliveries,
                lease: None,
                lease_deadline: None,
            };
            match mode {
                Mode::Pop => {
                    // The job is gone: its payload moves to the consumer, no clone.
                    q.stats.bytes -= job.payload.len();
                    d.payload = job.payload;
                }
                Mode::Reserve { lease } => {
                    // Shared with the lease (a reference count), in case the job comes back.
                    d.payload = job.payload.clone();
                    q.stats.reserved += 1;
                    let deadline = later(now, lease);
                    let id = self.leases.insert(Lease {
                        queue: name.clone(),
                        consumer: key,
                        job,
                        deadline,
                        duration: lease,
                    });
                    self.consumers[key as usize].leases.insert(id.0);
                    d.lease = Some(id);
                    d.lease_deadline = Some(deadline);
                }
            }
            out.push(d);
        }
        out
    }
}
