//! [`PoolStats`]: a snapshot of the pool's counters, gauges and checkout wait times.
//!
//! Counters only grow; gauges (`in_use`, `idle`, `connecting`, `waiting`) are the state at the
//! time of the snapshot. Wait times go into the patterns' [`LatencyHistogram`] (a fixed array,
//! no allocation per record).

use std::time::Duration;

use crate::patterns::LatencyHistogram;

/// A snapshot of a pool (see [`Pool::stats`](super::Pool::stats)).
#[derive(Clone, Debug, Default)]
pub struct PoolStats {
    /// Connections opened successfully.
    pub created: u64,
    /// Connects that failed or timed out.
    pub connect_failures: u64,
    /// Idle connections closed by the idle timeout.
    pub closed_idle_timeout: u64,
    /// Connections closed because they outlived their lifetime.
    pub closed_lifetime: u64,
    /// Connections closed as broken: marked so by the user, or found closed by the peer (or with
    /// unsolicited bytes) while idle or on return.
    pub closed_broken: u64,
    /// Connections returned dirty (mid-request) and closed.
    pub closed_dirty: u64,
    /// Connections closed because the user's health check said so.
    pub closed_health: u64,
    /// Checked-out connections dropped without a checkin.
    pub closed_dropped: u64,
    /// Checkouts that got a connection.
    pub checkouts: u64,
    /// Checkouts that found no idle connection and had to wait (for a connect or a return).
    pub waits: u64,
    /// Checkouts that ended with [`PoolError::Timeout`](super::PoolError::Timeout).
    pub timeouts: u64,
    /// Checkouts refused with [`PoolError::QueueFull`](super::PoolError::QueueFull).
    pub queue_full: u64,
    /// Connections checked out now (including ones in a user health check).
    pub in_use: usize,
    /// Idle connections now.
    pub idle: usize,
    /// Connects in flight now.
    pub connecting: usize,
    /// Checkouts waiting now.
    pub waiting: usize,
    /// Median time from a checkout call to its connection, in microseconds.
    pub wait_time_us_p50: u64,
    /// 99th percentile of the same.
    pub wait_time_us_p99: u64,
    /// Longest of the same.
    pub wait_time_us_max: u64,
}

/// The pool's running counters: [`PoolStats`] minus the gauges, plus the wait histogram.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) s: PoolStats,
    pub(crate) wait: LatencyHistogram,
}

impl Counters {
    pub(crate) fn record_wait(&mut self, d: Duration) {
        self.wait.record(d);
    }

    /// The counters with the wait quantiles filled in (the caller adds the gauges).
    pub(crate) fn snapshot(&self) -> PoolStats {
        let us = |d: Option<Duration>| d.map_or(0, |d| d.as_micros() as u64);
        PoolStats {
            wait_time_us_p50: us(self.wait.quantile(0.5)),
            wait_time_us_p99: us(self.wait.quantile(0.99)),
            wait_time_us_max: us(self.wait.max()),
            ..self.s.clone()
        }
    }
}
