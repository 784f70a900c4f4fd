//! `http_bench` — the broker's HTTP front measured the way browsers use it: following a channel
//! by polling, by long polling and by Server-Sent Events, and what each costs.
//!
//! **Follow** (`--mode poll|longpoll|sse|all`): one publisher sends `PUBLISH` over RESP at a
//! fixed rate (`--rate` messages/s for `--secs`, each payload stamped with its send time and
//! sequence), while `--followers` blocking threads follow the channel over keep-alive HTTP/1.1
//! connections:
//!
//! * `poll`: `GET /channels/{ch}/messages?after=LAST` every `--poll-interval` seconds (the
//!   followers' phases spread evenly over the interval);
//! * `longpoll`: the same with `&wait=SECS`, re-sent as soon as each answer arrives;
//! * `sse`: one `GET /channels/{ch}/events?after=LAST`, then the stream.
//!
//! Each follower checks it gets every message exactly once and in order (ids contiguous, and
//! each payload's sequence matching its id) and records publish-to-receive latency. Counted on
//! the followers' sockets: requests sent, every byte read (status lines, headers, bodies, SSE
//! framing, heartbeats) and every byte written. Reported per mode: messages delivered (summed
//! over followers), requests per delivered message, bytes received and sent per delivered
//! message, latency p50/p99/max, server CPU per delivered message (`--server-pid`; the
//! publisher's `PUBLISH`es are included, the same in every mode), errors. Server CPU is read
//! from `/proc/PID/task/*/schedstat` (nanoseconds): at 10 messages/s a run costs the broker
//! milliseconds, below the 10 ms resolution of utime+stime.
//!
//! **Long-poll round trips** (`--mode longpoll-max`): N followers long-poll with `after=LAST`;
//! the publisher publishes as soon as every follower has received everything published so far
//! (`--window 1`, lock-step: each answer is a real park → publish → wake → answer cycle with one
//! message), or keeps up to `--window W` messages ahead of the slowest follower (`--window 0`:
//! unthrottled, pipelined; answers then carry many messages, and a follower further behind than
//! the broker's `--history` loses messages, which count as errors). Reported: completed long
//! polls per second, messages delivered per second, how many requests parked (from the
//! broker's `/stats`), server CPU per round trip.
//!
//! **Idle streams** (`--mode idle`): opens `--followers` SSE streams, holds them `--hold`
//! seconds, and with `--server-pid` reports the broker's resident memory (VmRSS) before and
//! after, divided by the streams: the memory cost of one idle SSE client (user space only;
//! kernel socket buffers are not in RSS).
//!
//! ```text
//! cargo run --release --example broker -- --port 0 --http-port 0     # prints both addresses
//! cargo run --release --example http_bench -- --http 127.0.0.1:HTTP --resp 127.0.0.1:RESP --mode all
//! ```
//!
//! Every mode ends with one machine-readable `RESULT mode=...` line; the exit status is 0 only
//! if nothing was lost, duplicated or reordered. `benches/http_compare.sh` runs them all.

#[path = "shared/process.rs"]
mod process;
#[path = "shared/stamp.rs"]
mod stamp;
#[path = "shared/url_path.rs"]
mod url_path;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use hdrhistogram::Histogram;
use process::{cpu_ticks, raise_fd_limit};
use ringloop::proto::resp::{self, ReplyDecoder, Value};
use ringloop::proto::sse::EventDecoder;
use stamp::{parse_payload, payload, STAMP};
use url_path::path_segment;

const USAGE: &str = "\
http_bench: the broker's HTTP front: polling vs long polling vs SSE, long-poll round trips,
memory per idle SSE stream

USAGE: http_bench --http ADDR --resp ADDR [OPTIONS]

OPTIONS:
  --http ADDR           the broker's HTTP address (host:port)           [required]
  --resp ADDR           the broker's RESP address, for the publisher     [required, not for idle]
  --mode M              poll | longpoll | sse | all (= poll, longpoll, sse in turn)
                        | longpoll-max | idle                           [default: all]
  --followers N         followers per mode (idle: streams to open)      [default: 10]
  --rate MSGS_PER_SEC   fixed publish rate (follow modes)               [default: 10]
  --secs SECS           publishing time (follow modes, longpoll-max)    [default: 10]
  --poll-interval SECS  time between two polls of one follower          [default: 1]
  --wait SECS           wait= of each long poll                         [default: 25]
  --window N            longpoll-max: messages the publisher may be ahead of the slowest
                        follower (1 = lock-step, 0 = unthrottled)       [default: 1]
  --size BYTES          payload size (at least 32: 16 hex digits of send time, 16 of
                        sequence, 'x' padding)                          [default: 64]
  --hold SECS           idle: how long to hold the streams once open    [default: 2]
  --channel PREFIX      channel name prefix (each run uses PREFIX.MODE.PID) [default: http_bench]
  --server-pid PID      the broker's pid: its CPU time per message or round trip (all its
                        threads, from /proc/PID/task/*/schedstat, ns resolution), and (idle) its
                        resident memory (VmRSS)
  -h, --help            this text

Follow modes publish round(rate x secs) messages, then give the followers max(2 x poll-interval,
5 s) to receive the last ones. Each mode prints one line:
  RESULT mode=poll|longpoll|sse followers=.. rate=.. secs=.. published=.. delivered=.. expected=..
         requests=.. requests_per_msg=.. bytes_in=.. bytes_in_per_msg=.. bytes_out=..
         bytes_out_per_msg=.. p50_us=.. p99_us=.. max_us=.. server_cpu_us_per_msg=.. errors=..
  RESULT mode=longpoll-max followers=.. window=.. secs=.. published=.. round_trips=..
         round_trips_per_sec=.. delivered=.. msgs_per_sec=.. msgs_per_response=.. parked=..
         immediate=.. p50_us=.. p99_us=.. max_us=.. server_cpu_us_per_round_trip=.. errors=..
  RESULT mode=idle streams=.. opened=.. server_sse=.. rss_before_kib=.. rss_after_kib=..
         bytes_per_stream=.. hold_secs=.. errors=..
Exit status: 0 if every follower got every message exactly once, in order; 1 otherwise.";

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Poll,
    LongPoll,
    Sse,
    LongPollMax,
    Idle,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Poll => "poll",
            Mode::LongPoll => "longpoll",
            Mode::Sse => "sse",
            Mode::LongPollMax => "longpoll-max",
            Mode::Idle => "idle",
        }
    }
}

struct Args {
    http: SocketAddr,
    resp: Option<SocketAddr>,
    modes: Vec<Mode>,
    followers: usize,
    rate: f64,
    secs: f64,
    poll_interval: Duration,
    wait: f64,
    window: u64,
    size: usize,
    hold: Duration,
    channel: String,
    server_pid: Option<u32>,
}

fn resolve(what: &str, s: &str) -> Result<SocketAddr, String> {
    s.to_socket_addrs()
        .map_err(|e| format!("{what} {s}: {e}"))?
        .next()
        .ok_or_else(|| format!("{what} {s}: no address"))
}

fn secs_arg(flag: &str, v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!("{flag} {v}: not a number of seconds")),
    }
}

fn parse() -> Result<Args, String> {
    let mut http = None;
    let mut a = Args {
        http: SocketAddr::from(([127, 0, 0, 1], 8080)),
        resp: None,
        modes: vec![Mode::Poll, Mode::LongPoll, Mode::Sse],
        followers: 10,
        rate: 10.0,
        secs: 10.0,
        poll_interval: Duration::from_secs(1),
        wait: 25.0,
        window: 1,
        size: 64,
        hold: Duration::from_secs(2),
        channel: "http_bench".into(),
        server_pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {v}: {e}");
        match flag.as_str() {
            "--http" => http = Some(resolve("--http", &v)?),
            "--resp" => a.resp = Some(resolve("--resp", &v)?),
            "--mode" => {
                a.modes = match v.as_str() {
                    "poll" => vec![Mode::Poll],
                    "longpoll" => vec![Mode::LongPoll],
                    "sse" => vec![Mode::Sse],
                    "all" => vec![Mode::Poll, Mode::LongPoll, Mode::Sse],
                    "longpoll-max" => vec![Mode::LongPollMax],
                    "idle" => vec![Mode::Idle],
                    _ => {
                        return Err(format!(
                            "--mode {v}: not one of poll, longpoll, sse, all, longpoll-max, idle"
                        ))
                    }
                }
            }
            "--followers" => a.followers = v.parse().map_err(|e| bad(&e))?,
            "--rate" => a.rate = v.parse().map_err(|e| bad(&e))?,
            "--secs" => a.secs = secs_arg(&flag, &v)?,
            "--poll-interval" => {
                a.poll_interval = Duration::from_secs_f64(secs_arg(&flag, &v)?.min(1e6))
            }
            "--wait" => a.wait = secs_arg(&flag, &v)?,
            "--window" => a.window = v.parse().map_err(|e| bad(&e))?,
            "--size" => a.size = v.parse().map_err(|e| bad(&e))?,
            "--hold" => a.hold = Duration::from_secs_f64(secs_arg(&flag, &v)?.min(1e6)),
            "--channel" => a.channel = v.clone(),
            "--server-pid" => a.server_pid = Some(v.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown option {flag} (see --help)")),
        }
    }
    a.http = http.ok_or("--http ADDR is required (the broker prints 'HTTP LISTENING addr')")?;
    let idle_only = a.modes == [Mode::Idle];
    if a.resp.is_none() && !idle_only {
        return Err("--resp ADDR is required (the broker prints 'LISTENING addr')".into());
    }
    if a.followers == 0 {
        return Err("--followers must be at least 1".into());
    }
    if a.size < STAMP {
        return Err(format!(
            "--size {} is too small: a payload carries {STAMP} bytes of send time and sequence",
            a.size
        ));
    }
    let follow = a
        .modes
        .iter()
        .any(|m| matches!(m, Mode::Poll | Mode::LongPoll | Mode::Sse));
    if follow && !(a.rate.is_finite() && a.rate > 0.0) {
        return Err(format!(
            "--rate {} must be above 0 (for long polls as fast as possible use --mode longpoll-max)",
            a.rate
        ));
    }
    if follow && (a.rate * a.secs).round() < 1.0 {
        return Err("--rate x --secs gives no message to publish".into());
    }
    if a.modes.contains(&Mode::Poll) && a.poll_interval.is_zero() {
        return Err("--poll-interval must be above 0".into());
    }
    if a.channel.is_empty() || !a.channel.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("--channel must be a non-empty name of printable ASCII".into());
    }
    Ok(a)
}

/// Prints `error: msg` and exits with status 1: for failures that end the run (broker gone,
/// refused connection, unexpected answer).
fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("http_bench: error: {msg}");
    std::process::exit(1);
}

// ---------------------------------------------------------------------------------------------
// A minimal blocking HTTP/1.1 client that counts what crosses the socket
// ---------------------------------------------------------------------------------------------

/// What a response head says about the body and the connection.
struct Head {
    status: u16,
    length: Option<usize>,
    close: bool,
    chunked: bool,
    event_stream: bool,
}

/// One keep-alive connection. Every byte read or written is counted, heads included.
struct Http {
    stream: TcpStream,
    addr: SocketAddr,
    /// Read and not yet consumed.
    buf: BytesMut,
    requests: u64,
    bytes_in: u64,
    bytes_out: u64,
}

impl Http {
    fn connect(addr: SocketAddr) -> Result<Http, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).ok();
        Ok(Http {
            stream,
            addr,
            buf: BytesMut::new(),
            requests: 0,
            bytes_in: 0,
            bytes_out: 0,
        })
    }

    /// Sends `GET target` (HTTP/1.1, keep-alive, only the `Host` header).
    fn get(&mut self, target: &str) -> Result<(), String> {
        let req = format!("GET {target} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        self.stream
            .write_all(req.as_bytes())
            .map_err(|e| format!("send GET {target}: {e}"))?;
        self.requests += 1;
        self.bytes_out += req.len() as u64;
        Ok(())
    }

    /// One read into the buffer; the end of the stream is an error.
    fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("the broker closed the connection".into()),
                Ok(n) => {
                    self.bytes_in += n as u64;
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Reads and consumes one response head.
    fn head(&mut self) -> Result<Head, String> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut r = httparse::Response::new(&mut headers);
            match r.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let mut head = Head {
                        status: r.code.unwrap_or(0),
                        length: None,
                        close: r.version == Some(0),
                        chunked: false,
                        event_stream: false,
                    };
                    for h in r.headers.iter() {
                        let value = String::from_utf8_lossy(h.value).to_ascii_lowercase();
                        match h.name.to_ascii_lowercase().as_str() {
                            "content-length" => head.length = value.trim().parse().ok(),
                            "connection" if value.contains("close") => head.close = true,
                            "connection" if value.contains("keep-alive") => head.close = false,
                            "transfer-encoding" => head.chunked = value.contains("chunked"),
                            "content-type" => {
                                head.event_stream = value.starts_with("text/event-stream")
                            }
                            _ => {}
                        }
                    }
                    self.buf.advance(len);
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) if self.buf.len() <= MAX_HEAD => self.fill()?,
                Ok(httparse::Status::Partial) => return Err("response head too long".into()),
                Err(e) => return Err(format!("bad HTTP response head: {e}")),
            }
        }
    }

    /// Reads one whole response (framed by `Content-Length`, as the broker frames them).
    fn response(&mut self) -> Result<(Head, Bytes), String> {
        let head = self.head()?;
        if head.chunked {
            return Err("chunked responses are not supported".into());
        }
        let len = head.length.ok_or("response without Content-Length")?;
        while self.buf.len() < len {
            self.fill()?;
        }
        Ok((head, self.buf.split_to(len).freeze()))
    }

    /// Sends `GET target` and reads the answer, which must be 200 JSON.
    fn get_json(&mut self, target: &str) -> Result<serde_json::Value, String> {
        self.get(target)?;
        let (head, body) = self.response()?;
        if head.status != 200 {
            return Err(format!(
                "GET {target} answered {}: {}",
                head.status,
                String::from_utf8_lossy(&body).trim()
            ));
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {target}: body is not JSON: {e}"))
    }

    /// Opens an SSE stream: `GET target`, then its head, which must be 200 `text/event-stream`.
    fn open_stream(&mut self, target: &str) -> Result<(), String> {
        self.get(target)?;
        let head = self.head()?;
        if head.status != 200 || !head.event_stream {
            let mut body = String::from_utf8_lossy(&self.buf).into_owned();
            body.truncate(200);
            return Err(format!(
                "GET {target} answered {} (not an event stream): {}",
                head.status,
                body.trim()
            ));
        }
        Ok(())
    }
}

/// One `GET` on a fresh connection, for the broker's `/stats` and the channel's last id.
fn fetch_json(addr: SocketAddr, target: &str) -> Result<serde_json::Value, String> {
    Http::connect(addr)?.get_json(target)
}

/// The broker's HTTP counters (`/stats`), `None` if unavailable.
fn http_stats(addr: SocketAddr) -> Option<serde_json::Value> {
    fetch_json(addr, "/stats").ok()
}

fn stat(v: &Option<serde_json::Value>, section: &str, key: &str) -> Option<u64> {
    v.as_ref()?.get(section)?.get(key)?.as_u64()
}

/// CPU time of every thread of process `pid` so far, in ns: the sum of
/// `/proc/PID/task/*/schedstat` (nanosecond resolution: a follow run at 10 messages/s costs the
/// broker only milliseconds), or utime+stime (10 ms ticks) where schedstat is missing.
fn cpu_ns(pid: u32) -> Option<u64> {
    let mut sum = 0u64;
    let mut found = false;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let ns = std::fs::read_to_string(task.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
        if let Some(ns) = ns {
            sum += ns;
            found = true;
        }
    }
    if found {
        return Some(sum);
    }
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    cpu_ticks(pid).map(|t| t * 1_000_000_000 / hz)
}

/// Microseconds of CPU per item between two `cpu_ns` readings, for a RESULT line.
fn cpu_us_per(before: Option<u64>, after: Option<u64>, items: u64) -> String {
    match (before, after) {
        (Some(a), Some(b)) if items > 0 => {
            format!("{:.3}", b.saturating_sub(a) as f64 / 1000.0 / items as f64)
        }
        _ => "n/a".into(),
    }
}

/// VmRSS of a process in KiB.
fn vmrss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// The publisher (RESP)
// ---------------------------------------------------------------------------------------------

struct Publisher {
    stream: TcpStream,
    buf: BytesMut,
    dec: ReplyDecoder,
    channel: String,
    size: usize,
    base: Instant,
    /// Messages published so far (the next message's sequence number).
    seq: u64,
}

impl Publisher {
    fn connect(
        addr: SocketAddr,
        channel: &str,
        size: usize,
        base: Instant,
    ) -> Result<Self, String> {
        let stream =
            TcpStream::connect(addr).map_err(|e| format!("publisher: connect {addr}: {e}"))?;
        stream.set_nodelay(true).ok();
        Ok(Publisher {
            stream,
            buf: BytesMut::new(),
            dec: ReplyDecoder::new(),
            channel: channel.to_owned(),
            size,
            base,
            seq: 0,
        })
    }

    /// Publishes `n` messages in one pipelined write and reads the `n` replies.
    fn publish(&mut self, n: usize) -> Result<(), String> {
        let mut out = BytesMut::new();
        for _ in 0..n {
            let sent_ns = self.base.elapsed().as_nanos() as u64;
            let p = payload(self.size, sent_ns, self.seq);
            resp::write_command(&mut out, &[b"PUBLISH", self.channel.as_bytes(), &p]);
            self.seq += 1;
        }
        self.stream
            .write_all(&out)
            .map_err(|e| format!("publisher: send PUBLISH: {e}"))?;
        let mut got = 0;
        let mut chunk = [0u8; 4096];
        while got < n {
            match self.dec.decode(&mut self.buf) {
                Ok(Some(Value::Integer(_))) => {
                    got += 1;
                    continue;
                }
                Ok(Some(other)) => return Err(format!("publisher: PUBLISH replied {other:?}")),
                Ok(None) => {}
                Err(e) => return Err(format!("publisher: bad reply: {e}")),
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("publisher: the broker closed the connection".into()),
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("publisher: read: {e}")),
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Followers
// ---------------------------------------------------------------------------------------------

/// State shared by the main thread (which publishes) and the followers.
struct Shared {
    /// The payload clock.
    base: Instant,
    /// When the followers start (set before they are released).
    start: OnceLock<Instant>,
    /// Messages the followers must receive: known up front in the follow modes, set when the
    /// publisher stops in `longpoll-max` (`u64::MAX` until then).
    total: AtomicU64,
    /// How far each follower has read (`Follower::received`).
    progress: Vec<AtomicU64>,
    /// Followers that have returned.
    finished: AtomicUsize,
    /// Set by the main thread at the end: errors after it are the shutdown, not failures.
    stop: AtomicBool,
    /// Followers notify here when they progress (the `longpoll-max` publisher waits on it).
    wake: (Mutex<()>, Condvar),
}

/// What one follower saw.
struct Report {
    requests: u64,
    /// Complete answers to polls and long polls (an SSE stream has none).
    responses: u64,
    bytes_in: u64,
    bytes_out: u64,
    /// Messages received in order (duplicates are not counted).
    delivered: u64,
    errors: u64,
    first_error: Option<String>,
    hist: Histogram<u64>,
}

impl Report {
    fn new() -> Report {
        Report {
            requests: 0,
            responses: 0,
            bytes_in: 0,
            bytes_out: 0,
            delivered: 0,
            errors: 0,
            first_error: None,
            hist: Histogram::new(3).expect("3 significant digits is a valid histogram"),
        }
    }

    fn error(&mut self, msg: String) {
        self.errors += 1;
        self.first_error.get_or_insert(msg);
    }

    fn merge(&mut self, o: Report) {
        self.requests += o.requests;
        self.responses += o.responses;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.delivered += o.delivered;
        self.errors += o.errors;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
        let _ = self.hist.add(&o.hist);
    }
}

/// One follower thread's state.
struct Follower {
    idx: usize,
    mode: Mode,
    conn: Http,
    channel: String,
    /// The channel's last id when the run started: the first message is `base_id + 1`.
    base_id: u64,
    next_id: u64,
    report: Report,
    shared: Arc<Shared>,
}

impl Follower {
    /// One message: its id must be the next one, its payload's sequence must match the id.
    fn message(&mut self, id: u64, data: &[u8], now_ns: u64) {
        if id < self.next_id {
            let want = self.next_id;
            self.report.error(format!(
                "follower {}: message {id} again (expected {want})",
                self.idx
            ));
            return;
        }
        if id > self.next_id {
            let want = self.next_id;
            self.report.error(format!(
                "follower {}: got message {id}, expected {want}: {} lost",
                self.idx,
                id - want
            ));
        }
        self.next_id = id + 1;
        match parse_payload(data) {
            Some((sent_ns, seq)) if seq.checked_add(self.base_id + 1) == Some(id) => {
                let _ = self
                    .report
                    .hist
                    .record(now_ns.saturating_sub(sent_ns).max(1));
                self.report.delivered += 1;
            }
            Some((_, seq)) => self.report.error(format!(
                "follower {}: message {id} carries sequence {seq} (expected {})",
                self.idx,
                id - self.base_id - 1
            )),
            None => self.report.error(format!(
                "follower {}: message {id} has no stamp: {:?}",
                self.idx,
                String::from_utf8_lossy(&data[..data.len().min(40)])
            )),
        }
    }

    /// How far this follower has read: messages up to `base_id + received()` (a gap counts as
    /// read; its messages are missing from `delivered`).
    fn received(&self) -> u64 {
        self.next_id - self.base_id - 1
    }

    fn done(&self) -> bool {
        self.received() >= self.shared.total.load(Ordering::Acquire)
    }

    /// Publishes this follower's progress (and wakes a waiting publisher).
    fn progressed(&self) {
        self.shared.progress[self.idx].store(self.received(), Ordering::Release);
        if self.mode == Mode::LongPollMax {
            let _guard = self.shared.wake.0.lock();
            self.shared.wake.1.notify_all();
        }
    }

    /// A poll or long-poll answer: `{"channel","last_id","messages":[{"id","data"}]}`, with
    /// `missed` (messages fell out of the history: the gap in the ids is counted) or `reset`
    /// (ids restarted: the follower gives up) when the broker could not answer from `after`.
    fn answer(&mut self, body: &[u8]) -> Result<(), String> {
        let now_ns = self.shared.base.elapsed().as_nanos() as u64;
        let text = || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        let v: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| format!("answer is not JSON ({e}): {}", text()))?;
        if let Some(missed) = v.get("missed") {
            // Not counted here: the ids of this answer jump, and `message` counts the gap.
            self.report.first_error.get_or_insert(format!(
                "follower {}: the broker says {missed} messages after {} are gone from its history",
                self.idx,
                self.next_id - 1
            ));
        }
        if v.get("reset").is_some() {
            return Err(format!(
                "the broker reset the channel (ids restarted): {}",
                text()
            ));
        }
        let msgs = v
            .get("messages")
            .and_then(|m| m.as_array())
            .ok_or_else(|| format!("answer without messages: {}", text()))?;
        for m in msgs {
            let id = m.get("id").and_then(|i| i.as_u64());
            let data = m.get("data").and_then(|d| d.as_str());
            match (id, data) {
                (Some(id), Some(data)) => self.message(id, data.as_bytes(), now_ns),
                _ => self.report.error(format!(
                    "follower {}: message without id or text data: {m}",
                    self.idx
                )),
            }
        }
        Ok(())
    }

    /// Sleeps until `t`, in short steps so that a stop is noticed.
    fn sleep_until(&self, t: Instant) {
        loop {
            let now = Instant::now();
            if now >= t || self.shared.stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep((t - now).min(Duration::from_millis(50)));
        }
    }

    fn run(&mut self, args: &FollowArgs) -> Result<(), String> {
        let ch = path_segment(&self.channel);
        let start = *self
            .shared
            .start
            .get()
            .expect("set before the followers start");
        match self.mode {
            Mode::Poll => {
                // Phases spread over the interval: followers do not poll in step.
                let mut tick = start
                    + args
                        .poll_interval
                        .mul_f64(self.idx as f64 / args.followers as f64);
                while !self.done() {
                    self.sleep_until(tick);
                    if self.shared.stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    let after = self.next_id - 1;
                    self.conn
                        .get(&format!("/channels/{ch}/messages?after={after}"))?;
                    self.take_answer()?;
                    let now = Instant::now();
                    while tick <= now {
                        tick += args.poll_interval; // a late poll does not cause a burst
                    }
                }
            }
            Mode::LongPoll | Mode::LongPollMax => {
                while !self.done() {
                    let after = self.next_id - 1;
                    let wait = &args.wait;
                    self.conn.get(&format!(
                        "/channels/{ch}/messages?after={after}&wait={wait}"
                    ))?;
                    self.take_answer()?;
                }
            }
            Mode::Sse => {
                // The stream was opened (and its head read) before the start.
                let mut dec = EventDecoder::new();
                while !self.done() {
                    let now_ns = self.shared.base.elapsed().as_nanos() as u64;
                    while let Some(ev) = dec.decode(&mut self.conn.buf) {
                        if ev.event != "message" {
                            return Err(format!("SSE event '{}': {}", ev.event, ev.data));
                        }
                        match ev.id.as_deref().map(str::parse::<u64>) {
                            Some(Ok(id)) => self.message(id, ev.data.as_bytes(), now_ns),
                            _ => self.report.error(format!(
                                "follower {}: SSE event without a numeric id: {:?}",
                                self.idx, ev.id
                            )),
                        }
                    }
                    self.progressed();
                    if self.done() {
                        break;
                    }
                    self.conn.fill()?;
                }
            }
            Mode::Idle => {}
        }
        Ok(())
    }

    /// Reads a poll / long-poll answer and takes its messages.
    fn take_answer(&mut self) -> Result<(), String> {
        let (head, body) = self.conn.response()?;
        if head.status != 200 {
            return Err(format!(
                "answered {}: {}",
                head.status,
                String::from_utf8_lossy(&body).trim()
            ));
        }
        self.report.responses += 1;
        self.answer(&body)?;
        self.progressed();
        if head.close {
            return Err("the broker closed the keep-alive connection".into());
        }
        Ok(())
    }
}

/// What every follower of a run needs to know.
struct FollowArgs {
    followers: usize,
    poll_interval: Duration,
    wait: String,
}

/// Runs one follower thread to its end; connection errors after a stop are not errors.
fn follower_thread(mut f: Follower, args: Arc<FollowArgs>, go: Arc<Barrier>) -> Report {
    go.wait();
    let res = f.run(&args);
    if let Err(e) = res {
        if !f.shared.stop.load(Ordering::Relaxed) {
            let idx = f.idx;
            f.report.error(format!("follower {idx}: {e}"));
        }
    }
    f.shared.finished.fetch_add(1, Ordering::Release);
    let mut r = f.report;
    r.requests = f.conn.requests;
    r.bytes_in = f.conn.bytes_in;
    r.bytes_out = f.conn.bytes_out;
    r
}

/// The outcome of one run of N followers.
struct Run {
    report: Report,
    published: u64,
    expected: u64,
    /// From the followers' start until all of them had everything (or gave up).
    secs: f64,
    cpu: String,
    stats0: Option<serde_json::Value>,
    stats1: Option<serde_json::Value>,
}

impl Run {
    fn delta(&self, section: &str, key: &str) -> String {
        match (
            stat(&self.stats0, section, key),
            stat(&self.stats1, section, key),
        ) {
            (Some(a), Some(b)) => b.saturating_sub(a).to_string(),
            _ => "n/a".into(),
        }
    }
}

/// Sets up a channel and N followers, runs the publisher (`publish` decides when to send), waits
/// for the followers, and collects what they saw.
fn run_followers(args: &Args, mode: Mode) -> Result<Run, String> {
    let resp = args.resp.ok_or("--resp ADDR is required")?;
    let channel = format!("{}.{}.{}", args.channel, mode.name(), std::process::id());
    let ch = path_segment(&channel);
    let base = Instant::now();
    // A first poll makes the broker keep the channel's history and tells its last id.
    let v = fetch_json(args.http, &format!("/channels/{ch}/messages?after=0"))
        .map_err(|e| format!("{e} (is the broker's HTTP front at {}?)", args.http))?;
    let base_id = v
        .get("last_id")
        .and_then(|l| l.as_u64())
        .ok_or_else(|| format!("poll answer without last_id: {v}"))?;
    let published_total = match mode {
        Mode::LongPollMax => u64::MAX,
        _ => (args.rate * args.secs).round() as u64,
    };
    let shared = Arc::new(Shared {
        base,
        start: OnceLock::new(),
        total: AtomicU64::new(published_total),
        progress: (0..args.followers).map(|_| AtomicU64::new(0)).collect(),
        finished: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        wake: (Mutex::new(()), Condvar::new()),
    });
    let fargs = Arc::new(FollowArgs {
        followers: args.followers,
        poll_interval: args.poll_interval,
        wait: format!("{}", args.wait),
    });
    let go = Arc::new(Barrier::new(args.followers + 1));
    let mut publisher = Publisher::connect(resp, &channel, args.size, base)?;
    let mut sockets = Vec::with_capacity(args.followers);
    let mut threads = Vec::with_capacity(args.followers);
    for idx in 0..args.followers {
        let mut conn = Http::connect(args.http)
            .map_err(|e| format!("follower {}/{}: {e}", idx + 1, args.followers))?;
        if mode == Mode::Sse {
            conn.open_stream(&format!("/channels/{ch}/events?after={base_id}"))
                .map_err(|e| format!("follower {}/{}: {e}", idx + 1, args.followers))?;
        }
        sockets.push(
            conn.stream
                .try_clone()
                .map_err(|e| format!("socket: {e}"))?,
        );
        let f = Follower {
            idx,
            mode,
            conn,
            channel: channel.clone(),
            base_id,
            next_id: base_id + 1,
            report: Report::new(),
            shared: shared.clone(),
        };
        let (fargs, go) = (fargs.clone(), go.clone());
        let t = std::thread::Builder::new()
            .name(format!("follower-{idx}"))
            .stack_size(256 * 1024)
            .spawn(move || follower_thread(f, fargs, go))
            .map_err(|e| format!("spawn follower {idx}: {e}"))?;
        threads.push(t);
    }
    let stats0 = http_stats(args.http);
    let cpu0 = args.server_pid.and_then(cpu_ns);
    let start = Instant::now();
    let _ = shared.start.set(start);
    go.wait();

    let published = match mode {
        Mode::LongPollMax => publish_window(args, &shared, &mut publisher, start),
        _ => publish_at_rate(args, &mut publisher, start, published_total),
    };
    let published = match published {
        Ok(n) => n,
        Err(e) => {
            stop(&shared, &sockets);
            fail(format!("{}: {e}", mode.name()));
        }
    };
    shared.total.store(published, Ordering::Release);
    // Give the followers time to receive the last messages.
    let drain = (args.poll_interval * 2).max(Duration::from_secs(5));
    let deadline = Instant::now() + drain;
    while Instant::now() < deadline {
        let caught_up = shared
            .progress
            .iter()
            .all(|p| p.load(Ordering::Acquire) >= published);
        if caught_up || shared.finished.load(Ordering::Acquire) == args.followers {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu1 = args.server_pid.and_then(cpu_ns);
    stop(&shared, &sockets);
    let mut report = Report::new();
    for t in threads {
        match t.join() {
            Ok(r) => report.merge(r),
            Err(_) => report.error("a follower thread panicked".into()),
        }
    }
    let expected = published * args.followers as u64;
    let missing = expected.saturating_sub(report.delivered);
    if missing > 0 {
        report.errors += missing;
        report.first_error.get_or_insert(format!(
            "{missing} deliveries missing {:.1} s after the last publish",
            drain.as_secs_f64()
        ));
    }
    let stats1 = http_stats(args.http);
    let delivered_units = if mode == Mode::LongPollMax {
        report.responses
    } else {
        report.delivered
    };
    Ok(Run {
        cpu: cpu_us_per(cpu0, cpu1, delivered_units),
        report,
        published,
        expected,
        secs,
        stats0,
        stats1,
    })
}

/// Ends a run: followers still blocked in a read are woken by shutting their sockets down.
fn stop(shared: &Shared, sockets: &[TcpStream]) {
    shared.stop.store(true, Ordering::Release);
    {
        let _guard = shared.wake.0.lock();
        shared.wake.1.notify_all();
    }
    for s in sockets {
        let _ = s.shutdown(Shutdown::Both);
    }
}

/// Follow modes: message k at `start + k / rate`, one `PUBLISH` each.
fn publish_at_rate(
    args: &Args,
    publisher: &mut Publisher,
    start: Instant,
    total: u64,
) -> Result<u64, String> {
    for k in 0..total {
        let at = start + Duration::from_secs_f64(k as f64 / args.rate);
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        publisher.publish(1)?;
    }
    Ok(total)
}

/// `longpoll-max`: publish whenever the slowest follower is fewer than `--window` messages
/// behind (0: always, 16 per pipelined batch), for `--secs`.
fn publish_window(
    args: &Args,
    shared: &Shared,
    publisher: &mut Publisher,
    start: Instant,
) -> Result<u64, String> {
    let end = start + Duration::from_secs_f64(args.secs);
    loop {
        if Instant::now() >= end || shared.finished.load(Ordering::Acquire) > 0 {
            // Past the end, or a follower gave up (it will not catch up any more).
            return Ok(publisher.seq);
        }
        let slowest = shared
            .progress
            .iter()
            .map(|p| p.load(Ordering::Acquire))
            .min()
            .unwrap_or(0);
        let ahead = publisher.seq - slowest;
        let room = match args.window {
            0 => 16,
            w => w.saturating_sub(ahead).min(16),
        };
        if room > 0 {
            publisher.publish(room as usize)?;
            continue;
        }
        let guard = shared.wake.0.lock().map_err(|_| "lock poisoned")?;
        let slowest = shared
            .progress
            .iter()
            .map(|p| p.load(Ordering::Acquire))
            .min()
            .unwrap_or(0);
        if publisher.seq - slowest >= args.window {
            let _ = shared.wake.1.wait_timeout(guard, Duration::from_millis(10));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Modes
// ---------------------------------------------------------------------------------------------

fn per(n: u64, d: u64, digits: usize) -> String {
    if d == 0 {
        "n/a".into()
    } else {
        format!("{:.*}", digits, n as f64 / d as f64)
    }
}

fn quantile_us(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

/// One follow mode; returns its RESULT line and whether it was clean.
fn follow(args: &Args, mode: Mode) -> (String, bool) {
    let run = run_followers(args, mode).unwrap_or_else(|e| fail(format!("{}: {e}", mode.name())));
    let r = &run.report;
    let d = r.delivered;
    let (p50, p99, max) = (
        quantile_us(&r.hist, 0.5),
        quantile_us(&r.hist, 0.99),
        r.hist.max() as f64 / 1000.0,
    );
    println!(
        "{}: {} followers, {} messages published at {}/s over {} s",
        mode.name(),
        args.followers,
        run.published,
        args.rate,
        args.secs
    );
    println!(
        "  delivered {d}/{} messages; {} requests = {} per message; received {} B = {} B per message; sent {} B = {} B per message",
        run.expected,
        r.requests,
        per(r.requests, d, 3),
        r.bytes_in,
        per(r.bytes_in, d, 1),
        r.bytes_out,
        per(r.bytes_out, d, 1)
    );
    println!(
        "  latency ms p50={:.2} p99={:.2} max={:.2}; server CPU {} us per message; errors {}",
        p50 / 1000.0,
        p99 / 1000.0,
        max / 1000.0,
        run.cpu,
        r.errors
    );
    if let Some(e) = &r.first_error {
        println!("  first error: {e}");
    }
    let line = format!(
        "RESULT mode={} followers={} rate={} secs={} published={} delivered={d} expected={} requests={} requests_per_msg={} bytes_in={} bytes_in_per_msg={} bytes_out={} bytes_out_per_msg={} p50_us={p50:.1} p99_us={p99:.1} max_us={max:.1} server_cpu_us_per_msg={} errors={}",
        mode.name(),
        args.followers,
        args.rate,
        args.secs,
        run.published,
        run.expected,
        r.requests,
        per(r.requests, d, 3),
        r.bytes_in,
        per(r.bytes_in, d, 1),
        r.bytes_out,
        per(r.bytes_out, d, 1),
        run.cpu,
        r.errors
    );
    println!("{line}");
    (line, r.errors == 0)
}

/// `longpoll-max`: long-poll round trips per second.
fn longpoll_max(args: &Args) -> bool {
    let run = run_followers(args, Mode::LongPollMax)
        .unwrap_or_else(|e| fail(format!("longpoll-max: {e}")));
    let r = &run.report;
    let (p50, p99, max) = (
        quantile_us(&r.hist, 0.5),
        quantile_us(&r.hist, 0.99),
        r.hist.max() as f64 / 1000.0,
    );
    let parked = run.delta("http", "long_polls");
    let immediate = run.delta("http", "polls");
    let rt_per_sec = r.responses as f64 / run.secs;
    let msgs_per_sec = r.delivered as f64 / run.secs;
    let window = match args.window {
        0 => "unthrottled".to_string(),
        w => w.to_string(),
    };
    println!(
        "longpoll-max: {} followers, window {window}, {:.2} s: {} long polls answered = {rt_per_sec:.0} round trips/s; {} messages delivered = {msgs_per_sec:.0}/s ({} per answer)",
        args.followers,
        run.secs,
        r.responses,
        r.delivered,
        per(r.delivered, r.responses, 2)
    );
    println!(
        "  broker: {parked} requests parked, {immediate} answered at once; latency us p50={p50:.1} p99={p99:.1} max={max:.1}; server CPU {} us per round trip; errors {}",
        run.cpu, r.errors
    );
    if let Some(e) = &r.first_error {
        println!("  first error: {e}");
    }
    println!(
        "RESULT mode=longpoll-max followers={} window={} secs={:.3} published={} round_trips={} round_trips_per_sec={rt_per_sec:.0} delivered={} msgs_per_sec={msgs_per_sec:.0} msgs_per_response={} parked={parked} immediate={immediate} p50_us={p50:.1} p99_us={p99:.1} max_us={max:.1} server_cpu_us_per_round_trip={} errors={}",
        args.followers,
        args.window,
        run.secs,
        run.published,
        r.responses,
        r.delivered,
        per(r.delivered, r.responses, 2),
        run.cpu,
        r.errors
    );
    r.errors == 0
}

/// `idle`: memory per idle SSE stream.
fn idle(args: &Args) -> bool {
    let channel = format!("{}.idle.{}", args.channel, std::process::id());
    let target = format!("/channels/{}/events", path_segment(&channel));
    let rss = |pid: Option<u32>| pid.and_then(vmrss_kib);
    let rss0 = rss(args.server_pid);
    let mut streams = Vec::with_capacity(args.followers);
    let mut errors = 0u64;
    let mut first_error = None;
    for i in 0..args.followers {
        let opened = Http::connect(args.http).and_then(|mut c| {
            c.open_stream(&target)?;
            Ok(c)
        });
        match opened {
            Ok(c) => streams.push(c.stream),
            Err(e) if i == 0 => fail(format!(
                "{e} (is the broker's HTTP front at {}?)",
                args.http
            )),
            Err(e) => {
                // Usually the fd limit (ours or the broker's --maxclients): report what opened.
                errors += (args.followers - i) as u64;
                first_error = Some(format!("stream {}/{}: {e}", i + 1, args.followers));
                break;
            }
        }
    }
    let opened = streams.len();
    let held_from = Instant::now();
    // The broker has answered every head, so it has every stream; let its RSS settle.
    let mut rss1 = rss(args.server_pid);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(250));
        let now = rss(args.server_pid);
        if now == rss1 {
            break;
        }
        rss1 = now;
    }
    let server_sse =
        stat(&http_stats(args.http), "clients", "sse").map_or("n/a".to_string(), |n| n.to_string());
    if let Some(left) = args.hold.checked_sub(held_from.elapsed()) {
        std::thread::sleep(left);
    }
    // Every stream must still be open: data (a heartbeat) is fine, an end is not.
    let mut closed = 0u64;
    let mut chunk = [0u8; 4096];
    for s in &mut streams {
        if s.set_nonblocking(true).is_err() {
            closed += 1;
            continue;
        }
        loop {
            match s.read(&mut chunk) {
                Ok(0) => {
                    closed += 1;
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    closed += 1;
                    break;
                }
            }
        }
    }
    if closed > 0 {
        errors += closed;
        first_error.get_or_insert(format!("{closed} streams closed by the broker while idle"));
    }
    let held = held_from.elapsed().as_secs_f64();
    drop(streams);
    let kib = |v: Option<u64>| v.map_or("n/a".to_string(), |v| v.to_string());
    let per_stream = match (rss0, rss1) {
        (Some(a), Some(b)) if opened > 0 => {
            format!("{:.0}", (b as f64 - a as f64) * 1024.0 / opened as f64)
        }
        _ => "n/a".into(),
    };
    println!(
        "idle: {opened}/{} SSE streams held {held:.1} s (broker counts {server_sse}); broker VmRSS {} -> {} KiB = {per_stream} B per stream; errors {errors}",
        args.followers,
        kib(rss0),
        kib(rss1)
    );
    if let Some(e) = &first_error {
        println!("  first error: {e}");
    }
    println!(
        "RESULT mode=idle streams={} opened={opened} server_sse={server_sse} rss_before_kib={} rss_after_kib={} bytes_per_stream={per_stream} hold_secs={held:.1} errors={errors}",
        args.followers,
        kib(rss0),
        kib(rss1)
    );
    errors == 0
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("http_bench: error: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    raise_fd_limit();
    let mut ok = true;
    let mut lines = Vec::new();
    for &mode in &args.modes {
        match mode {
            Mode::Poll | Mode::LongPoll | Mode::Sse => {
                let (line, clean) = follow(&args, mode);
                lines.push(line);
                ok &= clean;
            }
            Mode::LongPollMax => ok &= longpoll_max(&args),
            Mode::Idle => ok &= idle(&args),
        }
    }
    if lines.len() > 1 {
        summary(&lines);
    }
    std::process::exit(if ok { 0 } else { 1 });
}

/// A side-by-side table of the follow modes of this run.
fn summary(lines: &[String]) {
    let get = |line: &str, key: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or("?")
            .to_string()
    };
    println!();
    println!(
        "{:<9} {:>10} {:>10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>12} {:>7}",
        "mode",
        "delivered",
        "req/msg",
        "B in/msg",
        "B out/msg",
        "p50 ms",
        "p99 ms",
        "max ms",
        "srv CPU us/msg",
        "errors"
    );
    let ms = |v: String| {
        v.parse::<f64>()
            .map_or(v.clone(), |us| format!("{:.2}", us / 1000.0))
    };
    for l in lines {
        println!(
            "{:<9} {:>10} {:>10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>12} {:>7}",
            get(l, "mode"),
            get(l, "delivered"),
            get(l, "requests_per_msg"),
            get(l, "bytes_in_per_msg"),
            get(l, "bytes_out_per_msg"),
            ms(get(l, "p50_us")),
            ms(get(l, "p99_us")),
            ms(get(l, "max_us")),
            get(l, "server_cpu_us_per_msg"),
            get(l, "errors")
        );
    }
}
