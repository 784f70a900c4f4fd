//! A TCP echo server on ringloop, written in each of the three completion styles.
//!
//! ```text
//! cargo run --release --example echo_server -- --style callback --backend auto --threads 1
//! ```
//!
//! * `callback.rs` — the loop calls closures (asynchronous, push);
//! * `polling.rs`  — we collect finished tickets ourselves (asynchronous, pull);
//! * `blocking.rs` — each op is waited for (synchronous: one connection at a time per thread).
//!
//! The connection logic shared by the asynchronous styles is in `conn.rs`, on top of the
//! library's write queue and back-pressure gate (`ringloop::net`). `--threads N` runs N independent loops, one per
//! thread, each with its own listening socket on the same port (`SO_REUSEPORT`: the kernel spreads
//! connections across them). SIGINT/SIGTERM stop it and print each loop's stats; SIGUSR1 prints
//! them without stopping (one `STATS` line per thread on stdout, used by the benchmark script).

mod blocking;
mod callback;
mod conn;
#[path = "../shared/flags.rs"]
mod flags;
mod polling;
#[path = "../shared/process.rs"]
mod process;

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use process::{raise_fd_limit, say, Signal, Signals};
use ringloop::{Backend, EventLoop, LoopHandle};
use socket2::Socket;

const USAGE: &str = "\
echo_server: a TCP echo server on ringloop

USAGE: echo_server [OPTIONS]

OPTIONS:
  --addr ADDR          address to listen on            [default: 127.0.0.1:7000]
  --backend B          uring | epoll | auto            [default: auto]
  --style S            callback | polling | blocking   [default: callback]
  --threads N          independent loops sharing the port (SO_REUSEPORT) [default: 1]
  --max-unsent BYTES   stop reading a connection whose unsent echo exceeds this [default: 1048576]
  --entries N          io_uring submission queue size  [default: 4096]
  --defer-taskrun B    io_uring: IORING_SETUP_DEFER_TASKRUN on|off [default: on]
  --recv-buffers N     buffers in the shared receive pool (power of two)
                       [default: 1024; 4096 with --backend epoll, whose free list only ever
                       touches the buffers in use at once: the headroom lets bursts of echoes
                       go out straight from their buffers instead of being copied]
  --buffer-size BYTES  size of each pool buffer  [default: 4096 on io_uring, 16384 on epoll]
                       (the pool also bounds how far a multishot recv can run ahead of a pause;
                       on epoll a buffer larger than a message saves the recv that meets EAGAIN)
  -h, --help           this text

Signals: SIGINT/SIGTERM stop and print stats; SIGUSR1 prints `STATS ...` lines on stdout.
Logs: RUST_LOG=info (default), RUST_LOG=ringloop=trace shows every submission and completion.";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Callback,
    Polling,
    Blocking,
}

#[derive(Clone, Debug)]
struct Config {
    addr: SocketAddr,
    backend: Backend,
    style: Style,
    threads: usize,
    max_unsent: usize,
    entries: u32,
    defer_taskrun: bool,
    /// `None`: 1024, or 4096 when epoll is asked for.
    recv_buffers: Option<u16>,
    /// `None`: the library's default for the backend the loop runs on.
    buffer_size: Option<usize>,
}

fn parse_args() -> Result<Config, String> {
    let mut cfg = Config {
        addr: "127.0.0.1:7000".parse().expect("valid default"),
        backend: Backend::Auto,
        style: Style::Callback,
        threads: 1,
        max_unsent: 1 << 20,
        entries: 4096,
        defer_taskrun: true,
        recv_buffers: None,
        buffer_size: None,
    };
    for (flag, value) in flags::pairs(std::env::args().skip(1), USAGE)? {
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => cfg.addr = value.parse().map_err(|e| bad(&e))?,
            "--backend" => cfg.backend = value.parse().map_err(|e| bad(&e))?,
            "--style" => {
                cfg.style = match value.as_str() {
                    "callback" => Style::Callback,
                    "polling" => Style::Polling,
                    "blocking" => Style::Blocking,
                    _ => return Err(bad(&"expected callback, polling or blocking")),
                }
            }
            "--threads" => cfg.threads = value.parse().map_err(|e| bad(&e))?,
            "--max-unsent" => cfg.max_unsent = value.parse().map_err(|e| bad(&e))?,
            "--entries" => cfg.entries = value.parse().map_err(|e| bad(&e))?,
            "--defer-taskrun" => cfg.defer_taskrun = matches!(value.as_str(), "on" | "true" | "1"),
            "--recv-buffers" => cfg.recv_buffers = Some(value.parse().map_err(|e| bad(&e))?),
            "--buffer-size" => cfg.buffer_size = Some(value.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown option {flag} (see --help)")),
        }
    }
    if cfg.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    Ok(cfg)
}

/// Per-thread counters, readable from the signal thread. Each set has one writer, its loop's
/// thread, so a count is a plain load and store, not a locked read-modify-write (there are four
/// counts per message); the signal thread only reads.
#[derive(Clone, Default)]
pub struct Counters(Arc<CounterSet>);

#[derive(Default)]
pub struct CounterSet {
    accepted: AtomicU64,
    closed: AtomicU64,
    msgs: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Reads echoed straight from their pool buffer (the others were copied).
    direct: AtomicU64,
}

impl Counters {
    pub fn accepted(&self) {
        bump(&self.0.accepted, 1);
    }
    pub fn closed(&self) {
        bump(&self.0.closed, 1);
    }
    pub fn received(&self, n: usize) {
        bump(&self.0.msgs, 1);
        bump(&self.0.bytes_in, n as u64);
    }
    pub fn direct(&self) {
        bump(&self.0.direct, 1);
    }
    pub fn sent(&self, n: usize) {
        bump(&self.0.bytes_out, n as u64);
    }
    fn line(&self) -> String {
        let c = &self.0;
        let accepted = c.accepted.load(Ordering::Relaxed);
        let closed = c.closed.load(Ordering::Relaxed);
        format!(
            "accepted={accepted} open={} reads={} direct={} bytes_in={} bytes_out={}",
            accepted - closed.min(accepted),
            c.msgs.load(Ordering::Relaxed),
            c.direct.load(Ordering::Relaxed),
            c.bytes_in.load(Ordering::Relaxed),
            c.bytes_out.load(Ordering::Relaxed)
        )
    }
}

/// Adds to a counter only its own thread writes.
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

pub fn set_nodelay(fd: &OwnedFd) {
    // Echo replies are small and latency-bound: never let Nagle hold them back.
    if let Err(e) = socket2::SockRef::from(&fd.as_fd()).set_tcp_nodelay(true) {
        log::debug!("TCP_NODELAY: {e}");
    }
}

fn listen(addr: SocketAddr, reuse_port: bool) -> std::io::Result<Socket> {
    ringloop::net::listen(
        addr,
        ringloop::net::ListenOptions {
            reuse_port,
            ..Default::default()
        },
    )
}

/// What each loop thread reports once it is ready: its index, handle and counters.
type Registered = (usize, LoopHandle, Counters);

fn serve(
    cfg: &Config,
    index: usize,
    listener: Socket,
    handles: mpsc::Sender<Registered>,
) -> std::io::Result<String> {
    let builder = EventLoop::builder()
        .backend(cfg.backend)
        .entries(cfg.entries)
        .defer_taskrun(cfg.defer_taskrun);
    let recv_buffers = cfg.recv_buffers.unwrap_or(match cfg.backend {
        Backend::Epoll => 4096,
        _ => 1024,
    });
    let mut lp = match cfg.buffer_size {
        Some(size) => builder.recv_buffers(recv_buffers, size),
        None => builder.recv_buffer_count(recv_buffers),
    }
    .build()?;
    if index == 0 {
        log::info!(
            "echo server on {} — backend: {}, style: {:?}, threads: {}",
            cfg.addr,
            lp.backend(),
            cfg.style,
            cfg.threads
        );
    }
    let counters = Counters::default();
    let _ = handles.send((index, lp.handle(), counters.clone()));
    let fd = listener.as_raw_fd();
    match cfg.style {
        Style::Callback => callback::run(&mut lp, fd, cfg.max_unsent, counters.clone())?,
        Style::Polling => polling::run(&mut lp, fd, cfg.max_unsent, counters.clone())?,
        Style::Blocking => blocking::run(&mut lp, fd, counters.clone())?,
    }
    Ok(format!(
        "STATS thread={index} {} {}",
        counters.line(),
        lp.stats()
    ))
}

fn watch_signals(signals: Signals, loops: Vec<Registered>) {
    loop {
        match signals.next() {
            Signal::Report => {
                for (i, handle, counters) in &loops {
                    let (i, counters) = (*i, counters.clone());
                    let _ = handle.post(move |lp| {
                        say(&format!(
                            "STATS thread={i} {} {}",
                            counters.line(),
                            lp.stats()
                        ))
                    });
                }
            }
            Signal::Stop(sig) => {
                log::info!("signal {sig}: stopping");
                for (_, handle, _) in &loops {
                    let _ = handle.stop();
                }
                return;
            }
        }
    }
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cfg = match parse_args() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    raise_fd_limit();
    let signals = Signals::block();
    // Bind once here so that a bad address fails before any thread starts, and so that port 0
    // resolves to one port shared by every thread.
    let mut cfg = cfg;
    let reuse_port = cfg.threads > 1;
    if reuse_port && cfg.addr.port() == 0 {
        // Port 0 with SO_REUSEPORT may hand out a port that another process's reuseport group
        // already uses, and the two would share connections. Reserve a port exclusively first.
        match std::net::TcpListener::bind(cfg.addr).and_then(|l| l.local_addr()) {
            Ok(addr) => cfg.addr = addr,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", cfg.addr);
                std::process::exit(1);
            }
        }
    }
    let first = match listen(cfg.addr, reuse_port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", cfg.addr);
            std::process::exit(1);
        }
    };
    if let Some(addr) = first.local_addr().ok().and_then(|a| a.as_socket()) {
        cfg.addr = addr;
    }
    let (tx, rx) = mpsc::channel();
    let mut threads = Vec::new();
    let mut first = Some(first);
    for index in 0..cfg.threads {
        let listener = match first.take() {
            Some(s) => s,
            None => listen(cfg.addr, true).expect("SO_REUSEPORT listener"),
        };
        let (cfg, tx) = (cfg.clone(), tx.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("loop-{index}"))
                .spawn(move || serve(&cfg, index, listener, tx))
                .expect("spawn loop thread"),
        );
    }
    drop(tx);
    let loops: Vec<_> = rx.iter().take(cfg.threads).collect();
    // Every loop is built and every listener bound: announce the address in one machine-readable
    // line, so scripts and tests can use `--addr 127.0.0.1:0`.
    say(&format!("LISTENING {}", cfg.addr));
    std::thread::spawn(move || watch_signals(signals, loops));
    let mut failed = false;
    for t in threads {
        match t.join() {
            Ok(Ok(stats)) => say(&stats),
            Ok(Err(e)) => {
                eprintln!("error: {e}");
                failed = true;
            }
            Err(_) => failed = true,
        }
    }
    std::thread::sleep(Duration::from_millis(10));
    std::process::exit(if failed { 1 } else { 0 });
}
