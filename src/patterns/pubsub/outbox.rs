//! A subscriber's bounded outbox and what happens when it fills up.
//!
//! A publish only ever appends to outboxes (O(1) per subscriber); the host drains each outbox at
//! the pace of its connection. So a slow subscriber cannot slow the publisher or anyone else —
//! it can only fill its own outbox, and the [`SlowPolicy`] says what then:
//!
//! * [`SlowPolicy::Disconnect`] (the default, Redis' `client-output-buffer-limit pubsub 32mb 8mb
//!   60`): above the hard limit, or above the soft limit for longer than the soft time, the
//!   subscriber is evicted and the host should close its connection. Like Redis, limits are
//!   checked when a message is added (a subscriber that is not receiving is not growing).
//! * [`SlowPolicy::DropOldest`]: the oldest queued messages make room for new ones, and the
//!   number dropped is reported to the subscriber ([`Outgoing::Skipped`]) before the next message
//!   it does get, so it knows it lagged — the lossy but non-disconnecting choice of live feeds.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// What to do when a subscriber does not keep up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowPolicy {
    /// Evict the subscriber when its outbox reaches `hard_limit` bytes, or stays at or above
    /// `soft_limit` bytes for longer than `soft_time`. A limit of 0 disables that check.
    Disconnect {
        /// Bytes at which the subscriber is evicted at once.
        hard_limit: usize,
        /// Bytes above which the subscriber may stay only for `soft_time`.
        soft_limit: usize,
        /// How long the soft limit may be exceeded.
        soft_time: Duration,
    },
    /// Keep at most `max_messages` messages and `max_bytes` bytes, dropping the oldest (a single
    /// message larger than `max_bytes` is dropped itself). Drops are counted and reported.
    DropOldest {
        /// Queued messages kept at most.
        max_messages: usize,
        /// Queued bytes kept at most.
        max_bytes: usize,
    },
}

impl SlowPolicy {
    /// Redis' default for pub-sub clients: hard limit 32 MiB, soft limit 8 MiB for 60 s.
    pub const REDIS_DEFAULT: SlowPolicy = SlowPolicy::Disconnect {
        hard_limit: 32 << 20,
        soft_limit: 8 << 20,
        soft_time: Duration::from_secs(60),
    };

    /// Drop-oldest keeping at most `max_messages` (no byte limit).
    pub fn drop_oldest(max_messages: usize) -> SlowPolicy {
        SlowPolicy::DropOldest {
            max_messages,
            max_bytes: usize::MAX,
        }
    }
}

impl Default for SlowPolicy {
    fn default() -> Self {
        SlowPolicy::REDIS_DEFAULT
    }
}

/// Why a subscriber was evicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictReason {
    /// The outbox would have reached the hard limit.
    HardLimit {
        /// Bytes the outbox would have held.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The outbox stayed above the soft limit too long.
    SoftLimit {
        /// Bytes the outbox would have held.
        bytes: usize,
        /// The limit.
        limit: usize,
        /// How long it had been above the limit.
        over_for: Duration,
    },
}

impl fmt::Display for EvictReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvictReason::HardLimit { bytes, limit } => write!(
                f,
                "output buffer of {bytes} bytes reached the hard limit of {limit} bytes"
            ),
            EvictReason::SoftLimit {
                bytes,
                limit,
                over_for,
            } => write!(
                f,
                "output buffer of {bytes} bytes stayed above the soft limit of {limit} bytes for {over_for:?}"
            ),
        }
    }
}

/// One item drained from an outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing<F> {
    /// A message frame, to write to the subscriber.
    Message(F),
    /// This many messages were dropped (drop-oldest policy) just before the next message: tell
    /// the subscriber it lagged.
    Skipped(u64),
}

/// A snapshot of one outbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxInfo {
    /// Messages queued.
    pub messages: usize,
    /// Bytes queued (as counted by the encoder).
    pub bytes: usize,
    /// Messages dropped so far in this subscriber's life (drop-oldest policy).
    pub skipped_total: u64,
    /// Since when the outbox has been above the soft limit (disconnect policy).
    pub over_soft_limit_since: Option<Instant>,
}

struct Queued<F> {
    frame: F,
    len: usize,
    /// `None` for history replays, which must not count as publish-to-delivery latency.
    published_at: Option<Instant>,
}

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; `dropped` older messages made room (drop-oldest).
    Queued { dropped: u64 },
    /// Not queued: larger than the whole outbox (drop-oldest), counted as skipped.
    Skipped,
    /// Not queued: the subscriber must go.
    Evict(EvictReason),
}

pub(crate) struct Outbox<F> {
    queue: VecDeque<Queued<F>>,
    bytes: usize,
    skipped_pending: u64,
    skipped_total: u64,
    soft_since: Option<Instant>,
    policy: SlowPolicy,
}

impl<F> Outbox<F> {
    pub(crate) fn new(policy: SlowPolicy) -> Self {
        Outbox {
            queue: VecDeque::new(),
            bytes: 0,
            skipped_pending: 0,
            skipped_total: 0,
            soft_since: None,
            policy,
        }
    }

    pub(crate) fn push(
        &mut self,
        frame: F,
        len: usize,
        published_at: Option<Instant>,
        now: Instant,
    ) -> Pushed {
        let mut dropped = 0;
        match self.policy {
            SlowPolicy::Disconnect {
                hard_limit,
                soft_limit,
                soft_time,
            } => {
                let used = self.bytes.saturating_add(len);
                if hard_limit > 0 && used >= hard_limit {
                    return Pushed::Evict(EvictReason::HardLimit {
                        bytes: used,
                        limit: hard_limit,
                    });
                }
                if soft_limit > 0 && used >= soft_limit {
                    match self.soft_since {
                        None => self.soft_since = Some(now),
                        Some(since) => {
                            let over_for = now.saturating_duration_since(since);
                            if over_for > soft_time {
                                return Pushed::Evict(EvictReason::SoftLimit {
                                    bytes: used,
                                    limit: soft_limit,
                                    over_for,
                                });
                            }
                        }
                    }
                } else {
                    self.soft_since = None;
                }
            }
            SlowPolicy::DropOldest {
                max_messages,
                max_bytes,
            } => {
                if len > max_bytes || max_messages == 0 {
                    self.skip(1);
                    return Pushed::Skipped;
                }
                while self.queue.len() >= max_messages || self.bytes + len > max_bytes {
                    let Some(old) = self.queue.pop_front() else {
                        break;
                    };
                    self.bytes -= old.len;
                    dropped += 1;
                }
                self.skip(dropped);
            }
        }
        self.bytes += len;
        self.queue.push_back(Queued {
            frame,
            len,
            published_at,
        });
        Pushed::Queued { dropped }
    }

    fn skip(&mut self, n: u64) {
        self.skipped_pending += n;
        self.skipped_total += n;
    }

    /// The next item, and the publish time of a message (for the latency histogram).
    pub(crate) fn pop(&mut self) -> Option<(Outgoing<F>, Option<Instant>)> {
        if self.skipped_pending > 0 {
            return Some((
                Outgoing::Skipped(std::mem::take(&mut self.skipped_pending)),
                None,
            ));
        }
        let q = self.queue.pop_front()?;
        self.bytes -= q.len;
        Some((Outgoing::Message(q.frame), q.published_at))
    }

    pub(crate) fn clear(&mut self) {
        self.queue = VecDeque::new();
        self.bytes = 0;
        self.skipped_pending = 0;
        self.soft_since = None;
    }

    pub(crate) fn info(&self) -> OutboxInfo {
        OutboxInfo {
            messages: self.queue.len(),
            bytes: self.bytes,
            skipped_total: self.skipped_total,
            over_soft_limit_since: self.soft_since,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_oldest_reports_skips_before_the_next_message() {
        let now = Instant::now();
        let mut o = Outbox::new(SlowPolicy::drop_oldest(2));
        for i in 0..5u32 {
            o.push(i, 1, Some(now), now);
        }
        assert_eq!(o.pop().unwrap().0, Outgoing::Skipped(3));
        assert_eq!(o.pop().unwrap().0, Outgoing::Message(3));
        assert_eq!(o.pop().unwrap().0, Outgoing::Message(4));
        assert!(o.pop().is_none());
        assert_eq!(o.info().skipped_total, 3);
    }

    #[test]
    fn disconnect_soft_limit_needs_time() {
        let t0 = Instant::now();
        let mut o = Outbox::new(SlowPolicy::Disconnect {
            hard_limit: 100,
            soft_limit: 10,
            soft_time: Duration::from_secs(60),
        });
        assert_eq!(o.push((), 10, None, t0), Pushed::Queued { dropped: 0 });
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(o.push((), 1, None, t1), Pushed::Queued { dropped: 0 });
        let t2 = t0 + Duration::from_secs(61);
        assert!(matches!(
            o.push((), 1, None, t2),
            Pushed::Evict(EvictReason::SoftLimit { .. })
        ));
        assert!(matches!(
            o.push((), 100, None, t0),
            Pushed::Evict(EvictReason::HardLimit {
                bytes: 111,
                limit: 100
            })
        ));
    }
}
