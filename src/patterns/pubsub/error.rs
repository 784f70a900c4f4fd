//! Errors of the pub-sub hub.

use std::fmt;

use super::{EvictReason, HistoryError};

/// What can go wrong with a pub-sub call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PubSubError {
    /// The subscriber id is not (or no longer) known: removed, or never added.
    UnknownSubscriber,
    /// The subscriber was evicted for being too slow; close its connection and remove it.
    Evicted(EvictReason),
    /// Resuming from history failed.
    History(HistoryError),
}

impl fmt::Display for PubSubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PubSubError::UnknownSubscriber => write!(f, "unknown subscriber"),
            PubSubError::Evicted(r) => write!(f, "subscriber evicted: {r}"),
            PubSubError::History(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PubSubError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PubSubError::History(e) => Some(e),
            _ => None,
        }
    }
}

impl From<HistoryError> for PubSubError {
    fn from(e: HistoryError) -> Self {
        PubSubError::History(e)
    }
}
