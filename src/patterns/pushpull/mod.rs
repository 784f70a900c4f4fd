//! Push-pull: named job queues (a work queue, beanstalkd / Redis lists / SQS style),
//! protocol-agnostic.
//!
//! * **Bounded**: a queue holds at most `max_jobs` jobs and `max_bytes` payload bytes (ready,
//!   delayed and reserved together); a push beyond is refused with [`QueueError::Full`] —
//!   back-pressure, never unbounded growth.
//! * **Order**: FIFO per priority (lower priority number first); a job can be delayed until a
//!   time, and pushed at either end. Jobs that come back (nack, expired lease, lost consumer)
//!   return to the place they left, so FIFO survives redelivery.
//! * **Pull** up to N jobs, from the first of several queues that has some; if none is ready,
//!   optionally park until one is or until a deadline ([`Wait`]) — long polling. Parked pulls are
//!   served first-come first-served by [`Queues::process`], which the host calls after each
//!   command (so, as in Redis, blocked clients are served *after* the pushing command
//!   completes: `LPUSH q a b c` lands whole first).
//! * **Delivery modes**: [`Mode::Pop`] is at-most-once (the job is gone once handed out).
//!   [`Mode::Reserve`] is at-least-once: the job is leased; [`Queues::ack`] ends it,
//!   [`Queues::nack`] returns it (optionally delayed), [`Queues::touch`] extends the lease. An
//!   expired lease or a removed consumer returns its jobs; after `max_deliveries` a returning job
//!   is dead-lettered. A consumer's `prefetch` caps the jobs it holds unacked.
//!
//! Time is passed in; [`Queues::next_deadline`] says when lease expiry, delayed jobs or a
//! pull's timeout need [`Queues::process`] again ([`crate::patterns::Timed`] does that on a loop).
//! Results of parked pulls come out as [`Event`]s the host routes to its connections.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::Bytes;
//! use ringloop::patterns::pushpull::{
//!     ConsumerOptions, Event, PullRequest, Pulled, PushOptions, Queues, QueuesConfig, Wait,
//! };
//!
//! let mut q = Queues::new(QueuesConfig::default());
//! let worker = q.add_consumer(ConsumerOptions::default());
//! let now = Instant::now();
//!
//! // Nothing yet: the worker parks for up to 5 s.
//! let req = PullRequest::reserve(1, Duration::from_secs(30)).wait(Wait::timeout(Duration::from_secs(5), now));
//! let Pulled::Waiting(waiter) = q.pull(worker, &[b"jobs"], req, now)? else { unreachable!() };
//!
//! q.push(b"jobs", Bytes::from_static(b"resize img-1"), PushOptions::default(), now)?;
//! q.process(now); // after the command: serve parked pulls
//! let mut events = Vec::new();
//! q.take_events(&mut events);
//! let Event::Served { waiter: w, deliveries, .. } = &events[0] else { unreachable!() };
//! assert_eq!(*w, waiter);
//! q.ack(deliveries[0].lease.unwrap())?;
//! assert_eq!(q.stats(b"jobs").unwrap().acked, 1);
//! # Ok::<(), ringloop::patterns::pushpull::QueueError>(())
//! ```

mod chunked;
mod delayed;
mod error;
mod job;
mod leases;
mod pull;
mod push;
mod queue;
mod settle;

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use slab::Slab;

pub use error::QueueError;
pub use job::{Delivery, End, JobId, LeaseId, PushOptions};
pub use pull::{Event, Mode, PullRequest, Pulled, Wait};
pub use queue::{QueueConfig, QueueStats};
pub use settle::Returned;

use super::IdSet;
use super::{Deadline, WaiterId, Waiters};
use crate::patterns::NameMap;
use delayed::Delayed;
use leases::Leases;
use pull::WaitRequest;
use queue::Queue;

/// Identifies a consumer of one [`Queues`]. Stale ids never match a new consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConsumerId {
    key: u32,
    gen: u64,
}

impl fmt::Display for ConsumerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}.{}", self.gen, self.key)
    }
}

/// A consumer's settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsumerOptions {
    /// Reserved (unacked) jobs it may hold at most; `None` = no limit. A reserve asks for at most
    /// the remaining credit.
    pub prefetch: Option<usize>,
}

/// Settings of a [`Queues`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuesConfig {
    /// Settings of queues created on demand (and of dead-letter queues).
    pub default_queue: QueueConfig,
    /// Create a queue on its first push (Redis lists); if false, only [`Queues::declare`]
    /// creates queues, and other calls naming an unknown queue fail with
    /// [`QueueError::NoSuchQueue`].
    pub auto_create: bool,
}

impl Default for QueuesConfig {
    fn default() -> Self {
        QueuesConfig {
            default_queue: QueueConfig::default(),
            auto_create: true,
        }
    }
}

struct Consumer {
    gen: u64,
    prefetch: Option<usize>,
    /// Lease ids it holds.
    leases: IdSet,
    /// Its parked pulls (usually none or one).
    waiters: Vec<WaiterId>,
}

/// A set of named job queues sharing consumers, leases and parked pulls (see the
/// [module docs](self)).
pub struct Queues {
    config: QueuesConfig,
    queues: NameMap<Bytes, Queue>,
    consumers: Slab<Consumer>,
    next_consumer_gen: u64,
    leases: Leases,
    delayed: Delayed,
    waiters: Waiters<Bytes, WaitRequest>,
    /// Queues that got ready jobs while pulls are parked on them, in the order that happened.
    signaled: Vec<Bytes>,
    events: Vec<Event>,
    next_job: u64,
}

impl Queues {
    /// No queues yet.
    pub fn new(config: QueuesConfig) -> Self {
        Queues {
            config,
            queues: NameMap::default(),
            consumers: Slab::new(),
            next_consumer_gen: 0,
            leases: Leases::default(),
            delayed: Delayed::default(),
            waiters: Waiters::new(),
            signaled: Vec::new(),
            events: Vec::new(),
            next_job: 0,
        }
    }

    /// Creates a queue, or changes its settings (lower limits refuse new pushes until it has
    /// drained below them; nothing already held is dropped).
    pub fn declare(&mut self, name: &[u8], config: QueueConfig) -> Result<(), QueueError> {
        if config.max_deliveries == Some(0) {
            return Err(QueueError::Invalid("max_deliveries must be at least 1"));
        }
        match self.queues.get_mut(name) {
            Some(q) => q.config = config,
            None => {
                let name = Bytes::copy_from_slice(name);
                self.queues.insert(name.clone(), Queue::new(name, config));
            }
        }
        Ok(())
    }

    /// Deletes a queue with every job it holds (ready, delayed, reserved: their leases end).
    /// Parked pulls stay parked on the name. Returns the number of jobs dropped, or `None` if
    /// there was no such queue.
    pub fn delete(&mut self, name: &[u8]) -> Option<usize> {
        let mut q = self.queues.remove(name)?;
        let held = q.held();
        q.clear_ready();
        self.delayed.remove_queue(name);
        for (id, lease) in self.leases.remove_queue(name) {
            if let Some(c) = self.consumers.get_mut(lease.consumer as usize) {
                c.leases.remove(&id.0);
            }
        }
        self.signaled.retain(|s| s != name);
        Some(held)
    }

    /// Adds a consumer (a connection, a worker, or one per HTTP client identity).
    pub fn add_consumer(&mut self, options: ConsumerOptions) -> ConsumerId {
        let gen = self.next_consumer_gen;
        self.next_consumer_gen += 1;
        let key = self.consumers.insert(Consumer {
            gen,
            prefetch: options.prefetch,
            leases: IdSet::default(),
            waiters: Vec::new(),
        });
        ConsumerId {
            key: key as u32,
            gen,
        }
    }

    /// Changes a consumer's prefetch limit.
    pub fn set_prefetch(
        &mut self,
        id: ConsumerId,
        prefetch: Option<usize>,
    ) -> Result<(), QueueError> {
        let key = self.consumer_key(id)?;
        self.consumers[key as usize].prefetch = prefetch;
        self.credit_freed(key);
        Ok(())
    }

    /// Removes a consumer (it disconnected or crashed): its parked pulls are cancelled and its
    /// reserved jobs go back to their queues for others (or to the dead-letter queue if they
    /// reached `max_deliveries`). Returns how many jobs it held. Call [`Queues::process`]
    /// afterwards to hand them to parked pulls.
    pub fn remove_consumer(&mut self, id: ConsumerId, now: Instant) -> Result<usize, QueueError> {
        let key = self.consumer_key(id)?;
        let consumer = self.consumers.remove(key as usize);
        for w in consumer.waiters {
            self.waiters.remove(w);
        }
        // Lease ids grow with time: returning in id order keeps dead-lettering deterministic.
        let mut leases: Vec<u64> = consumer.leases.into_iter().collect();
        leases.sort_unstable();
        let n = leases.len();
        for id in leases {
            if let Some(lease) = self.leases.remove(LeaseId(id)) {
                if let Some(q) = self.queues.get_mut(&lease.queue) {
                    q.stats.orphaned += 1;
                }
                self.return_job(lease.queue, lease.job, None, now);
            }
        }
        Ok(n)
    }

    /// Reserved jobs the consumer holds.
    pub fn held_by(&self, id: ConsumerId) -> Result<usize, QueueError> {
        let key = self.consumer_key(id)?;
        Ok(self.consumers[key as usize].leases.len())
    }

    /// A queue's gauges and counters, or `None` if it does not exist and no pull is parked on
    /// its name (pulls may wait for a queue that a later push creates).
    pub fn stats(&self, name: &[u8]) -> Option<QueueStats> {
        let waiting = self.waiters.waiting_on(name);
        let stats = match self.queues.get(name) {
            Some(q) => q.stats,
            None if waiting > 0 => QueueStats::default(),
            None => return None,
        };
        Some(QueueStats { waiting, ..stats })
    }

    /// Pulls parked on a queue name.
    pub fn waiting_on(&self, name: &[u8]) -> usize {
        self.waiters.waiting_on(name)
    }

    /// Ready jobs in a queue (`LLEN`); 0 for a missing queue.
    pub fn len(&self, name: &[u8]) -> usize {
        self.queues.get(name).map_or(0, |q| q.stats.ready)
    }

    /// True if the queue has no ready job.
    pub fn is_empty(&self, name: &[u8]) -> bool {
        self.len(name) == 0
    }

    /// The ready jobs of a queue in pull order, as `(id, payload)` (`LRANGE`).
    pub fn ready_jobs<'a>(&'a self, name: &[u8]) -> impl Iterator<Item = (JobId, &'a Bytes)> + 'a {
        self.queues
            .get(name)
            .into_iter()
            .flat_map(|q| q.iter_ready())
            .map(|j| (j.id, &j.payload))
    }

    /// Names of existing queues (no particular order).
    pub fn names(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.queues.keys()
    }

    /// Pulls parked in total.
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// The earliest time [`Queues::process`] has work: a lease expiring, a delayed job becoming
    /// ready, or a parked pull timing out.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        [
            self.leases.next_deadline(),
            self.delayed.next_deadline(),
            self.waiters.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Moves the events produced so far (served and timed-out pulls) to `out`.
    pub fn take_events(&mut self, out: &mut Vec<Event>) {
        out.append(&mut self.events);
    }

    /// True if events are waiting for [`Queues::take_events`].
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    fn consumer_key(&self, id: ConsumerId) -> Result<u32, QueueError> {
        match self.consumers.get(id.key as usize) {
            Some(c) if c.gen == id.gen => Ok(id.key),
            _ => Err(QueueError::UnknownConsumer),
        }
    }

    fn consumer_id(&self, key: u32) -> ConsumerId {
        ConsumerId {
            key,
            gen: self.consumers[key as usize].gen,
        }
    }

    /// The queue, created on demand if allowed.
    fn queue_for_push(&mut self, name: &[u8]) -> Result<&mut Queue, QueueError> {
        if !self.queues.contains_key(name) {
            if !self.config.auto_create {
                return Err(QueueError::NoSuchQueue(Bytes::copy_from_slice(name)));
            }
            let name = Bytes::copy_from_slice(name);
            let q = Queue::new(name.clone(), self.config.default_queue.clone());
            self.queues.insert(name, q);
        }
        Ok(self
            .queues
            .get_mut(name)
            .expect("the queue was just ensured"))
    }

    /// Notes that `name` has ready jobs, if pulls are parked on it.
    fn signal(&mut self, name: &Bytes) {
        if self.waiters.waiting_on(&name[..]) == 0 {
            return;
        }
        if let Some(q) = self.queues.get_mut(name) {
            if !q.signaled {
                q.signaled = true;
                self.signaled.push(name.clone());
            }
        }
    }

    /// The consumer can take more jobs now: look again at the queues its parked pulls wait on.
    fn credit_freed(&mut self, key: u32) {
        let Some(c) = self.consumers.get(key as usize) else {
            return;
        };
        if c.waiters.is_empty() {
            return;
        }
        let names: Vec<Bytes> = c
            .waiters
            .iter()
            .flat_map(|&w| self.waiters.keys_of(w).cloned().collect::<Vec<_>>())
            .collect();
        for name in names {
            self.signal(&name);
        }
    }
}

/// `now + d`, saturating about a century ahead (a lease or delay of `Duration::MAX` means
/// "practically never", not an overflow panic).
fn later(now: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(d.min(CENTURY)).unwrap_or(now)
}

impl Deadline for Queues {
    fn next_deadline(&mut self) -> Option<Instant> {
        Queues::next_deadline(self)
    }
}

impl fmt::Debug for Queues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queues")
            .field("queues", &self.queues.len())
            .field("consumers", &self.consumers.len())
            .field("waiting", &self.waiters.len())
            .finish()
    }
}
