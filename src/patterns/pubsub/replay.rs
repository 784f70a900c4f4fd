//! Retained history: turning it on per channel, reading it, and replaying it into a subscriber's
//! outbox (resume after a reconnect).
//!
//! Resuming without a gap or a duplicate is a matter of ordering, and the hub is
//! single-threaded: `replay(sub, ch, after)` then `subscribe(sub, ch)` in the same call stack
//! means no publish can fall between the two.

use std::time::Instant;

use super::{Encoder, History, HistoryError, Message, PubSub, PubSubError, SubscriberId};

impl<E: Encoder> PubSub<E> {
    /// Makes `channel` keep its last `capacity` messages (0 = stop keeping history and drop it).
    /// Shrinking drops the oldest. A retaining channel exists even with no subscriber.
    pub fn retain(&mut self, channel: &[u8], capacity: usize) {
        if capacity == 0 {
            self.forget(channel);
            return;
        }
        let ch = self.channel_entry(channel);
        match &mut ch.history {
            Some(h) => h.set_capacity(capacity),
            None => ch.history = Some(History::new(capacity)),
        }
    }

    /// Drops the channel's history. If the channel then has no subscriber it is removed, and its
    /// ids start again from 1 (a client resuming with an older id gets
    /// [`HistoryError::Ahead`]).
    pub fn forget(&mut self, channel: &[u8]) {
        if let Some(ch) = self.channels.get_mut(channel) {
            ch.history = None;
            if ch.subs.is_empty() {
                self.channels.remove(channel);
            }
        }
    }

    /// The newest id published on a retaining channel (0 if none yet); `None` if the channel
    /// keeps no history.
    pub fn last_id(&self, channel: &[u8]) -> Option<u64> {
        let ch = self.channels.get(channel)?;
        ch.history.as_ref().map(|_| ch.last_id)
    }

    /// Messages retained on the channel, oldest first.
    pub fn history(&self, channel: &[u8]) -> Result<impl Iterator<Item = &Message>, HistoryError> {
        let h = self
            .channels
            .get(channel)
            .and_then(|c| c.history.as_ref())
            .ok_or(HistoryError::NotRetained)?;
        Ok(h.iter())
    }

    /// Retained messages with an id greater than `after`, oldest first (long polling
    /// `?after=ID`). Fails with [`HistoryError::TooOld`] if some of them have left the ring.
    pub fn history_after(
        &self,
        channel: &[u8],
        after: u64,
    ) -> Result<impl Iterator<Item = &Message>, HistoryError> {
        let ch = self
            .channels
            .get(channel)
            .ok_or(HistoryError::NotRetained)?;
        let h = ch.history.as_ref().ok_or(HistoryError::NotRetained)?;
        h.after(after, ch.last_id)
    }

    /// Queues into the subscriber's outbox the retained messages after `after` (or all of them
    /// for `None`), encoded for its format (SSE `Last-Event-ID`). Returns how many were queued.
    /// Nothing is queued if history after `after` is incomplete: the error says what was lost.
    /// Replayed frames count against the outbox limits but not in the latency histogram.
    pub fn replay(
        &mut self,
        id: SubscriberId,
        channel: &[u8],
        after: Option<u64>,
        now: Instant,
    ) -> Result<usize, PubSubError> {
        let key = self.live_key(id)?;
        let ch = self
            .channels
            .get(channel)
            .ok_or(HistoryError::NotRetained)?;
        let h = ch.history.as_ref().ok_or(HistoryError::NotRetained)?;
        // Cloning the messages (reference counts only) lets the outboxes be borrowed mutably.
        let msgs: Vec<Message> = match after {
            Some(after) => h.after(after, ch.last_id)?.cloned().collect(),
            None => h.iter().cloned().collect(),
        };
        for m in &msgs {
            self.deliver_one(key, m, now)?;
        }
        Ok(msgs.len())
    }

    /// Messages retained over all channels.
    pub fn retained_messages(&self) -> usize {
        self.channels
            .values()
            .filter_map(|c| c.history.as_ref())
            .map(History::len)
            .sum()
    }
}
