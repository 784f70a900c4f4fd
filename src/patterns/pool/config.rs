//! [`PoolConfig`]: every knob of a [`Pool`](super::Pool), with defaults, and the few values
//! derived from them (the sweep period, a connection's jittered lifetime).
//!
//! Plain data: the pool copies it at [`Pool::new`](super::Pool::new) and never changes it.

use std::net::SocketAddr;
use std::time::Duration;

/// Which idle connection a checkout gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdleOrder {
    /// The most recently returned one (the default): a small hot set stays in use and the rest
    /// age out through the idle timeout, so a quiet period shrinks the pool.
    #[default]
    Lifo,
    /// The least recently returned one: load spreads over every idle connection, which keeps
    /// them all warm (and all subject to the upstream's own idle timeouts).
    Fifo,
}

/// How a [`Pool`](super::Pool) connects, sizes itself and retires connections.
///
/// Build it with [`PoolConfig::new`] and change the fields you care about.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// The upstream every connection goes to.
    pub addr: SocketAddr,
    /// At most this many connections open or connecting (default 10).
    pub max_size: usize,
    /// Idle connections kept ready: opened at start and refilled after closes (default 0).
    pub min_idle: usize,
    /// An idle connection unused this long is closed, unless that would leave fewer than
    /// `min_idle` idle (default 60 s; `None`: never).
    pub idle_timeout: Option<Duration>,
    /// A connection older than this is closed when it is next idle or returned (default 30 min;
    /// `None`: never).
    pub max_lifetime: Option<Duration>,
    /// Each connection's lifetime is `max_lifetime` minus a random `0..lifetime_jitter`, so
    /// connections opened together do not all expire together (default 3 min, 10 % of the
    /// default lifetime).
    pub lifetime_jitter: Duration,
    /// A connect that has not finished by then is cancelled and reported as
    /// [`PoolError::ConnectTimeout`](super::PoolError::ConnectTimeout) (default 5 s).
    pub connect_timeout: Duration,
    /// How long a checkout may wait for a connection (default 5 s).
    pub checkout_timeout: Duration,
    /// Queued checkouts beyond which a checkout fails at once with
    /// [`PoolError::QueueFull`](super::PoolError::QueueFull) (default 1024).
    pub max_waiters: usize,
    /// First reconnect delay after a failed connect (default 50 ms); it doubles with each
    /// consecutive failure.
    pub backoff_base: Duration,
    /// The reconnect delay never exceeds this (default 5 s).
    pub backoff_max: Duration,
    /// A connection idle longer than this runs the health check set with
    /// [`Pool::set_health_check`](super::Pool::set_health_check) before it is handed out
    /// (default `None`: never).
    pub health_check_after: Option<Duration>,
    /// Which idle connection a checkout gets (default [`IdleOrder::Lifo`]).
    pub order: IdleOrder,
}

impl PoolConfig {
    /// The defaults, for `addr`.
    pub fn new(addr: SocketAddr) -> PoolConfig {
        PoolConfig {
            addr,
            max_size: 10,
            min_idle: 0,
            idle_timeout: Some(Duration::from_secs(60)),
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            lifetime_jitter: Duration::from_secs(3 * 60),
            connect_timeout: Duration::from_secs(5),
            checkout_timeout: Duration::from_secs(5),
            max_waiters: 1024,
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            health_check_after: None,
            order: IdleOrder::Lifo,
        }
    }

    /// How often the pool's one sweep timer looks at its idle connections: a quarter of the
    /// shortest of the idle timeout and the lifetime, between 1 ms and 1 s. The upper bound is
    /// for peer-closed detection: a sweep also peeks every idle socket, and a dead one found
    /// within a second is replaced (and `min_idle` refilled) before anyone asks for it.
    pub(crate) fn sweep_period(&self) -> Duration {
        let shortest = [self.idle_timeout, self.max_lifetime]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(Duration::from_secs(4));
        (shortest / 4).clamp(Duration::from_millis(1), Duration::from_secs(1))
    }

    /// The lifetime of one connection: `max_lifetime` minus `jitter` (a value in `0..1`) of
    /// `lifetime_jitter`, saturating at zero.
    pub(crate) fn lifetime(&self, jitter: f64) -> Option<Duration> {
        let max = self.max_lifetime?;
        Some(max.saturating_sub(self.lifetime_jitter.mul_f64(jitter.clamp(0.0, 1.0))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PoolConfig {
        PoolConfig::new("127.0.0.1:1".parse().unwrap())
    }

    #[test]
    fn sweep_period_follows_the_shortest_limit_within_bounds() {
        let mut c = cfg();
        assert_eq!(c.sweep_period(), Duration::from_secs(1));
        c.idle_timeout = Some(Duration::from_millis(40));
        assert_eq!(c.sweep_period(), Duration::from_millis(10));
        c.max_lifetime = Some(Duration::ZERO);
        assert_eq!(c.sweep_period(), Duration::from_millis(1));
        c.idle_timeout = None;
        c.max_lifetime = None;
        assert_eq!(c.sweep_period(), Duration::from_secs(1));
    }

    #[test]
    fn lifetime_is_jittered_downwards_and_saturates() {
        let mut c = cfg();
        c.max_lifetime = Some(Duration::from_millis(100));
        c.lifetime_jitter = Duration::from_millis(20);
        assert_eq!(c.lifetime(0.0), Some(Duration::from_millis(100)));
        assert_eq!(c.lifetime(0.5), Some(Duration::from_millis(90)));
        c.lifetime_jitter = Duration::from_secs(1);
        assert_eq!(c.lifetime(1.0), Some(Duration::ZERO));
        c.max_lifetime = None;
        assert_eq!(c.lifetime(0.3), None);
    }
}
