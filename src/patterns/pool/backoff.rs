//! Reconnect backoff: after `n` consecutive failed connects the pool waits
//! `backoff_base * 2^(n-1)`, capped at `backoff_max`, before it connects again.
//!
//! While it waits the pool is "down": see the module docs of [`pool`](super) for what checkouts
//! get meanwhile. One successful connect resets the count.

use std::time::{Duration, Instant};

use super::error::Failure;
use crate::TimerId;

/// The delay after `failures` consecutive failures (none after zero).
pub(crate) fn delay(base: Duration, max: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    // 2^31 * anything is past any sane cap: stop doubling there rather than overflow.
    let factor = 1u32 << (failures - 1).min(31);
    base.checked_mul(factor).unwrap_or(max).min(max)
}

/// The pool's connect-failure state.
#[derive(Default)]
pub(crate) struct Backoff {
    /// Consecutive failed connects.
    pub(crate) failures: u32,
    /// No connect starts before this.
    pub(crate) until: Option<Instant>,
    /// What the last failure was, for checkouts refused while down.
    pub(crate) last: Option<Failure>,
    /// Fires at `until` to retry (only while something wants a connection).
    pub(crate) timer: Option<TimerId>,
}

impl Backoff {
    /// Records a failure; returns the delay before the next attempt.
    pub(crate) fn failed(&mut self, f: Failure, base: Duration, max: Duration) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let d = delay(base, max, self.failures);
        self.until = Some(Instant::now() + d);
        self.last = Some(f);
        d
    }

    /// A connect succeeded: the upstream is back.
    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
        self.until = None;
        self.last = None;
    }

    /// True while connects must not start.
    pub(crate) fn waiting(&self, now: Instant) -> bool {
        self.until.is_some_and(|u| now < u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_and_is_capped() {
        let ms = Duration::from_millis;
        let (b, m) = (ms(50), ms(1000));
        let got: Vec<_> = (0..8).map(|n| delay(b, m, n)).collect();
        assert_eq!(
            got,
            [
                ms(0),
                ms(50),
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1000),
                ms(1000)
            ]
        );
        assert_eq!(delay(b, m, u32::MAX), m);
        assert_eq!(delay(Duration::MAX, Duration::MAX, 40), Duration::MAX);
    }

    #[test]
    fn success_resets() {
        let mut b = Backoff::default();
        b.failed(
            Failure::Timeout,
            Duration::from_secs(1),
            Duration::from_secs(9),
        );
        assert!(b.waiting(Instant::now()));
        b.succeeded();
        assert_eq!(b.failures, 0);
        assert!(!b.waiting(Instant::now()));
    }
}
