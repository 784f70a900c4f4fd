//! The sidecar's counters and the one-line reports built from them: logged every
//! `--stats-interval`, printed on SIGUSR1 and at exit (as `STATS ...` lines on stdout, which
//! scripts and tests read), next to the pool's and the loop's own.

use std::fmt::Write as _;

use ringloop::patterns::pool::PoolStats;

/// What the sidecar counted since it started (both modes; fields a mode does not use stay 0).
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// Downstream connections accepted.
    pub clients: u64,
    /// Downstream connections open now.
    pub open: u64,
    /// resp: requests read from clients.
    pub requests: u64,
    /// resp: requests sent upstream.
    pub forwarded: u64,
    /// resp: requests answered by the sidecar itself (`CLIENT SETINFO`, `QUIT`, ...).
    pub local: u64,
    /// resp: answered `-ERR upstream timeout`.
    pub timeouts: u64,
    /// resp: refused by the circuit breaker (`--max-pending`).
    pub rejected_pending: u64,
    /// Refused because the upstream was marked down.
    pub rejected_down: u64,
    /// Answered with an error because an upstream connection failed or none could be had.
    pub upstream_errors: u64,
    /// resp: commands refused as unsupported through a proxy.
    pub unsupported: u64,
    /// resp: dedicated connections checked out (pub/sub, blocking, transactions).
    pub dedicated: u64,
    /// Upstream connections checked out in all.
    pub checkouts: u64,
    /// Upstream connections that failed (EOF, reset, protocol error, timeout).
    pub upstream_failures: u64,
    /// tcp: bytes forwarded client -> upstream.
    pub bytes_up: u64,
    /// tcp: bytes forwarded upstream -> client.
    pub bytes_down: u64,
}

impl Counters {
    /// `key=value` pairs for one line; `pending` (requests in flight) and `down` are gauges
    /// kept elsewhere.
    /// `pinned`: upstream connections dedicated to a client right now (resp mode).
    pub fn line(
        &self,
        mode: &str,
        pending: usize,
        upstream_conns: usize,
        pinned: usize,
        down: bool,
    ) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "sidecar mode={mode} clients={} open={} upstream_conns={upstream_conns} \
             pinned={pinned} pending={pending} down={} requests={} forwarded={} local={} timeouts={} \
             rejected_pending={} rejected_down={} upstream_errors={} unsupported={} \
             dedicated={} checkouts={} upstream_failures={} bytes_up={} bytes_down={}",
            self.clients,
            self.open,
            down as u8,
            self.requests,
            self.forwarded,
            self.local,
            self.timeouts,
            self.rejected_pending,
            self.rejected_down,
            self.upstream_errors,
            self.unsupported,
            self.dedicated,
            self.checkouts,
            self.upstream_failures,
            self.bytes_up,
            self.bytes_down,
        );
        s
    }
}

/// The pool's snapshot as one `key=value` line.
pub fn pool_line(p: &PoolStats) -> String {
    format!(
        "pool created={} connect_failures={} closed_idle_timeout={} closed_lifetime={} \
         closed_broken={} closed_dirty={} closed_dropped={} checkouts={} waits={} timeouts={} \
         queue_full={} in_use={} idle={} connecting={} waiting={} wait_us_p50={} wait_us_p99={} \
         wait_us_max={}",
        p.created,
        p.connect_failures,
        p.closed_idle_timeout,
        p.closed_lifetime,
        p.closed_broken,
        p.closed_dirty,
        p.closed_dropped,
        p.checkouts,
        p.waits,
        p.timeouts,
        p.queue_full,
        p.in_use,
        p.idle,
        p.connecting,
        p.waiting,
        p.wait_time_us_p50,
        p.wait_time_us_p99,
        p.wait_time_us_max,
    )
}
