//! [`Health`]: is the upstream worth trying? Consecutive connect failures mark it down for a
//! while, so clients get a fast, clear error instead of each waiting out a connect.
//!
//! The pool already backs off between its own connect attempts; this is the layer above it that
//! turns "the last N connects all failed" into "down, retry in X" — a circuit breaker on
//! connects. After `retry` the next request is let through (half-open): a connection resets the
//! count, another failure marks the upstream down again at once.

use std::time::{Duration, Instant};

use ringloop::patterns::pool::PoolError;

/// Connect-failure tracking for one upstream.
#[derive(Debug)]
pub struct Health {
    down_after: u32,
    retry: Duration,
    failures: u32,
    down_until: Option<Instant>,
    /// How many times the upstream was marked down.
    pub times_down: u64,
}

impl Health {
    /// Down after `down_after` failures in a row (0: never), for `retry` each time.
    pub fn new(down_after: u32, retry: Duration) -> Health {
        Health {
            down_after,
            retry,
            failures: 0,
            down_until: None,
            times_down: 0,
        }
    }

    /// A checkout failed; counts it if it was a connect failure. Returns true if that marked the
    /// upstream down.
    pub fn checkout_failed(&mut self, e: &PoolError, now: Instant) -> bool {
        if !matches!(e, PoolError::Connect(_) | PoolError::ConnectTimeout) {
            return false;
        }
        self.failures = self.failures.saturating_add(1);
        if self.down_after == 0 || self.failures < self.down_after {
            return false;
        }
        let was_up = self.down_until.is_none_or(|t| now >= t);
        self.down_until = Some(now + self.retry);
        if was_up {
            self.times_down += 1;
        }
        was_up
    }

    /// A checkout got a connection: the upstream is reachable.
    pub fn connected(&mut self) {
        if self.down_until.take().is_some() {
            log::info!("upstream is back");
        }
        self.failures = 0;
    }

    /// `Some(error text)` while the upstream is marked down.
    pub fn down(&self, now: Instant) -> Option<String> {
        let until = self.down_until.filter(|&t| now < t)?;
        Some(format!(
            "ERR upstream down ({} connect failures in a row), retrying in {} ms",
            self.failures,
            until.saturating_duration_since(now).as_millis().max(1)
        ))
    }

    /// True while marked down (for the stats line).
    pub fn is_down(&self, now: Instant) -> bool {
        self.down(now).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> PoolError {
        PoolError::Connect(std::io::Error::from_raw_os_error(libc::ECONNREFUSED))
    }

    #[test]
    fn down_after_n_failures_then_half_open() {
        let t0 = Instant::now();
        let mut h = Health::new(2, Duration::from_millis(100));
        assert!(!h.checkout_failed(&refused(), t0));
        assert!(
            !h.checkout_failed(&PoolError::Timeout, t0),
            "busy is not down"
        );
        assert!(h.checkout_failed(&refused(), t0));
        assert!(h.down(t0).is_some());
        let later = t0 + Duration::from_millis(150);
        assert!(h.down(later).is_none(), "half-open after the retry delay");
        assert!(
            h.checkout_failed(&refused(), later),
            "one more failure: down again"
        );
        h.connected();
        assert!(h.down(later).is_none());
        assert_eq!(h.times_down, 2);
    }
}
