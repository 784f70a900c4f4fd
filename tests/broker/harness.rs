//! Test harness for the broker example: start it as a child process, talk to it with the
//! `redis` crate (sync API) or with raw sockets for byte-exact checks.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::child::ChildServer;
use std::time::{Duration, Instant};

/// A running broker (a [`ChildServer`]); stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Broker {
    server: ChildServer,
    pub addr: SocketAddr,
    /// The HTTP front (`--http-port 0` unless the test turns it off).
    pub http: Option<SocketAddr>,
}

impl Broker {
    /// Starts the broker on a free port with `backend` and `extra` flags.
    pub fn start(backend: &str, extra: &[&str]) -> Broker {
        // Every broker gets its own HTTP port too: the default (8080) would collide between
        // tests running in parallel. A later `--http-port` in `extra` wins.
        let mut args = vec!["--port", "0", "--http-port", "0", "--backend", backend];
        args.extend_from_slice(extra);
        let server = ChildServer::start("broker", &args);
        let addr = server.addr;
        let http = server.banner_addr("HTTP LISTENING");
        Broker { server, addr, http }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    pub fn conn(&self) -> redis::Connection {
        let c = self.client().get_connection().expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c
    }

    pub fn resp3(&self) -> redis::Connection {
        let url = format!("redis://{}/?protocol=resp3", self.addr);
        let c = redis::Client::open(url)
            .unwrap()
            .get_connection()
            .expect("connect resp3");
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr)
    }

    /// An `INFO` field as a number.
    pub fn info_field(&self, con: &mut redis::Connection, field: &str) -> u64 {
        let info: String = redis::cmd("INFO").query(con).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in INFO:\n{info}"))
    }

    /// Waits until `INFO` says `field` is `value` (5 s at most).
    pub fn wait_info(&self, con: &mut redis::Connection, field: &str, value: u64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let v = self.info_field(con, field);
            if v == value {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{field} stuck at {v}, want {value}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGTERM; returns whether it exited with success, and its remaining stdout.
    pub fn stop(self) -> (bool, String) {
        self.stop_with(libc::SIGTERM)
    }

    /// Sends `sig` (SIGTERM or SIGINT); returns whether it exited with success, and its
    /// remaining stdout.
    pub fn stop_with(self, sig: i32) -> (bool, String) {
        self.server.stop_with(sig)
    }
}

/// Runs one command through the `redis` crate.
pub fn q<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Runs one command that must fail; returns the error text as the server sent it (code first).
pub fn q_err(con: &mut redis::Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<redis::Value>(con) {
        Ok(v) => panic!("{args:?} succeeded with {v:?}"),
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
    }
}

pub use crate::raw_resp::Raw;

pub use crate::child::raise_fd_limit;

/// Finds an executable on PATH. In CI (`CI` set) a missing tool fails the test; elsewhere the
/// test is skipped with a message.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("{name} is not installed (apt-get install -y redis-tools) and CI is set");
        }
        eprintln!("SKIPPED: {name} not found on PATH (apt-get install -y redis-tools)");
    }
    found
}
