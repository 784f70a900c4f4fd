//! [`PoolError`]: why a checkout got no connection.
//!
//! Connect failures are kept apart from timeouts on purpose: "the upstream refused" and "the pool
//! was busy" call for different reactions (page someone vs. add capacity), so a refused connect
//! is never reported as a timeout.

use std::fmt;
use std::io;

/// Why a checkout failed.
#[derive(Debug)]
pub enum PoolError {
    /// No connection within `checkout_timeout`.
    Timeout,
    /// `max_waiters` checkouts were already waiting: failed at once, without waiting.
    QueueFull,
    /// The connect made for this checkout failed (refused, unreachable, ...) and no other
    /// connection became available; also given at once while the pool backs off after such
    /// failures (see the module docs).
    Connect(io::Error),
    /// The connect did not finish within `connect_timeout`.
    ConnectTimeout,
    /// The pool was closed.
    Closed,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Timeout => f.write_str("no pooled connection within the checkout timeout"),
            PoolError::QueueFull => f.write_str("too many checkouts waiting for a connection"),
            PoolError::Connect(e) => write!(f, "connecting to the upstream failed: {e}"),
            PoolError::ConnectTimeout => f.write_str("connecting to the upstream timed out"),
            PoolError::Closed => f.write_str("the connection pool is closed"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PoolError::Connect(e) => Some(e),
            _ => None,
        }
    }
}

/// The last connect failure, kept so it can be reported to several waiters (`io::Error` is not
/// `Clone`).
#[derive(Clone, Debug)]
pub(crate) enum Failure {
    Io {
        raw: Option<i32>,
        kind: io::ErrorKind,
        msg: String,
    },
    Timeout,
}

impl Failure {
    pub(crate) fn of(e: &io::Error) -> Failure {
        Failure::Io {
            raw: e.raw_os_error(),
            kind: e.kind(),
            msg: e.to_string(),
        }
    }

    /// A fresh error for one waiter: the same errno (so `kind()` and the message match) or,
    /// for errors without one, the same kind and text.
    pub(crate) fn to_error(&self) -> PoolError {
        match self {
            Failure::Timeout => PoolError::ConnectTimeout,
            Failure::Io {
                raw: Some(code), ..
            } => PoolError::Connect(io::Error::from_raw_os_error(*code)),
            Failure::Io { kind, msg, .. } => PoolError::Connect(io::Error::new(*kind, msg.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_reported_with_its_kind() {
        let f = Failure::of(&io::Error::from_raw_os_error(libc::ECONNREFUSED));
        match f.to_error() {
            PoolError::Connect(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("{other:?}"),
        }
        let f = Failure::of(&io::Error::other("odd"));
        assert!(f.to_error().to_string().contains("odd"));
        assert!(matches!(
            Failure::Timeout.to_error(),
            PoolError::ConnectTimeout
        ));
    }
}
