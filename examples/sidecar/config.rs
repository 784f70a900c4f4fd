//! The sidecar's settings, from the command line.
//!
//! Flags are parsed by hand (no clap), like the other examples. Durations are given in the unit
//! their name says (`--request-timeout MS`, `--stats-interval SECS`); `0` switches a limit off
//! where that makes sense.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use ringloop::Backend;

use crate::byte_size::parse_bytes;

pub const USAGE: &str = "\
sidecar: a local proxy beside a service, on ringloop

USAGE: sidecar [OPTIONS]

OPTIONS:
  --listen ADDR              address to listen on (port 0 = any free port) [default: 127.0.0.1:6390]
  --upstream ADDR            the service behind the proxy                  [default: 127.0.0.1:6380]
  --mode tcp|resp            tcp: forward bytes, one pooled upstream connection per client;
                             resp: multiplex Redis-protocol clients onto a few connections
                                                                           [default: resp]
  --pool-size N              upstream connections at most                  [default: 8]
  --lane-conns N             resp: shared connections per (protocol, db) lane [default: 2]
  --upstream-password PASS   resp: send AUTH PASS on every upstream connection it takes
                             (clients then need no password of their own)  [default: none]
  --backend B                uring | epoll | auto                          [default: auto]
  --down-after N             mark the upstream down after N connect failures in a row
                             (0 = never)                                   [default: 3]
  --down-retry MS            while down, try again after this long         [default: 1000]
  --max-pending N            resp: requests in flight upstream at most; more get an error
                             at once (0 = no limit)                        [default: 10000]
  --request-timeout MS       resp: a request unanswered this long gets an error and its
                             upstream connection is closed (0 = never); a blocking command
                             gets its own timeout plus this                [default: 5000]
  --connect-timeout MS       upstream connect timeout                      [default: 1000]
  --checkout-timeout MS      wait for a free pooled connection at most     [default: 2000]
  --high-water BYTES         unsent bytes above which the other side stops being read
                                                                           [default: 1mb]
  --maxclients N             downstream connections at most                [default: 10000]
  --stats-interval SECS      log a stats line this often (0 = never)      [default: 10]
  --grace MS                 on SIGTERM/SIGINT, wait this long for in-flight work [default: 5000]
  -h, --help                 this text

It prints `LISTENING addr` once it listens. SIGINT/SIGTERM: stop accepting, finish in-flight
requests, close, print stats. SIGUSR1: print the sidecar's, the pool's and the loop's stats.
Byte sizes accept kb, mb, gb (1024-based) and k, m, g (1000-based), as Redis does.
Logs: RUST_LOG=info (default).";

/// How downstream bytes reach the upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Byte forwarding: each client paired with its own upstream connection.
    Tcp,
    /// Redis protocol: requests framed, multiplexed, replies demultiplexed.
    Resp,
}

/// Everything configurable.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub upstream: SocketAddr,
    pub mode: Mode,
    pub pool_size: usize,
    pub lane_conns: usize,
    pub backend: Backend,
    /// Zero: never mark the upstream down.
    pub down_after: u32,
    pub down_retry: Duration,
    /// Zero: no circuit breaker.
    pub max_pending: usize,
    pub request_timeout: Option<Duration>,
    pub connect_timeout: Duration,
    pub checkout_timeout: Duration,
    pub high_water: usize,
    pub maxclients: usize,
    pub stats_interval: Option<Duration>,
    pub grace: Duration,
    /// RESP mode: `AUTH` sent on each upstream connection before anything else.
    pub upstream_password: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 6390)),
            upstream: SocketAddr::from(([127, 0, 0, 1], 6380)),
            mode: Mode::Resp,
            pool_size: 8,
            lane_conns: 2,
            backend: Backend::Auto,
            down_after: 3,
            down_retry: Duration::from_millis(1000),
            max_pending: 10_000,
            request_timeout: Some(Duration::from_millis(5000)),
            connect_timeout: Duration::from_millis(1000),
            checkout_timeout: Duration::from_millis(2000),
            high_water: 1 << 20,
            maxclients: 10_000,
            stats_interval: Some(Duration::from_secs(10)),
            grace: Duration::from_millis(5000),
            upstream_password: None,
        }
    }
}

fn parse_num(v: &str) -> Result<u64, String> {
    v.trim()
        .parse::<u64>()
        .map_err(|_| format!("'{v}' is not a non-negative integer"))
}

/// Milliseconds, where 0 means "off".
fn parse_ms_opt(v: &str) -> Result<Option<Duration>, String> {
    Ok(Some(parse_num(v)?)
        .filter(|&n| n > 0)
        .map(Duration::from_millis))
}

/// `host:port`, resolved once at start (the first address wins).
fn parse_addr(v: &str) -> Result<SocketAddr, String> {
    v.to_socket_addrs()
        .map_err(|e| format!("'{v}': {e}"))?
        .next()
        .ok_or_else(|| format!("'{v}' resolves to no address"))
}

/// Parses the command line (`--help` prints the usage and exits).
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
    let mut cfg = Config::default();
    for (flag, value) in crate::flags::pairs(args, USAGE)? {
        let bad = |e: String| format!("{flag} {value}: {e}");
        let num = || parse_num(&value).map_err(bad);
        match flag.as_str() {
            "--listen" => cfg.listen = parse_addr(&value).map_err(bad)?,
            "--upstream" => cfg.upstream = parse_addr(&value).map_err(bad)?,
            "--mode" => {
                cfg.mode = match value.as_str() {
                    "tcp" => Mode::Tcp,
                    "resp" => Mode::Resp,
                    _ => return Err(bad("expected tcp or resp".into())),
                }
            }
            "--pool-size" => cfg.pool_size = num()?.max(1) as usize,
            "--lane-conns" => cfg.lane_conns = num()?.max(1) as usize,
            "--backend" => cfg.backend = value.parse().map_err(bad)?,
            "--down-after" => cfg.down_after = num()?.min(u32::MAX as u64) as u32,
            "--down-retry" => cfg.down_retry = Duration::from_millis(num()?),
            "--max-pending" => cfg.max_pending = num()? as usize,
            "--upstream-password" => {
                cfg.upstream_password = (!value.is_empty()).then(|| value.clone())
            }
            "--request-timeout" => cfg.request_timeout = parse_ms_opt(&value).map_err(bad)?,
            "--connect-timeout" => cfg.connect_timeout = Duration::from_millis(num()?.max(1)),
            "--checkout-timeout" => cfg.checkout_timeout = Duration::from_millis(num()?.max(1)),
            "--high-water" => cfg.high_water = parse_bytes(&value).map_err(bad)?.max(1),
            "--maxclients" => cfg.maxclients = num()?.max(1) as usize,
            "--stats-interval" => {
                cfg.stats_interval = Some(num()?).filter(|&n| n > 0).map(Duration::from_secs)
            }
            "--grace" => cfg.grace = Duration::from_millis(num()?),
            _ => return Err(format!("unknown option {flag} (see --help)")),
        }
    }
    Ok(cfg)
}
