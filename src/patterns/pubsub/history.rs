//! Retained history: a bounded ring of a channel's last N messages, so a client that reconnects
//! can resume "after id X" (SSE `Last-Event-ID`, long polling `?after=X`).
//!
//! Ids are per channel, assigned at publish, contiguous (1, 2, 3, …) for as long as the channel
//! retains history, so the ring can tell exactly whether it still holds everything after X.
//! When it does not, the answer is an explicit [`HistoryError::TooOld`] carrying how much was
//! lost — never a silent jump — so the host can tell its client to reload instead of showing a
//! feed with a hole in it.

use std::collections::VecDeque;
use std::fmt;

use super::Message;

/// Why history after an id cannot be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryError {
    /// The channel does not retain history.
    NotRetained,
    /// Messages after `after` have already left the ring: the oldest retained id is `oldest`
    /// (`None` if nothing is retained), so ids `after + 1 ..= oldest - 1` are lost.
    TooOld {
        /// The id asked for.
        after: u64,
        /// The oldest id still retained.
        oldest: Option<u64>,
        /// The newest id published.
        last: u64,
    },
    /// `after` is beyond the newest id published (`last`): the client's id comes from somewhere
    /// else, for example before a server restart reset the ids.
    Ahead {
        /// The id asked for.
        after: u64,
        /// The newest id published.
        last: u64,
    },
}

impl HistoryError {
    /// For `TooOld`: how many messages the client missed for good.
    pub fn missed(&self) -> u64 {
        match *self {
            HistoryError::TooOld {
                after,
                oldest,
                last,
            } => oldest.map_or(last, |o| o - 1).saturating_sub(after),
            _ => 0,
        }
    }
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::NotRetained => write!(f, "this channel keeps no history"),
            HistoryError::TooOld { after, oldest, .. } => match oldest {
                Some(o) => write!(
                    f,
                    "history after id {after} is gone: the oldest retained id is {o} ({} missed)",
                    self.missed()
                ),
                None => write!(f, "history after id {after} is gone: nothing is retained"),
            },
            HistoryError::Ahead { after, last } => {
                write!(f, "id {after} is ahead of the newest id {last}")
            }
        }
    }
}

impl std::error::Error for HistoryError {}

pub(crate) struct History {
    ring: VecDeque<Message>,
    capacity: usize,
}

impl History {
    pub(crate) fn new(capacity: usize) -> Self {
        History {
            ring: VecDeque::new(),
            capacity,
        }
    }

    pub(crate) fn push(&mut self, msg: Message) {
        if self.capacity == 0 {
            return;
        }
        if self.ring.len() == self.capacity {
            self.ring.pop_front();
        }
        self.ring.push_back(msg);
    }

    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        while self.ring.len() > capacity {
            self.ring.pop_front();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    pub(crate) fn iter(&self) -> std::collections::vec_deque::Iter<'_, Message> {
        self.ring.iter()
    }

    /// The messages with an id greater than `after`; `last` is the channel's newest id.
    pub(crate) fn after(
        &self,
        after: u64,
        last: u64,
    ) -> Result<std::iter::Skip<std::collections::vec_deque::Iter<'_, Message>>, HistoryError> {
        if after > last {
            return Err(HistoryError::Ahead { after, last });
        }
        if after == last {
            return Ok(self.ring.iter().skip(self.ring.len()));
        }
        let oldest = self.ring.front().and_then(|m| m.id);
        match oldest {
            // Ids in the ring are contiguous, so the first wanted one is at a known offset.
            Some(o) if after + 1 >= o => Ok(self.ring.iter().skip((after + 1 - o) as usize)),
            _ => Err(HistoryError::TooOld {
                after,
                oldest,
                last,
            }),
        }
    }
}
