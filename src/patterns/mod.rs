//! Patterns: protocol-agnostic building blocks above the loop — pub-sub fan-out, push-pull job
//! queues, long-poll waiters. They know nothing of RESP or HTTP, so the broker, the HTTP front
//! (SSE, long polling) and programs embedding the crate share them.
//!
//! * [`pubsub`]: channels and Redis-glob pattern subscriptions, zero-copy fan-out into bounded
//!   per-subscriber outboxes (disconnect or drop-oldest when a subscriber is slow), optional
//!   retained history with resume-after-id, publish-to-hand-off latency.
//! * [`pushpull`]: named job queues bounded by count and bytes, priorities and delays, pull now or
//!   wait (long polling, first-come first-served), at-most-once pop or at-least-once reserve with
//!   leases, ack / nack / touch, redelivery and dead-lettering, per-consumer prefetch, stats.
//! * [`pool`]: a client-side connection pool on the loop — checkouts in three styles (FCFS
//!   waiters, bounded queue), min idle / max size, idle timeout, jittered lifetime, connect
//!   timeout, reconnect backoff, broken and dirty connections discarded, health checks, stats.
//!   The exception to the "plain data structure" shape below: a pool owns sockets and lives on
//!   an [`EventLoop`](crate::EventLoop).
//! * [`Waiters`]: the long-poll piece both use — FIFO waiters per key with deadlines.
//! * [`Glob`]: Redis' glob rules. [`LatencyHistogram`]: the histogram the patterns record into.
//!   [`IdBuild`]: a cheap hasher for maps keyed by generated ids.
//!
//! ## Shape
//!
//! Each pattern is a plain data structure: no threads, no global state, no sockets, no clock.
//! Time comes in as `now: Instant` arguments, and anything with deadlines answers
//! `next_deadline()` and does its timed work when the host calls it with a later `now` — so it
//! is deterministic, and the property tests drive it without a loop. Subscribers, consumers and
//! waiters are small ids the structure hands out; how bytes reach a socket stays the host's
//! business: the structure says *who* has something to send (a ready list, a list of events),
//! the host drains it at its connection's pace.
//!
//! On an [`EventLoop`](crate::EventLoop), [`Timed`] (or the lower-level [`DeadlineTimer`]) keeps
//! one loop timer armed for the structure's nearest deadline and calls the host back when it
//! passes.

pub mod glob;
pub mod id_hash;
pub mod latency;
pub mod pool;
pub mod pubsub;
pub mod pushpull;
pub mod timed;
pub mod waiters;

pub use glob::{glob_match, Glob};
pub use id_hash::{IdBuild, IdHasher, IdMap, IdSet, NameBuild, NameMap};
pub use latency::LatencyHistogram;
pub use timed::{Deadline, DeadlineTimer, Timed};
pub use waiters::{WaiterId, Waiters};
