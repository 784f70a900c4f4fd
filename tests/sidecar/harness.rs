//! Test harness for the sidecar: the broker as its upstream and the sidecar itself, both child
//! processes on free ports ([`ChildServer`]), plus clients — the `redis` crate (sync API) and
//! raw sockets for byte-exact checks. Every client has a read timeout, so a bug shows up as a
//! failed test, never as a hung one.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::child::ChildServer;

pub use crate::child::raise_fd_limit;

/// How long any client waits for a reply before the test fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A running child (broker or sidecar); stopped when dropped.
pub struct Proc {
    pub server: ChildServer,
    pub addr: SocketAddr,
}

impl Proc {
    /// The broker, as the upstream, on `port` (0: any free port).
    pub fn broker(port: u16) -> Proc {
        Proc::broker_with(port, &[])
    }

    /// The broker with `extra` flags (e.g. `--requirepass`).
    pub fn broker_with(port: u16, extra: &[&str]) -> Proc {
        let port = port.to_string();
        let mut args = vec!["--port", &port, "--http-port", "off"];
        args.extend_from_slice(extra);
        let server = ChildServer::start("broker", &args);
        let addr = server.addr;
        Proc { server, addr }
    }

    /// The sidecar on a free port, in front of `upstream`, on `backend`, with `extra` flags.
    pub fn sidecar(backend: &str, upstream: SocketAddr, extra: &[&str]) -> Proc {
        let up = upstream.to_string();
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &up,
            "--backend",
            backend,
            "--stats-interval",
            "0",
        ];
        args.extend_from_slice(extra);
        let server = ChildServer::start("sidecar", &args);
        let addr = server.addr;
        Proc { server, addr }
    }

    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// A `redis` crate connection (RESP2).
    pub fn conn(&self) -> redis::Connection {
        connect(&self.url())
    }

    /// A `redis` crate connection that negotiates RESP3 with `HELLO 3` (as redis-py 8 does).
    pub fn resp3(&self) -> redis::Connection {
        connect(&format!("redis://{}/?protocol=resp3", self.addr))
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr)
    }

    /// SIGUSR1, and the three `STATS` lines (sidecar, pool, loop).
    pub fn stats(&mut self) -> Vec<String> {
        self.server.stats(3)
    }

    /// A number from the sidecar's stats lines (`key=value`).
    pub fn stat(&mut self, key: &str) -> u64 {
        let lines = self.stats();
        stat_in(&lines, key)
    }
}

/// A number from `key=value` stats lines.
pub fn stat_in(lines: &[String], key: &str) -> u64 {
    let prefix = format!("{key}=");
    lines
        .iter()
        .flat_map(|l| l.split_whitespace())
        .find_map(|w| w.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
}

pub fn connect(url: &str) -> redis::Connection {
    let c = redis::Client::open(url)
        .expect("client")
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    c.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    c.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
    c
}

fn build(args: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd
}

/// Runs one command through the `redis` crate.
pub fn q<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> T {
    build(args)
        .query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Runs one command; the raw reply, or the error as text (code first).
pub fn qv(con: &mut redis::Connection, args: &[&str]) -> Result<redis::Value, String> {
    build(args)
        .query::<redis::Value>(con)
        .map_err(|e| format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")))
}

/// Runs one command that must fail; returns the error text (code first).
pub fn q_err(con: &mut redis::Connection, args: &[&str]) -> String {
    match qv(con, args) {
        Ok(v) => panic!("{args:?} succeeded with {v:?}"),
        Err(e) => e,
    }
}

/// The upstream's `INFO clients` field `field`, asked directly.
pub fn upstream_info(upstream: &Proc, field: &str) -> u64 {
    let mut con = upstream.conn();
    let info: String = q(&mut con, &["INFO", "clients"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO:\n{info}"))
}

/// Polls `f` until it returns true (5 s at most).
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub use crate::raw_resp::Raw;
