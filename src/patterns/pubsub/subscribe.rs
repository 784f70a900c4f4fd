//! Subscriptions: (un)subscribe to channels and patterns, and the introspection Redis' `PUBSUB`
//! command needs.
//!
//! Each channel and pattern keeps a `Vec` of subscriber keys (publishing iterates it), and each
//! subscriber remembers its index in every such `Vec`. Unsubscribing swap-removes and fixes the
//! index of the one subscriber that moved: O(1), with no scan of a 10,000-subscriber channel.
//! A channel or pattern with no subscribers left is removed (unless the channel keeps history),
//! so clients that come and go leave nothing behind.

use bytes::Bytes;

use super::{Channel, Encoder, History, Pattern, PubSub, PubSubError, Subscribed, SubscriberId};
use crate::patterns::Glob;

impl<E: Encoder> PubSub<E> {
    /// Subscribes to a channel (exact name).
    pub fn subscribe(
        &mut self,
        id: SubscriberId,
        channel: &[u8],
    ) -> Result<Subscribed, PubSubError> {
        let key = self.live_key(id)?;
        let changed = !self.subscribers[key as usize]
            .channels
            .contains_key(channel);
        if changed {
            let ch = self.channel_entry(channel);
            let pos = ch.subs.len();
            ch.subs.push(key);
            let name = ch.name.clone();
            self.subscribers[key as usize].channels.insert(name, pos);
        }
        Ok(self.counted(key, changed))
    }

    /// Unsubscribes from a channel.
    pub fn unsubscribe(
        &mut self,
        id: SubscriberId,
        channel: &[u8],
    ) -> Result<Subscribed, PubSubError> {
        let key = self.key_of(id).ok_or(PubSubError::UnknownSubscriber)?;
        let changed = self.unlink_channel(key, channel);
        Ok(self.counted(key, changed))
    }

    /// Unsubscribes from every channel (not patterns, as Redis' `UNSUBSCRIBE` without
    /// arguments); returns the channels left, for the per-channel replies.
    pub fn unsubscribe_all(&mut self, id: SubscriberId) -> Result<Vec<Bytes>, PubSubError> {
        let key = self.key_of(id).ok_or(PubSubError::UnknownSubscriber)?;
        let names: Vec<Bytes> = self.subscribers[key as usize]
            .channels
            .keys()
            .cloned()
            .collect();
        for name in &names {
            self.unlink_channel(key, name);
        }
        Ok(names)
    }

    /// Subscribes to a glob pattern (Redis rules, see [`Glob`]).
    pub fn psubscribe(
        &mut self,
        id: SubscriberId,
        pattern: &[u8],
    ) -> Result<Subscribed, PubSubError> {
        let key = self.live_key(id)?;
        let slot = match self.pattern_index.get(pattern) {
            Some(&slot) => slot,
            None => {
                let name = Bytes::copy_from_slice(pattern);
                let slot = self.patterns.insert(Pattern {
                    glob: Glob::new(pattern),
                    name: name.clone(),
                    subs: Vec::new(),
                });
                self.pattern_index.insert(name, slot);
                slot
            }
        };
        let changed = !self.subscribers[key as usize].patterns.contains_key(&slot);
        if changed {
            let p = &mut self.patterns[slot];
            let pos = p.subs.len();
            p.subs.push(key);
            self.subscribers[key as usize].patterns.insert(slot, pos);
        }
        Ok(self.counted(key, changed))
    }

    /// Unsubscribes from a pattern (the pattern's text must be the one subscribed).
    pub fn punsubscribe(
        &mut self,
        id: SubscriberId,
        pattern: &[u8],
    ) -> Result<Subscribed, PubSubError> {
        let key = self.key_of(id).ok_or(PubSubError::UnknownSubscriber)?;
        let changed = match self.pattern_index.get(pattern) {
            Some(&slot) => self.unlink_pattern(key, slot),
            None => false,
        };
        Ok(self.counted(key, changed))
    }

    /// Unsubscribes from every pattern; returns the patterns left.
    pub fn punsubscribe_all(&mut self, id: SubscriberId) -> Result<Vec<Bytes>, PubSubError> {
        let key = self.key_of(id).ok_or(PubSubError::UnknownSubscriber)?;
        let slots: Vec<usize> = self.subscribers[key as usize]
            .patterns
            .keys()
            .copied()
            .collect();
        let mut names = Vec::with_capacity(slots.len());
        for slot in slots {
            names.push(self.patterns[slot].name.clone());
            self.unlink_pattern(key, slot);
        }
        Ok(names)
    }

    /// The subscriber's channel plus pattern subscriptions.
    pub fn subscription_count(&self, id: SubscriberId) -> Result<usize, PubSubError> {
        let key = self.key_of(id).ok_or(PubSubError::UnknownSubscriber)?;
        let s = &self.subscribers[key as usize];
        Ok(s.channels.len() + s.patterns.len())
    }

    /// The channels the subscriber is subscribed to (no particular order).
    pub fn channels_of(&self, id: SubscriberId) -> Result<Vec<Bytes>, PubSubError> {
        let key = self.key_of(id).ok_or(PubSubError::UnknownSubscriber)?;
        Ok(self.subscribers[key as usize]
            .channels
            .keys()
            .cloned()
            .collect())
    }

    /// The patterns the subscriber is subscribed to (no particular order).
    pub fn patterns_of(&self, id: SubscriberId) -> Result<Vec<Bytes>, PubSubError> {
        let key = self.key_of(id).ok_or(PubSubError::UnknownSubscriber)?;
        Ok(self.subscribers[key as usize]
            .patterns
            .keys()
            .map(|&slot| self.patterns[slot].name.clone())
            .collect())
    }

    /// Channels with at least one subscriber, optionally only those matching a glob pattern
    /// (`PUBSUB CHANNELS [pattern]`). No particular order.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let glob = pattern.map(Glob::new);
        self.channels
            .values()
            .filter(|c| !c.subs.is_empty())
            .filter(|c| glob.as_ref().is_none_or(|g| g.matches(&c.name)))
            .map(|c| c.name.clone())
            .collect()
    }

    /// Subscribers of a channel, exact subscriptions only (`PUBSUB NUMSUB`).
    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.channels.get(channel).map_or(0, |c| c.subs.len())
    }

    /// Distinct patterns subscribed to (`PUBSUB NUMPAT`).
    pub fn numpat(&self) -> usize {
        self.pattern_index.len()
    }

    /// The channel's entry, created (with the default history) if missing.
    pub(super) fn channel_entry(&mut self, channel: &[u8]) -> &mut Channel {
        if !self.channels.contains_key(channel) {
            let name = Bytes::copy_from_slice(channel);
            let history = (self.config.default_history > 0)
                .then(|| History::new(self.config.default_history));
            self.channels.insert(
                name.clone(),
                Channel {
                    name,
                    subs: Vec::new(),
                    history,
                    last_id: 0,
                },
            );
        }
        self.channels
            .get_mut(channel)
            .expect("the channel entry was just ensured")
    }

    /// Every subscription of the subscriber goes (eviction, removal).
    pub(super) fn drop_subscriptions(&mut self, key: u32) {
        let s = &mut self.subscribers[key as usize];
        let channels: Vec<Bytes> = s.channels.keys().cloned().collect();
        let slots: Vec<usize> = s.patterns.keys().copied().collect();
        for name in channels {
            self.unlink_channel(key, &name);
        }
        for slot in slots {
            self.unlink_pattern(key, slot);
        }
    }

    fn counted(&self, key: u32, changed: bool) -> Subscribed {
        let s = &self.subscribers[key as usize];
        Subscribed {
            changed,
            count: s.channels.len() + s.patterns.len(),
        }
    }

    fn unlink_channel(&mut self, key: u32, channel: &[u8]) -> bool {
        let Some(pos) = self.subscribers[key as usize].channels.remove(channel) else {
            return false;
        };
        let Some(ch) = self.channels.get_mut(channel) else {
            debug_assert!(false, "a subscribed channel has an entry");
            return true;
        };
        ch.subs.swap_remove(pos);
        if let Some(&moved) = ch.subs.get(pos) {
            if let Some(p) = self.subscribers[moved as usize].channels.get_mut(channel) {
                *p = pos;
            }
        }
        if ch.subs.is_empty() && ch.history.is_none() {
            self.channels.remove(channel);
        }
        true
    }

    fn unlink_pattern(&mut self, key: u32, slot: usize) -> bool {
        let Some(pos) = self.subscribers[key as usize].patterns.remove(&slot) else {
            return false;
        };
        let p = &mut self.patterns[slot];
        p.subs.swap_remove(pos);
        if let Some(&moved) = p.subs.get(pos) {
            if let Some(i) = self.subscribers[moved as usize].patterns.get_mut(&slot) {
                *i = pos;
            }
        }
        if self.patterns[slot].subs.is_empty() {
            let p = self.patterns.remove(slot);
            self.pattern_index.remove(&p.name);
        }
        true
    }
}
