//! An example server run as a child process by a test (included with `#[path]` by the test
//! binaries that need it): started on an ephemeral port, found through its `LISTENING <addr>`
//! line, always stopped — SIGTERM, then SIGKILL — even when the test fails.
//!
//! Examples are built by `cargo test` next to the test binaries (`target/<profile>/examples/`),
//! so the path is derived from the running test executable rather than hard-coded.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} not built (cargo test builds examples)",
        path.display()
    );
    path
}

/// A running example server.
pub struct ChildServer {
    pub child: Child,
    pub addr: SocketAddr,
    /// The stdout lines printed before `LISTENING` (e.g. `HTTP LISTENING <addr>`).
    pub banner: Vec<String>,
    stdout: BufReader<ChildStdout>,
}

impl ChildServer {
    /// Starts example `name` with `args` and waits for its `LISTENING <addr>` line.
    pub fn start(name: &str, args: &[&str]) -> ChildServer {
        let mut child = Command::new(example_path(name))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        // Owned by a `ChildServer` from here on, so a failed start still kills and reaps it.
        let mut server = ChildServer {
            child,
            addr: ([127, 0, 0, 1], 0).into(),
            banner: Vec::new(),
            stdout,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut line = String::new();
        loop {
            line.clear();
            let n = server
                .stdout
                .read_line(&mut line)
                .expect("read server stdout");
            assert!(
                n > 0 && Instant::now() < deadline,
                "{name} exited before listening"
            );
            if let Some(addr) = line.trim().strip_prefix("LISTENING ") {
                server.addr = addr.parse().expect("LISTENING address");
                return server;
            }
            server.banner.push(line.trim().to_string());
        }
    }

    /// The address of a `<prefix> <addr>` banner line (`banner_addr("HTTP LISTENING")`).
    pub fn banner_addr(&self, prefix: &str) -> Option<SocketAddr> {
        self.banner
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|a| a.trim().parse().ok())
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Resident memory of the server in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS")
    }

    /// Sends SIGUSR1 and collects `n` lines starting with `STATS ` from stdout.
    pub fn stats(&mut self, n: usize) -> Vec<String> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid(), libc::SIGUSR1) };
        let mut lines = Vec::new();
        let mut line = String::new();
        while lines.len() < n {
            line.clear();
            if self.stdout.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if line.starts_with("STATS ") {
                lines.push(line.trim().to_string());
            }
        }
        lines
    }

    /// Sends `sig` (SIGTERM or SIGINT); returns whether it exited with success, and the rest of
    /// its stdout.
    pub fn stop_with(mut self, sig: i32) -> (bool, String) {
        let ok = self.signal_and_wait(sig);
        let mut rest = String::new();
        let _ = self.stdout.read_to_string(&mut rest);
        (ok, rest)
    }

    /// SIGTERM; returns whether it exited with success.
    pub fn stop(self) -> bool {
        self.stop_with(libc::SIGTERM).0
    }

    fn signal_and_wait(&mut self, sig: i32) -> bool {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid(), sig) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal_and_wait(libc::SIGTERM);
        }
    }
}

/// Raises this process's open-file soft limit (tests that open many sockets): the examples' own.
#[path = "../../examples/shared/process.rs"]
mod process;
#[allow(unused_imports)] // not every test binary opens many sockets
pub use process::raise_fd_limit;
