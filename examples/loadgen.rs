//! `loadgen` — a TCP echo load generator for benchmarking echo servers.
//!
//! It opens `--conns` connections (spread over `--threads` client threads,
//! each running its own mio event loop), sends `--size`-byte messages and
//! checks that every byte comes back unchanged and in order. Two modes:
//!
//! * closed loop (default): each connection keeps `--depth` messages in
//!   flight and sends a new one as soon as one is echoed back; latency is
//!   measured from the moment a message is queued for sending.
//! * open loop (`--rate R`): messages follow a fixed schedule of R msgs/s in
//!   total, spread evenly over the connections. Latency is measured from the
//!   *scheduled* send time, so if the server (or the connection, limited to
//!   `--depth` in flight) falls behind, the queueing delay shows up in the
//!   numbers instead of silently lowering the offered load (no coordinated
//!   omission).
//!
//! `--idle N` only opens N connections and holds them open (used to measure
//! a server's memory per idle connection).
//!
//! Output: human-readable lines, `WINDOW start` / `WINDOW end` at the moments
//! the measured window opens and closes (so a driving script can sample the
//! server's CPU time exactly over the window), and a final machine-readable
//! `RESULT key=value ...` line (`IDLE_RESULT ...` in idle mode).
//!
//! Only std, mio, hdrhistogram and libc are used so that this file builds as
//! an example of the ringloop crate without extra dependencies.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

const USAGE: &str = "\
loadgen - TCP echo load generator (verifies every echoed byte)

USAGE:
    loadgen [OPTIONS]

OPTIONS:
    --addr HOST:PORT        echo server address             [default: 127.0.0.1:7000]
    --conns N               number of connections           [default: 16]
    --size BYTES            message size in bytes            [default: 64]
    --depth D               messages in flight per connection [default: 1]
                            (open loop: the most a connection may have in
                            flight; later due messages wait in the client
                            and their wait is counted as latency)
    --secs S                length of the measured window, seconds [default: 10]
    --warmup S              warm-up before the window (load runs, nothing
                            is counted), seconds            [default: 1]
    --threads T             client threads, each with its own event loop;
                            connections are spread over them [default: 1]
    --rate MSGS_PER_SEC     open loop: fixed send schedule of this many
                            messages/s in total; latency counted from the
                            scheduled send time          [default: 0 = closed loop]
                            Sends are timed by busy-polling when the next one
                            is due within 1 ms (epoll timeouts are too coarse),
                            so each client thread needs a core of its own.
    --connect-timeout S     time limit for each batch of 256 connects; if a
                            whole batch fails, the remaining connections are
                            not attempted                [default: 10]
    --idle N                only open N connections, hold them idle for
                            --secs, then exit (server memory per connection)
    -h, --help              print this help

Durations accept fractions (e.g. --secs 2.5). Flags may be written --flag V
or --flag=V.

OUTPUT (stdout):
    human-readable summary lines, then
    WINDOW start | WINDOW end     printed when the measured window opens/closes
    RESULT conns=.. size=.. depth=.. rate=.. secs=.. msgs=.. msgs_per_sec=..
           mb_per_sec=.. p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=.. errors=..
    (idle mode: IDLE_RESULT conns=.. connected=.. secs=.. errors=..)
    mb_per_sec counts payload bytes echoed (one direction), 1 MB = 10^6 bytes.
    errors counts connect failures, resets, corrupted/misordered bytes,
    short reads (EOF with messages outstanding) and unexpected closes.

EXIT STATUS:
    0 run completed without errors, 1 errors occurred (RESULT still printed),
    2 bad command line.
";

/// Connects are issued this many at a time so that a large `--conns` does not
/// overflow the server's accept backlog (dropped SYNs cost a 1 s retransmit).
const CONNECT_BATCH: usize = 256;
/// Size of the per-thread read buffer; reads drain the socket in chunks of this.
const READ_BUF: usize = 64 * 1024;
/// If the next open-loop send is due sooner than this, poll without sleeping:
/// epoll timeouts have millisecond granularity, which would otherwise delay
/// (and bunch up) sends and inflate the measured latency.
const SPIN_THRESHOLD: Duration = Duration::from_millis(1);
/// Highest trackable latency: one hour, in nanoseconds.
const HIST_MAX_NS: u64 = 3_600 * 1_000_000_000;

#[derive(Clone, Debug)]
struct Config {
    addr: SocketAddr,
    conns: usize,
    size: usize,
    depth: usize,
    secs: f64,
    warmup: f64,
    threads: usize,
    /// Total messages/s; 0 means closed loop.
    rate: f64,
    connect_timeout: f64,
    /// `Some(n)`: idle mode with n connections.
    idle: Option<usize>,
}

fn parse_args(args: &[String]) -> Result<Option<Config>, String> {
    let mut addr = "127.0.0.1:7000".to_string();
    let mut cfg = Config {
        addr: "127.0.0.1:7000".parse().unwrap(),
        conns: 16,
        size: 64,
        depth: 1,
        secs: 10.0,
        warmup: 1.0,
        threads: 1,
        rate: 0.0,
        connect_timeout: 10.0,
        idle: None,
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        if !flag.starts_with("--") {
            return Err(format!("unexpected argument '{arg}'"));
        }
        let value = match inline {
            Some(v) => v,
            None => {
                let v = args
                    .get(i)
                    .ok_or_else(|| format!("{flag} needs a value"))?
                    .clone();
                i += 1;
                v
            }
        };
        match flag {
            "--addr" => addr = value,
            "--conns" => cfg.conns = parse_num(flag, &value)?,
            "--size" => cfg.size = parse_num(flag, &value)?,
            "--depth" => cfg.depth = parse_num(flag, &value)?,
            "--secs" => cfg.secs = parse_secs(flag, &value)?,
            "--warmup" => cfg.warmup = parse_secs(flag, &value)?,
            "--threads" => cfg.threads = parse_num(flag, &value)?,
            "--rate" => cfg.rate = parse_secs(flag, &value)?,
            "--connect-timeout" => cfg.connect_timeout = parse_secs(flag, &value)?,
            "--idle" => cfg.idle = Some(parse_num(flag, &value)?),
            _ => return Err(format!("unknown option '{flag}'")),
        }
    }
    cfg.addr = addr
        .to_socket_addrs()
        .map_err(|e| format!("--addr '{addr}': {e}"))?
        .next()
        .ok_or_else(|| format!("--addr '{addr}': no address found"))?;
    if let Some(n) = cfg.idle {
        cfg.conns = n;
    }
    if cfg.conns == 0 {
        return Err("--conns/--idle must be at least 1".into());
    }
    if cfg.size == 0 || cfg.size > 16 << 20 {
        return Err("--size must be between 1 and 16777216".into());
    }
    if cfg.depth == 0 || cfg.depth > 1 << 20 {
        return Err("--depth must be between 1 and 1048576".into());
    }
    if cfg.secs <= 0.0 {
        return Err("--secs must be greater than 0".into());
    }
    if cfg.connect_timeout <= 0.0 {
        return Err("--connect-timeout must be greater than 0".into());
    }
    if cfg.threads == 0 || cfg.threads > 1024 {
        return Err("--threads must be between 1 and 1024".into());
    }
    // More threads than connections would leave threads with nothing to do.
    cfg.threads = cfg.threads.min(cfg.conns);
    Ok(Some(cfg))
}

fn parse_num(flag: &str, v: &str) -> Result<usize, String> {
    v.trim()
        .parse::<usize>()
        .map_err(|_| format!("{flag}: '{v}' is not a non-negative integer"))
}

/// Parses a non-negative, finite, not absurdly large number (seconds or a rate).
fn parse_secs(flag: &str, v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=1e9).contains(&x) => Ok(x),
        _ => Err(format!("{flag}: '{v}' is not a number between 0 and 1e9")),
    }
}

/// Raises the soft open-files limit to the hard limit: 10,000 connections need
/// 10,000 descriptors and the usual soft default is 1024.
fn raise_nofile_limit() -> libc::rlim_t {
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        lim.rlim_cur
    }
}

// ---------------------------------------------------------------------------
// Payload pattern
// ---------------------------------------------------------------------------

/// Odd multiplier that makes consecutive 8-byte words of a message differ, so
/// a byte that was shifted within a message is detected too.
const WORD_STEP: u64 = 0xD1B5_4A32_D192_ED03;

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Per-message key derived from (connection id, sequence number): every
/// message has its own byte stream, so a byte from another message or
/// another connection is detected as a mismatch.
fn msg_key(conn: u32, seq: u64) -> u64 {
    splitmix64((u64::from(conn) << 40) ^ seq)
}

/// Writes bytes `offset .. offset + out.len()` of the message with `key`.
/// Byte `p` is byte `p % 8` (little endian) of `key + (p / 8) * WORD_STEP`;
/// working a word at a time keeps generation and checking cheap (the client
/// must not be the bottleneck at 4 KiB messages).
fn fill_pattern(key: u64, offset: usize, out: &mut [u8]) {
    let word = |w: usize| {
        key.wrapping_add((w as u64).wrapping_mul(WORD_STEP))
            .to_le_bytes()
    };
    let mut p = offset;
    let mut i = 0;
    // Leading bytes up to the next word boundary.
    while i < out.len() && p % 8 != 0 {
        out[i] = word(p / 8)[p % 8];
        i += 1;
        p += 1;
    }
    let mut w = p / 8;
    let mut chunks = out[i..].chunks_exact_mut(8);
    for c in &mut chunks {
        c.copy_from_slice(&word(w));
        w += 1;
    }
    let rest = chunks.into_remainder();
    let last = word(w);
    rest.copy_from_slice(&last[..rest.len()]);
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

#[derive(Default, Clone, Copy, Debug)]
struct Errors {
    connect: u64,
    reset: u64,
    mismatch: u64,
    short_read: u64,
    closed: u64,
    other: u64,
}

impl Errors {
    fn total(&self) -> u64 {
        self.connect + self.reset + self.mismatch + self.short_read + self.closed + self.other
    }
    fn add(&mut self, o: &Errors) {
        self.connect += o.connect;
        self.reset += o.reset;
        self.mismatch += o.mismatch;
        self.short_read += o.short_read;
        self.closed += o.closed;
        self.other += o.other;
    }
}

/// What one client thread hands back to main.
struct WorkerResult {
    hist: Histogram<u64>,
    msgs: u64,
    errors: Errors,
    /// First error message seen, for diagnostics.
    first_error: Option<String>,
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_NS, 3).expect("valid histogram bounds")
}

/// Keeps counts plus the first error text (later ones are usually the same).
struct ErrLog {
    errors: Errors,
    first: Option<String>,
}

impl ErrLog {
    fn note(&mut self, what: &str, detail: impl std::fmt::Display) {
        if self.first.is_none() {
            self.first = Some(format!("{what}: {detail}"));
        }
    }
}

// ---------------------------------------------------------------------------
// Connection setup
// ---------------------------------------------------------------------------

/// Opens one connection per id, `CONNECT_BATCH` at a time, each batch bounded
/// by `timeout`. Failures are counted, not retried: the run goes on with the
/// connections that did come up. If not a single connect of a batch succeeds
/// the server is unreachable, and the rest are counted as failed without
/// trying, so that a black-holed address costs one timeout, not one per batch.
///
/// A connect completes when the server's kernel finishes the handshake, not
/// when the server calls accept(), so a slow-accepting server can overflow
/// its accept queue; the kernel then drops SYNs and the client retransmits
/// them after 1 s, 3 s, ... That slows this phase down but happens before
/// the measured window; the default timeout leaves room for two retransmits.
fn connect_all(
    poll: &mut Poll,
    events: &mut Events,
    addr: SocketAddr,
    ids: &[u32],
    timeout: Duration,
    log: &mut ErrLog,
) -> Vec<(u32, TcpStream)> {
    let mut out = Vec::with_capacity(ids.len());
    for (b, batch) in ids.chunks(CONNECT_BATCH).enumerate() {
        let before = out.len();
        let mut pending: Vec<Option<TcpStream>> = Vec::with_capacity(batch.len());
        let mut left = 0usize;
        for (i, _) in batch.iter().enumerate() {
            match TcpStream::connect(addr) {
                Ok(mut s) => match poll
                    .registry()
                    .register(&mut s, Token(i), Interest::WRITABLE)
                {
                    Ok(()) => {
                        pending.push(Some(s));
                        left += 1;
                    }
                    Err(e) => {
                        log.errors.connect += 1;
                        log.note("connect", e);
                        pending.push(None);
                    }
                },
                Err(e) => {
                    // e.g. EMFILE, EADDRNOTAVAIL (out of ephemeral ports), ECONNREFUSED
                    log.errors.connect += 1;
                    log.note("connect", e);
                    pending.push(None);
                }
            }
        }
        let deadline = Instant::now() + timeout;
        while left > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if let Err(e) = poll.poll(events, Some(deadline - now)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log.note("poll", &e);
                break;
            }
            for ev in events.iter() {
                let i = ev.token().0;
                let Some(s) = pending.get_mut(i).and_then(|p| p.as_mut()) else {
                    continue;
                };
                // mio's documented way to finish a non-blocking connect:
                // check SO_ERROR, then whether the socket has a peer yet.
                let res = match s.take_error() {
                    Ok(Some(e)) | Err(e) => Err(e),
                    Ok(None) => match s.peer_addr() {
                        Ok(_) => Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => continue,
                        Err(e) => Err(e),
                    },
                };
                let mut s = pending[i].take().expect("pending socket present");
                left -= 1;
                let _ = poll.registry().deregister(&mut s);
                match res {
                    Ok(()) => {
                        // Small messages must not wait for Nagle's algorithm.
                        let _ = s.set_nodelay(true);
                        out.push((batch[i], s));
                    }
                    Err(e) => {
                        log.errors.connect += 1;
                        log.note("connect", e);
                    }
                }
            }
        }
        for s in pending.iter_mut() {
            if let Some(mut s) = s.take() {
                let _ = poll.registry().deregister(&mut s);
                log.errors.connect += 1;
                log.note("connect", "timed out");
            }
        }
        if out.len() == before {
            let skipped = ids.len().saturating_sub((b + 1) * CONNECT_BATCH);
            log.errors.connect += skipped as u64;
            break;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Per-connection state
// ---------------------------------------------------------------------------

struct Conn {
    stream: TcpStream,
    /// Global connection id (part of the payload pattern).
    id: u32,
    /// Bytes queued for sending; `tx[tx_pos..]` is not yet written.
    tx: Vec<u8>,
    tx_pos: usize,
    /// Sequence number of the next message to send.
    tx_seq: u64,
    /// Sequence number of the message being received and how much of it arrived.
    rx_seq: u64,
    rx_off: usize,
    /// Start time (queue time, or scheduled time in open loop) of every message
    /// sent but not fully echoed, oldest first.
    inflight: VecDeque<Instant>,
    /// Open loop: number of this connection's messages whose scheduled time has passed.
    due: u64,
}

enum ConnError {
    Mismatch(String),
    ShortRead,
    Closed,
    Io(io::Error),
}

impl Conn {
    /// Appends the next message to the send buffer, timestamped with `start`.
    fn queue_msg(&mut self, size: usize, start: Instant) {
        // Drop the already-written prefix so the buffer cannot creep upward.
        if self.tx_pos > 0 {
            self.tx.drain(..self.tx_pos);
            self.tx_pos = 0;
        }
        let at = self.tx.len();
        self.tx.resize(at + size, 0);
        fill_pattern(msg_key(self.id, self.tx_seq), 0, &mut self.tx[at..]);
        self.tx_seq += 1;
        self.inflight.push_back(start);
    }

    /// Writes as much of the send buffer as the socket takes. A short write
    /// is fine: the socket is registered for WRITABLE, and the next writable
    /// edge calls this again.
    fn flush(&mut self) -> Result<(), ConnError> {
        while self.tx_pos < self.tx.len() {
            match self.stream.write(&self.tx[self.tx_pos..]) {
                Ok(0) => return Err(ConnError::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.tx_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ConnError::Io(e)),
            }
        }
        self.tx.clear();
        self.tx_pos = 0;
        Ok(())
    }
}

/// Shared, read-only description of the run, known once every thread has
/// connected.
struct Plan {
    t0: Instant,
    warm_end: Instant,
    end: Instant,
    /// Connections that came up over all threads (the open-loop rate is
    /// spread over these).
    total_connected: usize,
    abort: bool,
}

/// Start line shared by main and the workers: each thread connects, adds its
/// count to `connected` and waits at the barrier; main then publishes `plan`
/// and meets them at the barrier a second time to release them.
struct Gate {
    barrier: Barrier,
    connected: AtomicUsize,
    plan: OnceLock<Plan>,
}

// ---------------------------------------------------------------------------
// Worker thread
// ---------------------------------------------------------------------------

struct Worker {
    cfg: Config,
    poll: Poll,
    conns: Vec<Option<Conn>>,
    hist: Histogram<u64>,
    msgs: u64,
    log: ErrLog,
    rbuf: Vec<u8>,
    expect: Vec<u8>,
    warm_end: Instant,
    end: Instant,
    open_loop: Option<OpenLoop>,
}

/// Open-loop schedule of one thread: its messages are due at
/// `t0 + offset + j / rate` for j = 0, 1, 2, ..., and message j goes to
/// connection `j % n`. Connection idx's k-th message is therefore global
/// message `k * n + idx`, whose time can be recomputed when it is finally
/// sent, so nothing per message has to be stored.
struct OpenLoop {
    t0: Instant,
    offset: f64,
    rate: f64,
    n: u64,
    next_j: u64,
}

impl OpenLoop {
    fn at(&self, j: u64) -> Instant {
        self.t0 + Duration::from_secs_f64(self.offset + j as f64 / self.rate)
    }
}

fn worker(cfg: Config, thread_idx: usize, ids: Vec<u32>, gate: Arc<Gate>) -> WorkerResult {
    let mut log = ErrLog {
        errors: Errors::default(),
        first: None,
    };
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            // Still take part in the barrier protocol so main does not hang.
            log.errors.connect += ids.len() as u64;
            log.note("epoll_create", e);
            gate.barrier.wait();
            gate.barrier.wait();
            return WorkerResult {
                hist: new_hist(),
                msgs: 0,
                errors: log.errors,
                first_error: log.first,
            };
        }
    };
    let mut events = Events::with_capacity(1024);
    let timeout = Duration::from_secs_f64(cfg.connect_timeout);
    let streams = connect_all(&mut poll, &mut events, cfg.addr, &ids, timeout, &mut log);

    let mut conns = Vec::with_capacity(streams.len());
    for (idx, (id, mut stream)) in streams.into_iter().enumerate() {
        // Both interests, edge-triggered: readiness is reported once per
        // change, so having WRITABLE registered all the time costs nothing.
        if let Err(e) = poll.registry().register(
            &mut stream,
            Token(idx),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log.errors.other += 1;
            log.note("register", e);
            conns.push(None);
            continue;
        }
        conns.push(Some(Conn {
            stream,
            id,
            tx: Vec::new(),
            tx_pos: 0,
            tx_seq: 0,
            rx_seq: 0,
            rx_off: 0,
            inflight: VecDeque::new(),
            due: 0,
        }));
    }
    let connected = conns.iter().filter(|c| c.is_some()).count();
    gate.connected.fetch_add(connected, Ordering::SeqCst);
    gate.barrier.wait(); // everyone connected
    gate.barrier.wait(); // main has published the plan
    let plan = gate.plan.get().expect("plan published before release");
    if plan.abort {
        return WorkerResult {
            hist: new_hist(),
            msgs: 0,
            errors: log.errors,
            first_error: log.first,
        };
    }

    let open_loop = (cfg.rate > 0.0 && cfg.idle.is_none() && !conns.is_empty()).then(|| {
        let rate = cfg.rate * conns.len() as f64 / plan.total_connected.max(1) as f64;
        OpenLoop {
            t0: plan.t0,
            // Interleave the threads' schedules instead of having all of
            // them send at the same instants.
            offset: thread_idx as f64 / cfg.rate,
            rate,
            n: conns.len() as u64,
            next_j: 0,
        }
    });
    let mut w = Worker {
        poll,
        conns,
        hist: new_hist(),
        msgs: 0,
        log,
        rbuf: vec![0; READ_BUF],
        expect: vec![0; READ_BUF.min(cfg.size)],
        warm_end: plan.warm_end,
        end: plan.end,
        open_loop,
        cfg,
    };
    if w.cfg.idle.is_some() {
        w.run_idle(&mut events);
    } else {
        w.run_load(&mut events);
    }
    WorkerResult {
        hist: w.hist,
        msgs: w.msgs,
        errors: w.log.errors,
        first_error: w.log.first,
    }
}

impl Worker {
    fn run_load(&mut self, events: &mut Events) {
        let closed_loop = self.open_loop.is_none();
        if closed_loop {
            let now = Instant::now();
            for idx in 0..self.conns.len() {
                if let Some(c) = self.conns[idx].as_mut() {
                    for _ in 0..self.cfg.depth {
                        c.queue_msg(self.cfg.size, now);
                    }
                    let r = c.flush();
                    self.check(idx, r);
                }
            }
        }
        loop {
            let now = Instant::now();
            if now >= self.end {
                break;
            }
            let mut timeout = self.end - now;
            if self.open_loop.is_some() {
                self.release_due(now);
                let next = self
                    .open_loop
                    .as_ref()
                    .map(|o| o.at(o.next_j))
                    .unwrap_or(self.end);
                let until = next.saturating_duration_since(now);
                timeout = timeout.min(if until <= SPIN_THRESHOLD {
                    Duration::ZERO
                } else {
                    until - SPIN_THRESHOLD
                });
            }
            match self.poll.poll(events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.log.errors.other += 1;
                    self.log.note("poll", e);
                    break;
                }
            }
            for ev in events.iter() {
                let idx = ev.token().0;
                if self.conns.get(idx).is_none_or(|c| c.is_none()) {
                    continue;
                }
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    let r = self.on_readable(idx);
                    if !self.check(idx, r) {
                        continue;
                    }
                }
                if ev.is_writable() {
                    let r = match self.conns[idx].as_mut() {
                        Some(c) => c.flush(),
                        None => continue,
                    };
                    self.check(idx, r);
                }
            }
        }
    }

    /// Open loop: hands every message whose scheduled time has passed to its
    /// connection and sends what the depth limit allows.
    fn release_due(&mut self, now: Instant) {
        let Some(ol) = self.open_loop.as_mut() else {
            return;
        };
        let mut touched: Vec<usize> = Vec::new();
        while ol.at(ol.next_j) <= now {
            let idx = (ol.next_j % ol.n) as usize;
            ol.next_j += 1;
            if let Some(c) = self.conns[idx].as_mut() {
                c.due += 1;
                touched.push(idx);
            }
        }
        for idx in touched {
            self.send_due(idx);
            if let Some(c) = self.conns[idx].as_mut() {
                let r = c.flush();
                self.check(idx, r);
            }
        }
    }

    /// Open loop: queues due messages while the connection has fewer than
    /// `depth` in flight, each stamped with its *scheduled* time.
    fn send_due(&mut self, idx: usize) {
        let Some(ol) = self.open_loop.as_ref() else {
            return;
        };
        let Some(c) = self.conns[idx].as_mut() else {
            return;
        };
        while c.tx_seq < c.due && c.inflight.len() < self.cfg.depth {
            let sched = ol.at(c.tx_seq * ol.n + idx as u64);
            c.queue_msg(self.cfg.size, sched);
        }
    }

    /// Drains the socket, verifying bytes and completing messages.
    fn on_readable(&mut self, idx: usize) -> Result<(), ConnError> {
        loop {
            let c = self.conns[idx].as_mut().expect("live connection");
            let n = match c.stream.read(&mut self.rbuf) {
                Ok(0) => {
                    return Err(if c.inflight.is_empty() {
                        ConnError::Closed
                    } else {
                        ConnError::ShortRead
                    });
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ConnError::Io(e)),
            };
            let now = Instant::now();
            let in_window = now >= self.warm_end && now < self.end;
            let size = self.cfg.size;
            let mut data = &self.rbuf[..n];
            let mut completed = 0u32;
            while !data.is_empty() {
                if c.inflight.is_empty() {
                    return Err(ConnError::Mismatch(format!(
                        "{} bytes arrived with no message outstanding",
                        data.len()
                    )));
                }
                let take = (size - c.rx_off).min(data.len()).min(self.expect.len());
                let exp = &mut self.expect[..take];
                fill_pattern(msg_key(c.id, c.rx_seq), c.rx_off, exp);
                if data[..take] != *exp {
                    let at = data[..take]
                        .iter()
                        .zip(exp.iter())
                        .position(|(a, b)| a != b)
                        .unwrap_or(0);
                    return Err(ConnError::Mismatch(format!(
                        "conn {} message {} byte {}: got {:#04x}, expected {:#04x}",
                        c.id,
                        c.rx_seq,
                        c.rx_off + at,
                        data[at],
                        exp[at]
                    )));
                }
                data = &data[take..];
                c.rx_off += take;
                if c.rx_off == size {
                    c.rx_off = 0;
                    c.rx_seq += 1;
                    let start = c.inflight.pop_front().expect("checked non-empty");
                    if in_window {
                        let ns = now
                            .saturating_duration_since(start)
                            .as_nanos()
                            .min(u128::from(HIST_MAX_NS)) as u64;
                        self.hist.saturating_record(ns.max(1));
                        self.msgs += 1;
                    }
                    completed += 1;
                }
            }
            if completed > 0 {
                if self.open_loop.is_some() {
                    self.send_due(idx);
                } else if now < self.end {
                    let c = self.conns[idx].as_mut().expect("live connection");
                    for _ in 0..completed {
                        c.queue_msg(size, now);
                    }
                }
                // Send right away rather than after the socket is drained,
                // so the replacement message is not delayed by later reads.
                self.conns[idx].as_mut().expect("live connection").flush()?;
            }
            // A short read means the socket is empty right now. The usual
            // edge-triggered rule is to read again until WouldBlock, but on
            // Linux epoll queues a fresh edge for every segment that arrives
            // later, so that extra read would only return WouldBlock. Saving
            // the syscall matters: the client must stay cheaper per message
            // than the servers it measures.
            if n < self.rbuf.len() {
                break;
            }
        }
        Ok(())
    }

    /// Records a connection failure and drops the connection. Returns
    /// whether the connection is still alive.
    fn check(&mut self, idx: usize, r: Result<(), ConnError>) -> bool {
        let Err(e) = r else { return true };
        let id = self.conns[idx].as_ref().map_or(0, |c| c.id);
        match e {
            ConnError::Mismatch(m) => {
                self.log.errors.mismatch += 1;
                self.log.note("mismatch", m);
            }
            ConnError::ShortRead => {
                self.log.errors.short_read += 1;
                self.log.note(
                    "short read",
                    format!("conn {id}: server closed with messages outstanding"),
                );
            }
            ConnError::Closed => {
                self.log.errors.closed += 1;
                self.log
                    .note("closed", format!("conn {id}: server closed the connection"));
            }
            ConnError::Io(e) => {
                match e.kind() {
                    io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionAborted => self.log.errors.reset += 1,
                    _ => self.log.errors.other += 1,
                }
                self.log.note("io", format!("conn {id}: {e}"));
            }
        }
        if let Some(mut c) = self.conns[idx].take() {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
        false
    }

    /// Idle mode: hold the connections until the end, reporting any that the
    /// server closes or sends data on.
    fn run_idle(&mut self, events: &mut Events) {
        loop {
            let now = Instant::now();
            if now >= self.end {
                break;
            }
            match self.poll.poll(events, Some(self.end - now)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.log.errors.other += 1;
                    self.log.note("poll", e);
                    break;
                }
            }
            for ev in events.iter() {
                let idx = ev.token().0;
                if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
                    continue;
                }
                let Some(c) = self.conns.get_mut(idx).and_then(|c| c.as_mut()) else {
                    continue;
                };
                let r = match c.stream.read(&mut self.rbuf) {
                    Ok(0) => Err(ConnError::Closed),
                    Ok(n) => Err(ConnError::Mismatch(format!(
                        "{n} unexpected bytes on an idle connection"
                    ))),
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            || e.kind() == io::ErrorKind::Interrupted =>
                    {
                        Ok(())
                    }
                    Err(e) => Err(ConnError::Io(e)),
                };
                self.check(idx, r);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

fn println_flush(line: &str) {
    let mut out = io::stdout().lock();
    // A closed stdout (e.g. `| head`) must not panic the program.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// CPU time (user + system, all threads) this process has used so far.
fn process_cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return Duration::ZERO;
        }
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match parse_args(&args) {
        Ok(Some(c)) => c,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("loadgen: {e}\nTry 'loadgen --help'.");
            return ExitCode::from(2);
        }
    };

    let nofile = raise_nofile_limit();
    if nofile != 0 && (cfg.conns as u64) + 64 > nofile as u64 {
        eprintln!(
            "loadgen: warning: open-files limit is {nofile}, too low for {} connections; expect connect errors",
            cfg.conns
        );
    }

    let mode = match (cfg.idle, cfg.rate > 0.0) {
        (Some(_), _) => "idle".to_string(),
        (None, true) => format!("open-loop rate={} msgs/s", cfg.rate),
        (None, false) => "closed-loop".to_string(),
    };
    println_flush(&format!(
        "loadgen: addr={} conns={} size={} depth={} threads={} mode={} warmup={}s secs={}s",
        cfg.addr, cfg.conns, cfg.size, cfg.depth, cfg.threads, mode, cfg.warmup, cfg.secs
    ));

    let gate = Arc::new(Gate {
        barrier: Barrier::new(cfg.threads + 1),
        connected: AtomicUsize::new(0),
        plan: OnceLock::new(),
    });
    let connect_start = Instant::now();
    let mut handles = Vec::with_capacity(cfg.threads);
    for t in 0..cfg.threads {
        // Connection c goes to thread c % threads.
        let ids: Vec<u32> = (t..cfg.conns)
            .step_by(cfg.threads)
            .map(|c| c as u32)
            .collect();
        let (cfg2, gate2) = (cfg.clone(), gate.clone());
        let h = thread::Builder::new()
            .name(format!("loadgen-{t}"))
            .spawn(move || worker(cfg2, t, ids, gate2));
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                eprintln!("loadgen: cannot start thread: {e}");
                // The barrier counts on every thread; without this one it would hang.
                std::process::exit(1);
            }
        }
    }

    gate.barrier.wait(); // all threads have connected (or given up)
    let connected = gate.connected.load(Ordering::SeqCst);
    let connect_time = connect_start.elapsed();
    let t0 = Instant::now();
    let warmup = if cfg.idle.is_some() { 0.0 } else { cfg.warmup };
    let warm_end = t0 + Duration::from_secs_f64(warmup);
    let end = warm_end + Duration::from_secs_f64(cfg.secs);
    let abort = connected == 0;
    let _ = gate.plan.set(Plan {
        t0,
        warm_end,
        end,
        total_connected: connected,
        abort,
    });
    gate.barrier.wait(); // release the workers
    println_flush(&format!(
        "connected {connected}/{} in {:.3} s",
        cfg.conns,
        connect_time.as_secs_f64()
    ));

    // The client's own CPU use over the window tells whether a result is
    // bounded by the load generator rather than by the server.
    let mut client_cpu_pct = None;
    if !abort {
        if warmup > 0.0 {
            thread::sleep(warm_end.saturating_duration_since(Instant::now()));
        }
        println_flush("WINDOW start");
        let (cpu0, wall0) = (process_cpu_time(), Instant::now());
        thread::sleep(end.saturating_duration_since(Instant::now()));
        println_flush("WINDOW end");
        let (cpu1, wall) = (process_cpu_time(), wall0.elapsed());
        client_cpu_pct =
            Some(100.0 * cpu1.saturating_sub(cpu0).as_secs_f64() / wall.as_secs_f64().max(1e-9));
    }

    let mut hist = new_hist();
    let mut msgs = 0u64;
    let mut errors = Errors::default();
    let mut first_error: Option<String> = None;
    for h in handles {
        match h.join() {
            Ok(r) => {
                let _ = hist.add(&r.hist);
                msgs += r.msgs;
                errors.add(&r.errors);
                if first_error.is_none() {
                    first_error = r.first_error;
                }
            }
            Err(_) => {
                errors.other += 1;
                first_error.get_or_insert_with(|| "a client thread panicked".into());
            }
        }
    }

    if let Some(e) = &first_error {
        eprintln!("loadgen: first error: {e}");
    }
    let err_line = format!(
        "errors: {} (connect={} reset={} mismatch={} short_read={} closed={} other={})",
        errors.total(),
        errors.connect,
        errors.reset,
        errors.mismatch,
        errors.short_read,
        errors.closed,
        errors.other
    );

    if cfg.idle.is_some() {
        println_flush(&format!(
            "held {connected} idle connections for {} s",
            cfg.secs
        ));
        println_flush(&err_line);
        println_flush(&format!(
            "IDLE_RESULT conns={} connected={} secs={} errors={}",
            cfg.conns,
            connected,
            cfg.secs,
            errors.total()
        ));
    } else {
        let mps = msgs as f64 / cfg.secs;
        let mbps = mps * cfg.size as f64 / 1e6;
        let q = |p: f64| {
            if hist.is_empty() {
                0.0
            } else {
                us(hist.value_at_quantile(p))
            }
        };
        let (p50, p90, p99, p999) = (q(0.50), q(0.90), q(0.99), q(0.999));
        let max = if hist.is_empty() { 0.0 } else { us(hist.max()) };
        if abort {
            println_flush("no connection could be established; nothing measured");
        }
        println_flush(&format!(
            "throughput: {mps:.1} msgs/s, {mbps:.2} MB/s payload ({msgs} msgs in {} s)",
            cfg.secs
        ));
        println_flush(&format!(
            "latency us: p50={p50:.1} p90={p90:.1} p99={p99:.1} p99.9={p999:.1} max={max:.1}"
        ));
        if let Some(pct) = client_cpu_pct {
            println_flush(&format!(
                "loadgen cpu: {pct:.0}% of one core during the window ({} threads; near 100% per thread means client-bound)",
                cfg.threads
            ));
        }
        println_flush(&err_line);
        println_flush(&format!(
            "RESULT conns={} size={} depth={} rate={} secs={} msgs={} msgs_per_sec={:.1} mb_per_sec={:.3} \
             p50_us={:.1} p90_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1} errors={}",
            cfg.conns,
            cfg.size,
            cfg.depth,
            cfg.rate,
            cfg.secs,
            msgs,
            mps,
            mbps,
            p50,
            p90,
            p99,
            p999,
            max,
            errors.total()
        ));
    }
    if errors.total() > 0 || connected == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_pieces_match_whole() {
        let key = msg_key(7, 42);
        let mut whole = vec![0u8; 1000];
        fill_pattern(key, 0, &mut whole);
        // Any split into pieces at any offset must reproduce the same bytes.
        for start in 0..40 {
            for len in [0, 1, 3, 8, 13, 64] {
                let end = (start + len).min(whole.len());
                let mut part = vec![0u8; end - start];
                fill_pattern(key, start, &mut part);
                assert_eq!(part, &whole[start..end], "start={start} len={len}");
            }
        }
    }

    #[test]
    fn messages_differ() {
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        fill_pattern(msg_key(1, 1), 0, &mut a);
        fill_pattern(msg_key(1, 2), 0, &mut b);
        assert_ne!(a, b);
        fill_pattern(msg_key(2, 1), 0, &mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn args() {
        let a = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let c = parse_args(&a("--conns=3 --size 10 --rate 100 --threads 8"))
            .unwrap()
            .unwrap();
        assert_eq!((c.conns, c.size, c.threads), (3, 10, 3));
        assert!(parse_args(&a("--conns x")).is_err());
        assert!(parse_args(&a("--size 0")).is_err());
        assert!(parse_args(&a("--secs")).is_err());
        assert!(parse_args(&a("--bogus 1")).is_err());
        assert!(parse_args(&a("--help")).unwrap().is_none());
    }
}
