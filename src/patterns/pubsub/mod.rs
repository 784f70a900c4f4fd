//! Publish-subscribe fan-out with Redis semantics, protocol-agnostic.
//!
//! A [`PubSub`] hub holds subscribers (ids it hands out), their channel and pattern
//! subscriptions, a bounded outbox per subscriber, optional retained history per channel, and a
//! publish-to-hand-off latency histogram. It never touches a socket:
//!
//! 1. the host adds a subscriber per connection (or per SSE stream, or per long-poll request)
//!    and subscribes it;
//! 2. [`PubSub::publish`] appends one shared frame per subscription to the outboxes (encoded once
//!    per format, see [`Encoder`]) and notes which subscribers went from nothing to send to
//!    something;
//! 3. the host collects those with [`PubSub::take_ready`] and drains each with [`PubSub::pop`] or
//!    [`PubSub::drain`] as fast as its connection accepts bytes. An evicted subscriber shows up
//!    there too, and draining it reports [`PubSubError::Evicted`].
//!
//! Semantics follow Redis: a subscriber matching a message by its channel and by two patterns
//! gets three copies; `publish` counts subscriptions reached; per-subscriber order is publish
//! order. Everything is single-threaded and deterministic: time is the `now` the host passes.
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use ringloop::patterns::pubsub::{Outgoing, PubSub, PubSubConfig, SubscriberOptions};
//!
//! let mut hub = PubSub::new(PubSubConfig::default());
//! let alice = hub.add_subscriber(SubscriberOptions::default());
//! let bob = hub.add_subscriber(SubscriberOptions::default());
//! hub.subscribe(alice, b"news.art")?;
//! hub.psubscribe(bob, b"news.*")?;
//!
//! let now = Instant::now();
//! let sent = hub.publish(b"news.art", Bytes::from_static(b"hello"), now);
//! assert_eq!(sent.receivers, 2);
//!
//! let mut ready = Vec::new();
//! hub.take_ready(&mut ready); // alice and bob have something to send
//! assert_eq!(ready.len(), 2);
//! match hub.pop(bob, now)? {
//!     Some(Outgoing::Message(d)) => {
//!         assert_eq!(d.pattern.as_deref(), Some(&b"news.*"[..]));
//!         assert_eq!(d.message.payload, "hello");
//!     }
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), ringloop::patterns::pubsub::PubSubError>(())
//! ```

mod error;
mod history;
mod message;
mod outbox;
mod publish;
mod replay;
mod subscribe;

use std::collections::HashMap;
use std::fmt;

use bytes::Bytes;
use slab::Slab;

pub use error::PubSubError;
pub use history::HistoryError;
pub use message::{BytesEncoder, Delivery, Encoder, Format, Message, RawEncoder};
pub use outbox::{EvictReason, OutboxInfo, Outgoing, SlowPolicy};

use super::{Glob, LatencyHistogram};
use crate::patterns::NameMap;
use history::History;
use outbox::Outbox;

/// Identifies a subscriber of one hub. Stale ids (removed subscribers) never match a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriberId {
    key: u32,
    gen: u64,
}

impl fmt::Display for SubscriberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}.{}", self.gen, self.key)
    }
}

/// Hub-wide settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PubSubConfig {
    /// Messages of history every channel retains from the moment it is first subscribed or
    /// published to (0 = none unless [`PubSub::retain`] asks). With a non-zero default, every
    /// channel name ever published keeps its ring until [`PubSub::forget`]: set it only when
    /// channel names are not chosen by untrusted clients.
    pub default_history: usize,
}

/// Per-subscriber settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscriberOptions {
    /// The wire format its frames are encoded in.
    pub format: Format,
    /// What happens when it falls behind.
    pub policy: SlowPolicy,
}

/// The result of a subscribe or unsubscribe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscribed {
    /// False if it was already (un)subscribed: nothing changed.
    pub changed: bool,
    /// The subscriber's channels plus patterns afterwards (the count Redis replies with).
    pub count: usize,
}

/// The result of a publish. Every subscription the message matched is counted in exactly one of
/// `receivers`, `skipped` and `evicted`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Subscriptions whose outbox queued the message.
    pub receivers: usize,
    /// Subscriptions whose drop-oldest outbox dropped it at once (larger than the whole outbox).
    pub skipped: usize,
    /// Subscriptions of subscribers evicted by this publish (their outbox limit was hit).
    pub evicted: usize,
    /// The message's id in the channel's history, if it retains one.
    pub id: Option<u64>,
}

impl Published {
    /// Subscriptions the message matched: the number Redis' `PUBLISH` replies with (Redis
    /// counts a client even if it is about to be closed for its output buffer).
    pub fn matched(&self) -> usize {
        self.receivers + self.skipped + self.evicted
    }
}

/// Counters of a hub.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PubSubStats {
    /// Live subscribers (evicted ones included until removed).
    pub subscribers: usize,
    /// Channels with at least one subscriber.
    pub channels: usize,
    /// Distinct patterns with at least one subscriber.
    pub patterns: usize,
    /// Channels keeping history.
    pub retaining_channels: usize,
    /// Messages published.
    pub published: u64,
    /// Frames queued in outboxes (one per subscription reached).
    pub delivered: u64,
    /// Frames handed to the host (drained).
    pub handed_off: u64,
    /// Frames dropped by drop-oldest outboxes.
    pub skipped: u64,
    /// Subscribers evicted for being slow.
    pub evicted: u64,
}

struct Subscriber<F> {
    gen: u64,
    format: Format,
    outbox: Outbox<F>,
    /// Channel → this subscriber's index in the channel's subscriber list (kept up to date
    /// when a swap-remove moves it), so unsubscribing is O(1).
    channels: NameMap<Bytes, usize>,
    /// Pattern slot → index in the pattern's subscriber list.
    patterns: HashMap<usize, usize>,
    /// Already on the hub's ready list.
    flagged: bool,
    evicted: Option<EvictReason>,
}

struct Channel {
    name: Bytes,
    /// Subscriber slab keys. A `Vec`, because publishing iterates it far more often than anyone
    /// unsubscribes.
    subs: Vec<u32>,
    history: Option<History>,
    /// The newest id assigned (0 = none yet).
    last_id: u64,
}

struct Pattern {
    glob: Glob,
    name: Bytes,
    subs: Vec<u32>,
}

/// A pub-sub hub (see the [module docs](self)).
///
/// `E` turns messages into the frames outboxes hold; the default [`RawEncoder`] hands the
/// message itself to the host.
pub struct PubSub<E: Encoder = RawEncoder> {
    encoder: E,
    config: PubSubConfig,
    subscribers: Slab<Subscriber<E::Frame>>,
    next_gen: u64,
    channels: NameMap<Bytes, Channel>,
    patterns: Slab<Pattern>,
    pattern_index: NameMap<Bytes, usize>,
    /// Subscribers that became non-empty (or were evicted) since the last `take_ready`.
    ready: Vec<SubscriberId>,
    /// Scratch space reused by every publish (no allocation per message).
    scratch: Scratch<E::Frame>,
    stats: PubSubStats,
    latency: LatencyHistogram,
}

struct Scratch<F> {
    /// Frames encoded for the current route, one per format seen.
    frames: Vec<(Format, F, usize)>,
    /// Subscribers evicted during the current publish, cleaned up once the fan-out is done.
    evicted: Vec<u32>,
}

impl PubSub<RawEncoder> {
    /// A hub handing raw messages to the host.
    pub fn new(config: PubSubConfig) -> Self {
        PubSub::with_encoder(RawEncoder, config)
    }
}

impl<E: Encoder> PubSub<E> {
    /// A hub encoding frames with `encoder`.
    pub fn with_encoder(encoder: E, config: PubSubConfig) -> Self {
        PubSub {
            encoder,
            config,
            subscribers: Slab::new(),
            next_gen: 0,
            channels: NameMap::default(),
            patterns: Slab::new(),
            pattern_index: NameMap::default(),
            ready: Vec::new(),
            scratch: Scratch {
                frames: Vec::new(),
                evicted: Vec::new(),
            },
            stats: PubSubStats::default(),
            latency: LatencyHistogram::new(),
        }
    }

    /// The encoder.
    pub fn encoder(&self) -> &E {
        &self.encoder
    }

    /// The encoder, mutably.
    pub fn encoder_mut(&mut self) -> &mut E {
        &mut self.encoder
    }

    /// Adds a subscriber with no subscriptions.
    pub fn add_subscriber(&mut self, options: SubscriberOptions) -> SubscriberId {
        let gen = self.next_gen;
        self.next_gen += 1;
        let key = self.subscribers.insert(Subscriber {
            gen,
            format: options.format,
            outbox: Outbox::new(options.policy),
            channels: NameMap::default(),
            patterns: HashMap::new(),
            flagged: false,
            evicted: None,
        });
        SubscriberId {
            key: key as u32,
            gen,
        }
    }

    /// Removes a subscriber (its connection closed): every subscription and queued frame goes.
    /// Returns false for an unknown id.
    pub fn remove_subscriber(&mut self, id: SubscriberId) -> bool {
        let Some(key) = self.key_of(id) else {
            return false;
        };
        self.drop_subscriptions(key);
        self.subscribers.remove(key as usize);
        true
    }

    /// True if the id names a subscriber (evicted or not) that has not been removed.
    pub fn contains(&self, id: SubscriberId) -> bool {
        self.key_of(id).is_some()
    }

    /// Why the subscriber was evicted, if it was.
    pub fn evicted(&self, id: SubscriberId) -> Result<Option<EvictReason>, PubSubError> {
        let key = self.key_of(id).ok_or(PubSubError::UnknownSubscriber)?;
        Ok(self.subscribers[key as usize].evicted)
    }

    /// The subscriber's outbox.
    pub fn outbox(&self, id: SubscriberId) -> Result<OutboxInfo, PubSubError> {
        let key = self.key_of(id).ok_or(PubSubError::UnknownSubscriber)?;
        Ok(self.subscribers[key as usize].outbox.info())
    }

    /// Counters.
    pub fn stats(&self) -> PubSubStats {
        PubSubStats {
            subscribers: self.subscribers.len(),
            channels: self
                .channels
                .values()
                .filter(|c| !c.subs.is_empty())
                .count(),
            patterns: self.pattern_index.len(),
            retaining_channels: self
                .channels
                .values()
                .filter(|c| c.history.is_some())
                .count(),
            ..self.stats
        }
    }

    /// Publish-to-hand-off latency of every frame drained so far (history replays excluded).
    pub fn latency(&self) -> &LatencyHistogram {
        &self.latency
    }

    /// The latency histogram, mutably (to reset it between reporting periods).
    pub fn latency_mut(&mut self) -> &mut LatencyHistogram {
        &mut self.latency
    }

    fn key_of(&self, id: SubscriberId) -> Option<u32> {
        let s = self.subscribers.get(id.key as usize)?;
        (s.gen == id.gen).then_some(id.key)
    }

    /// The slab key of a subscriber that may (still) subscribe and receive.
    fn live_key(&self, id: SubscriberId) -> Result<u32, PubSubError> {
        let key = self.key_of(id).ok_or(PubSubError::UnknownSubscriber)?;
        match self.subscribers[key as usize].evicted {
            Some(reason) => Err(PubSubError::Evicted(reason)),
            None => Ok(key),
        }
    }

    fn id_at(&self, key: u32) -> SubscriberId {
        SubscriberId {
            key,
            gen: self.subscribers[key as usize].gen,
        }
    }
}

impl<E: Encoder> fmt::Debug for PubSub<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubSub")
            .field("stats", &self.stats())
            .finish()
    }
}
