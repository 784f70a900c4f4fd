//! The broker's settings: command-line flags at start, `CONFIG GET` / `CONFIG SET` while running.
//!
//! Flags are parsed by hand (no clap), like the other examples. The names follow Redis's
//! configuration directives where one exists (`--port`, `--bind`, `--requirepass`,
//! `--maxclients`, `--timeout`), so `CONFIG GET maxclients` and `--maxclients` mean the same thing.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use ringloop::patterns::pubsub::SlowPolicy;
use ringloop::Backend;

pub use crate::byte_size::parse_bytes;

pub const USAGE: &str = "\
broker: a Redis-protocol server for pub/sub and lists-as-job-queues, on ringloop

USAGE: broker [OPTIONS]

OPTIONS:
  --bind ADDR                 address to listen on                       [default: 127.0.0.1]
  --port N                    TCP port (0 = any free port)               [default: 6380]
  --requirepass PASS          require AUTH PASS (or HELLO 3 AUTH default PASS) first
  --protected-mode yes|no     refuse a non-loopback --bind without a password [default: yes]
  --maxclients N              connections accepted at most               [default: 10000]
  --timeout SECS              close clients idle this long (0 = never)   [default: 0]
  --pubsub-hard-limit BYTES   evict a subscriber whose pending messages reach this [default: 32mb]
  --pubsub-soft-limit BYTES   ... or stay above this ...                 [default: 8mb]
  --pubsub-soft-seconds SECS  ... for longer than this                   [default: 60]
  --query-buffer-limit BYTES  close a client with more unparsed input    [default: 1gb]
  --backend B                 uring | epoll | auto                       [default: auto]
  --defer-taskrun on|off      io_uring: IORING_SETUP_DEFER_TASKRUN       [default: on]

HTTP FRONT (the same channels and queues over HTTP: polling, long polling, SSE, a live page):
  --http-port N|off           HTTP port on the --bind address (0 = any)  [default: 8080]
  --http-cors ORIGIN          Access-Control-Allow-Origin for every answer [default: none]
  --history N                 messages a channel keeps once HTTP used it [default: 1000]
  --sse-heartbeat SECS        comment line sent to idle SSE streams      [default: 15]
  --http-request-timeout SECS close a connection whose request is still incomplete [default: 10]
  --http-max-body BYTES       largest request body (413 above)           [default: 1mb]
  --http-queue-max N          jobs a queue holds before HTTP pushes get 429 [default: 100000]
  -h, --help                  this text

Byte sizes accept the suffixes kb, mb, gb (1024-based, as Redis). On SIGINT/SIGTERM the broker
stops accepting, sends what it owes, closes every connection and prints its stats.
Logs: RUST_LOG=info (default); RUST_LOG=debug shows each connection.";

/// Everything configurable.
#[derive(Clone, Debug)]
pub struct Config {
    pub bind: IpAddr,
    pub port: u16,
    pub requirepass: Option<Bytes>,
    pub protected_mode: bool,
    pub maxclients: usize,
    /// Idle timeout; zero disables it.
    pub timeout: Duration,
    pub pubsub_hard: usize,
    pub pubsub_soft: usize,
    pub pubsub_soft_time: Duration,
    pub query_buffer_limit: usize,
    pub backend: Backend,
    /// io_uring: finish completions only when the loop waits (see `Builder::defer_taskrun`).
    pub defer_taskrun: bool,
    /// `None`: no HTTP front.
    pub http_port: Option<u16>,
    pub http_cors: Option<String>,
    pub history: usize,
    pub sse_heartbeat: Duration,
    pub http_request_timeout: Duration,
    pub http_max_body: usize,
    pub http_queue_max: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 6380,
            requirepass: None,
            protected_mode: true,
            maxclients: 10_000,
            timeout: Duration::ZERO,
            pubsub_hard: 32 << 20,
            pubsub_soft: 8 << 20,
            pubsub_soft_time: Duration::from_secs(60),
            query_buffer_limit: 1 << 30,
            backend: Backend::Auto,
            defer_taskrun: true,
            http_port: Some(8080),
            http_cors: None,
            history: 1000,
            sse_heartbeat: Duration::from_secs(15),
            http_request_timeout: Duration::from_secs(10),
            http_max_body: 1 << 20,
            http_queue_max: 100_000,
        }
    }
}

impl Config {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_port.map(|p| SocketAddr::new(self.bind, p))
    }

    /// The slow-subscriber policy new subscribers get (Redis's `client-output-buffer-limit
    /// pubsub`).
    pub fn pubsub_policy(&self) -> SlowPolicy {
        SlowPolicy::Disconnect {
            hard_limit: self.pubsub_hard,
            soft_limit: self.pubsub_soft,
            soft_time: self.pubsub_soft_time,
        }
    }

    /// Redis's protected mode: listening beyond loopback with no password lets anyone on the
    /// network in, so it is refused with an explanation instead of silently allowed.
    pub fn check_protected(&self) -> Result<(), String> {
        if self.protected_mode && !self.bind.is_loopback() && self.requirepass.is_none() {
            return Err(format!(
                "refusing to listen on {} without a password (protected mode).\n\
                 Anyone who can reach this address could read and write every queue and channel.\n\
                 Either set one with --requirepass PASS, bind a loopback address (--bind 127.0.0.1),\n\
                 or, if the network is really trusted, disable the check with --protected-mode no.",
                self.bind
            ));
        }
        Ok(())
    }

    /// The parameters `CONFIG GET` knows, with their current values (Redis's spelling).
    pub fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("bind", self.bind.to_string()),
            ("port", self.port.to_string()),
            (
                "requirepass",
                self.requirepass
                    .as_ref()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .unwrap_or_default(),
            ),
            (
                "protected-mode",
                if self.protected_mode { "yes" } else { "no" }.into(),
            ),
            ("maxclients", self.maxclients.to_string()),
            ("timeout", self.timeout.as_secs().to_string()),
            (
                "client-output-buffer-limit",
                format!(
                    "normal 0 0 0 replica 0 0 0 pubsub {} {} {}",
                    self.pubsub_hard,
                    self.pubsub_soft,
                    self.pubsub_soft_time.as_secs()
                ),
            ),
            (
                "client-query-buffer-limit",
                self.query_buffer_limit.to_string(),
            ),
            ("databases", crate::db::DATABASES.to_string()),
            // Asked by redis-benchmark at start; the broker keeps nothing on disk.
            ("save", String::new()),
            ("appendonly", "no".into()),
        ]
    }

    /// `CONFIG SET name value` for the settings that can change at run time.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        match name {
            "requirepass" => {
                self.requirepass = (!value.is_empty()).then(|| Bytes::from(value.to_string()))
            }
            "maxclients" => self.maxclients = parse_num(value)?.max(1),
            "timeout" => self.timeout = Duration::from_secs(parse_num(value)? as u64),
            "client-query-buffer-limit" => self.query_buffer_limit = parse_bytes(value)?,
            "protected-mode" => self.protected_mode = parse_yes_no(value)?,
            "client-output-buffer-limit" => {
                // "class hard soft seconds" groups; only the pubsub class means anything here.
                let words: Vec<&str> = value.split_whitespace().collect();
                if words.is_empty() || words.len() % 4 != 0 {
                    return Err("Wrong number of arguments in buffer limit configuration.".into());
                }
                for group in words.chunks(4) {
                    let (hard, soft, secs) = (
                        parse_bytes(group[1])?,
                        parse_bytes(group[2])?,
                        parse_num(group[3])?,
                    );
                    match group[0].to_ascii_lowercase().as_str() {
                        "pubsub" => {
                            self.pubsub_hard = hard;
                            self.pubsub_soft = soft;
                            self.pubsub_soft_time = Duration::from_secs(secs as u64);
                        }
                        "normal" | "replica" | "slave" => {}
                        _ => {
                            return Err(
                                "Invalid client class specified in buffer limit configuration."
                                    .into(),
                            )
                        }
                    }
                }
            }
            "bind" | "port" | "databases" | "save" | "appendonly" => {
                return Err("can't set immutable config".into())
            }
            _ => return Err("Unknown option or number of arguments for CONFIG SET".into()),
        }
        Ok(())
    }
}

fn parse_num(v: &str) -> Result<usize, String> {
    v.trim()
        .parse::<usize>()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())
}

/// Seconds, fractions allowed (`0.5`), at least a millisecond.
fn parse_secs(v: &str) -> Result<Duration, String> {
    let secs: f64 = v
        .parse()
        .map_err(|_| "not a number of seconds".to_string())?;
    if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
        return Err("must be a positive number of seconds".into());
    }
    Ok(Duration::from_secs_f64(secs).max(Duration::from_millis(1)))
}

fn parse_yes_no(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

/// Parses the command line (`--help` prints the usage and exits).
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
    let mut cfg = Config::default();
    for (flag, value) in crate::flags::pairs(args, USAGE)? {
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--bind" => cfg.bind = value.parse().map_err(|e| bad(&e))?,
            "--port" => cfg.port = value.parse().map_err(|e| bad(&e))?,
            "--requirepass" => {
                cfg.requirepass = (!value.is_empty()).then(|| Bytes::from(value.clone()))
            }
            "--protected-mode" => cfg.protected_mode = parse_yes_no(&value).map_err(|e| bad(&e))?,
            "--maxclients" => cfg.maxclients = parse_num(&value).map_err(|e| bad(&e))?.max(1),
            "--timeout" => {
                cfg.timeout = Duration::from_secs(parse_num(&value).map_err(|e| bad(&e))? as u64)
            }
            "--pubsub-hard-limit" => cfg.pubsub_hard = parse_bytes(&value).map_err(|e| bad(&e))?,
            "--pubsub-soft-limit" => cfg.pubsub_soft = parse_bytes(&value).map_err(|e| bad(&e))?,
            "--pubsub-soft-seconds" => {
                cfg.pubsub_soft_time =
                    Duration::from_secs(parse_num(&value).map_err(|e| bad(&e))? as u64)
            }
            "--query-buffer-limit" => {
                cfg.query_buffer_limit = parse_bytes(&value).map_err(|e| bad(&e))?
            }
            "--backend" => cfg.backend = value.parse().map_err(|e: String| bad(&e))?,
            "--defer-taskrun" => {
                cfg.defer_taskrun = match value.as_str() {
                    "on" | "yes" => true,
                    "off" | "no" => false,
                    _ => return Err(bad(&"expected on or off")),
                }
            }
            "--http-port" if value == "off" => cfg.http_port = None,
            "--http-port" => cfg.http_port = Some(value.parse().map_err(|e| bad(&e))?),
            "--http-cors" => cfg.http_cors = (!value.is_empty()).then(|| value.clone()),
            "--history" => cfg.history = parse_num(&value).map_err(|e| bad(&e))?,
            "--sse-heartbeat" => cfg.sse_heartbeat = parse_secs(&value).map_err(|e| bad(&e))?,
            "--http-request-timeout" => {
                cfg.http_request_timeout = parse_secs(&value).map_err(|e| bad(&e))?
            }
            "--http-max-body" => cfg.http_max_body = parse_bytes(&value).map_err(|e| bad(&e))?,
            "--http-queue-max" => cfg.http_queue_max = parse_num(&value).map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown option {flag} (see --help)")),
        }
    }
    Ok(cfg)
}
