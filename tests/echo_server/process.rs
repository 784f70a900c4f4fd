//! Runs an example binary as a child process for a test, and always stops it.
//!
//! Examples are built by `cargo test` next to the test binaries (`target/<profile>/examples/`),
//! so the path is derived from the running test executable rather than hard-coded.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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

/// A running example server; killed (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    /// Starts `name` with `args`, waits for its `LISTENING <addr>` line (10 s at most).
    pub fn start(name: &str, args: &[&str]) -> Server {
        let mut child = Command::new(example_path(name))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn example");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        // Owned by a `Server` from here on, so a failed start still kills and reaps the child.
        let mut server = Server {
            child,
            addr: ([127, 0, 0, 1], 0).into(),
            stdout,
        };
        let mut line = String::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            line.clear();
            let n = server
                .stdout
                .read_line(&mut line)
                .expect("read server stdout");
            assert!(
                n > 0 && Instant::now() < deadline,
                "server exited before listening"
            );
            if let Some(addr) = line.trim().strip_prefix("LISTENING ") {
                server.addr = addr.parse().expect("LISTENING address");
                return server;
            }
        }
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

    /// Sends SIGUSR1 and collects the `STATS` lines (one per loop thread).
    pub fn stats(&mut self, threads: usize) -> Vec<String> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid(), libc::SIGUSR1) };
        let mut lines = Vec::new();
        let mut line = String::new();
        while lines.len() < threads {
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

    /// Stops the server with SIGTERM and returns its exit status success.
    pub fn stop(mut self) -> bool {
        self.terminate()
    }

    fn terminate(&mut self) -> bool {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}
