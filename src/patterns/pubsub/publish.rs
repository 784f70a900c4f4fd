//! Publishing (the fan-out) and handing frames to the host (the drain side).
//!
//! The publish path does, per message: one channel lookup, one match per distinct pattern (as
//! Redis does), and per subscription reached an outbox append of a cloned frame. Frames are
//! encoded once per route and format (cached in scratch space the hub reuses), and a subscriber
//! is put on the ready list only when it was not already there — so a publish allocates nothing
//! per subscriber. Evictions found during the fan-out are applied after it, because they change
//! the very subscriber lists being iterated.

use std::time::Instant;

use bytes::Bytes;
use slab::Slab;

use super::outbox::Pushed;
use super::{
    Encoder, Message, Outgoing, PubSub, PubSubError, PubSubStats, Published, Scratch, Subscriber,
    SubscriberId,
};

impl<E: Encoder> PubSub<E> {
    /// Publishes `payload` on `channel` to every exact and pattern subscription, appends it to the
    /// channel's history if it keeps one, and returns how many subscriptions received it
    /// ([`Published::receivers`]; [`Published::matched`] is Redis' count).
    /// `now` is the publish timestamp (for latency and the soft outbox limit).
    pub fn publish(&mut self, channel: &[u8], payload: Bytes, now: Instant) -> Published {
        self.stats.published += 1;
        if self.config.default_history > 0 {
            self.channel_entry(channel);
        }
        let PubSub {
            encoder,
            subscribers,
            channels,
            patterns,
            ready,
            scratch,
            stats,
            ..
        } = self;
        let mut sink = Sink {
            encoder,
            subscribers,
            ready,
            scratch,
            stats,
            now,
            out: Published::default(),
        };
        let mut msg = None;
        if let Some(ch) = channels.get_mut(channel) {
            let id = if ch.history.is_some() {
                ch.last_id += 1;
                Some(ch.last_id)
            } else {
                None
            };
            sink.out.id = id;
            let m = Message {
                channel: ch.name.clone(),
                payload: payload.clone(),
                id,
                published_at: now,
            };
            sink.route(&ch.subs, &m, None);
            if let Some(h) = &mut ch.history {
                h.push(m.clone());
            }
            msg = Some(m);
        }
        for (_, p) in patterns.iter() {
            if !p.glob.matches(channel) {
                continue;
            }
            let m = msg.get_or_insert_with(|| Message {
                channel: Bytes::copy_from_slice(channel),
                payload: payload.clone(),
                id: None,
                published_at: now,
            });
            sink.route(&p.subs, m, Some(&p.name));
        }
        let out = sink.out;
        self.scratch.frames.clear();
        self.apply_evictions();
        out
    }

    /// Appends to `out` the subscribers that have something new to drain (or were evicted)
    /// since the last call. Each appears once however many messages it got.
    pub fn take_ready(&mut self, out: &mut Vec<SubscriberId>) {
        for id in self.ready.drain(..) {
            if let Some(s) = self.subscribers.get_mut(id.key as usize) {
                if s.gen == id.gen {
                    s.flagged = false;
                    out.push(id);
                }
            }
        }
    }

    /// Takes the subscriber's next frame (or skipped-messages notice), recording its
    /// publish-to-hand-off latency against `now`. `Ok(None)`: the outbox is empty.
    pub fn pop(
        &mut self,
        id: SubscriberId,
        now: Instant,
    ) -> Result<Option<Outgoing<E::Frame>>, PubSubError> {
        let key = self.key_of(id).ok_or(PubSubError::UnknownSubscriber)?;
        let s = &mut self.subscribers[key as usize];
        if let Some(reason) = s.evicted {
            return Err(PubSubError::Evicted(reason));
        }
        let Some((item, published_at)) = s.outbox.pop() else {
            return Ok(None);
        };
        if let Outgoing::Message(_) = item {
            self.stats.handed_off += 1;
        }
        if let Some(t) = published_at {
            self.latency.record(now.saturating_duration_since(t));
        }
        Ok(Some(item))
    }

    /// Hands up to `max` items of the subscriber's outbox to `f`, in order; returns how many.
    pub fn drain(
        &mut self,
        id: SubscriberId,
        now: Instant,
        max: usize,
        mut f: impl FnMut(Outgoing<E::Frame>),
    ) -> Result<usize, PubSubError> {
        let mut n = 0;
        while n < max {
            match self.pop(id, now)? {
                Some(item) => f(item),
                None => break,
            }
            n += 1;
        }
        Ok(n)
    }

    /// Unsubscribes every subscriber evicted during the last fan-out and frees its outbox.
    pub(super) fn apply_evictions(&mut self) {
        let evicted = std::mem::take(&mut self.scratch.evicted);
        for &key in &evicted {
            self.drop_subscriptions(key);
            self.subscribers[key as usize].outbox.clear();
            log::debug!(
                "pubsub: evicted {}: {:?}",
                self.id_at(key),
                self.subscribers[key as usize].evicted
            );
        }
        self.scratch.evicted = evicted;
        self.scratch.evicted.clear();
    }

    /// Queues frames for one subscriber outside a publish (history replay).
    pub(super) fn deliver_one(
        &mut self,
        key: u32,
        msg: &Message,
        now: Instant,
    ) -> Result<(), PubSubError> {
        let mut sink = Sink {
            encoder: &mut self.encoder,
            subscribers: &mut self.subscribers,
            ready: &mut self.ready,
            scratch: &mut self.scratch,
            stats: &mut self.stats,
            now,
            out: Published::default(),
        };
        sink.scratch.frames.clear();
        sink.push(key, msg, None, None);
        self.scratch.frames.clear();
        self.apply_evictions();
        match self.subscribers[key as usize].evicted {
            Some(reason) => Err(PubSubError::Evicted(reason)),
            None => Ok(()),
        }
    }
}

/// The mutable parts of the hub a fan-out touches (split borrows of `PubSub`).
struct Sink<'a, E: Encoder> {
    encoder: &'a mut E,
    subscribers: &'a mut Slab<Subscriber<E::Frame>>,
    ready: &'a mut Vec<SubscriberId>,
    scratch: &'a mut Scratch<E::Frame>,
    stats: &'a mut PubSubStats,
    now: Instant,
    out: Published,
}

impl<E: Encoder> Sink<'_, E> {
    /// Delivers `msg` to every subscriber in `subs` (one route: the channel, or one pattern).
    fn route(&mut self, subs: &[u32], msg: &Message, pattern: Option<&Bytes>) {
        self.scratch.frames.clear();
        for &key in subs {
            self.push(key, msg, pattern, Some(msg.published_at));
        }
    }

    fn push(
        &mut self,
        key: u32,
        msg: &Message,
        pattern: Option<&Bytes>,
        published_at: Option<Instant>,
    ) {
        let s = &mut self.subscribers[key as usize];
        if s.evicted.is_some() {
            // Evicted earlier in this publish (by another of its subscriptions).
            self.out.evicted += 1;
            return;
        }
        let cached = self.scratch.frames.iter().find(|(f, _, _)| *f == s.format);
        let (frame, len) = match cached {
            Some((_, frame, len)) => (frame.clone(), *len),
            None => {
                let frame = self.encoder.encode(s.format, msg, pattern);
                let len = self.encoder.frame_len(&frame);
                self.scratch.frames.push((s.format, frame.clone(), len));
                (frame, len)
            }
        };
        match s.outbox.push(frame, len, published_at, self.now) {
            Pushed::Queued { dropped } => {
                self.out.receivers += 1;
                self.stats.delivered += 1;
                self.stats.skipped += dropped;
            }
            Pushed::Skipped => {
                self.out.skipped += 1;
                self.stats.skipped += 1;
            }
            Pushed::Evict(reason) => {
                s.evicted = Some(reason);
                self.out.evicted += 1;
                self.stats.evicted += 1;
                self.scratch.evicted.push(key);
            }
        }
        if !s.flagged {
            s.flagged = true;
            self.ready.push(SubscriberId { key, gen: s.gen });
        }
    }
}
