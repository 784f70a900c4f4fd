//! `pubsub_bench` — fan-out benchmark for any Redis-protocol server (the ringloop broker, Redis),
//! and for the broker's Server-Sent Events front.
//!
//! One publisher connection sends `PUBLISH` in pipelined batches over RESP; N subscribers, all
//! served by one ringloop event loop on another thread (multishot recv), receive every message.
//! The subscribers are RESP connections that sent `SUBSCRIBE` (decoded with the RESP reply
//! decoder), or with `--sse HOST:PORT` SSE streams on the broker's HTTP port
//! (`GET /channels/{channel}/events`, decoded with `ringloop::proto::sse::EventDecoder`); the
//! publisher is RESP either way, so the two rows differ only in how subscribers are served.
//!
//! Each payload is ASCII (SSE data must be text): 16 hex digits of its send time, 16 hex digits
//! of its sequence number, padded with `x` to `--size`. The subscriber side measures
//! publish-to-receive latency (hdrhistogram) and checks every message's sequence number per
//! subscriber: a missing, duplicated or reordered message is an error, not a statistic.
//!
//! ```text
//! cargo run --release --example pubsub_bench -- --port 6380 --subs 100 --msgs 20000
//! cargo run --release --example pubsub_bench -- --port 6380 --sse 127.0.0.1:8080 --subs 100
//! ```
//!
//! With `--server-pid PID` it also reads the server's CPU time (utime+stime, /proc) around the
//! run and reports server CPU per delivery. The last line is machine-readable (`RESULT ...`).

#[path = "shared/process.rs"]
mod process;
#[path = "shared/stamp.rs"]
mod stamp;
#[path = "shared/url_path.rs"]
mod url_path;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use hdrhistogram::Histogram;
use process::{cpu_ticks, cpu_us_per, raise_fd_limit};
use ringloop::op::RecvMulti;
use ringloop::proto::resp::{self, ReplyDecoder, Value};
use ringloop::proto::sse::EventDecoder;
use ringloop::EventLoop;
use stamp::{parse_payload, payload, STAMP};
use url_path::path_segment;

const USAGE: &str = "\
pubsub_bench: publish-to-subscribers fan-out benchmark (RESP publisher; RESP or SSE subscribers)

USAGE: pubsub_bench [OPTIONS]

OPTIONS:
  --host IP            server address (RESP)                  [default: 127.0.0.1]
  --port N             server port (RESP: the publisher, and the subscribers without --sse)
                                                              [default: 6380]
  --sse HOST:PORT      subscribers are SSE streams on the broker's HTTP port
                       (GET /channels/{channel}/events) instead of RESP SUBSCRIBE connections
  --subs N             subscribers                            [default: 100]
  --msgs N             messages to publish                    [default: 20000]
  --size BYTES         payload size (at least 32: 16 hex digits of send time, 16 of
                       sequence, then 'x' padding)            [default: 64]
  --pipeline N         PUBLISH commands per batch             [default: 16]
  --rate N             publish N messages/s on a fixed schedule (0 = as fast as the
                       server answers); latency is then measured from the schedule [default: 0]
  --channel NAME       channel                                [default: bench]
  --server-pid PID     measure the server's CPU time per delivery
  --timeout SECS       give up waiting for deliveries after   [default: 30]
  -h, --help           this text

The last line is machine-readable:
  RESULT mode=resp|sse subs=.. msgs=.. size=.. pipeline=.. rate=.. deliveries=.. secs=.. deliveries_per_sec=..
         p50_us=.. p99_us=.. p999_us=.. max_us=.. server_cpu_us_per_delivery=.. errors=..
Exit status: 0 if every subscriber got every message in order, 1 otherwise.";

struct Args {
    addr: SocketAddr,
    sse: Option<SocketAddr>,
    subs: usize,
    msgs: u64,
    size: usize,
    pipeline: usize,
    rate: f64,
    channel: String,
    server_pid: Option<u32>,
    timeout: Duration,
}

fn resolve(what: &str, s: &str) -> Result<SocketAddr, String> {
    s.to_socket_addrs()
        .map_err(|e| format!("{what} {s}: {e}"))?
        .next()
        .ok_or_else(|| format!("{what} {s}: no address"))
}

fn parse() -> Result<Args, String> {
    let mut host = "127.0.0.1".to_string();
    let mut port = 6380u16;
    let mut a = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 6380)),
        sse: None,
        subs: 100,
        msgs: 20_000,
        size: 64,
        pipeline: 16,
        rate: 0.0,
        channel: "bench".into(),
        server_pid: None,
        timeout: Duration::from_secs(30),
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
            "--host" => host = v.clone(),
            "--port" => port = v.parse().map_err(|e| bad(&e))?,
            "--sse" => a.sse = Some(resolve("--sse", &v)?),
            "--subs" => a.subs = v.parse().map_err(|e| bad(&e))?,
            "--msgs" => a.msgs = v.parse().map_err(|e| bad(&e))?,
            "--size" => a.size = v.parse::<usize>().map_err(|e| bad(&e))?,
            "--pipeline" => a.pipeline = v.parse::<usize>().map_err(|e| bad(&e))?.max(1),
            "--rate" => {
                a.rate = v.parse::<f64>().map_err(|e| bad(&e))?;
                if !a.rate.is_finite() || a.rate < 0.0 {
                    return Err(format!(
                        "--rate {v}: must be a number of messages per second"
                    ));
                }
            }
            "--channel" => a.channel = v.clone(),
            "--server-pid" => a.server_pid = Some(v.parse().map_err(|e| bad(&e))?),
            "--timeout" => a.timeout = Duration::from_secs(v.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown option {flag} (see --help)")),
        }
    }
    if a.size < STAMP {
        return Err(format!(
            "--size {} is too small: a payload carries {STAMP} bytes of send time and sequence",
            a.size
        ));
    }
    if a.subs == 0 {
        return Err("--subs must be at least 1".into());
    }
    if a.channel.is_empty() || a.channel.bytes().any(|b| b.is_ascii_control()) {
        return Err("--channel must be a non-empty name without control characters".into());
    }
    a.addr = resolve("server", &format!("{host}:{port}"))?;
    Ok(a)
}

/// Prints `error: msg` and exits with status 1: for failures that end the run (server gone,
/// refused connection, unexpected reply).
fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("pubsub_bench: error: {msg}");
    std::process::exit(1);
}

/// One request as RESP bytes (the crate's own client-side encoder).
fn command(args: &[&[u8]]) -> BytesMut {
    let mut out = BytesMut::new();
    resp::write_command(&mut out, args);
    out
}

/// Reads replies until `n` complete ones have arrived (blocking socket).
fn read_replies(
    s: &mut TcpStream,
    buf: &mut BytesMut,
    dec: &mut ReplyDecoder,
    n: usize,
) -> Result<Vec<Value>, String> {
    let mut got = Vec::with_capacity(n);
    let mut chunk = [0u8; 16 * 1024];
    while got.len() < n {
        match dec.decode(buf) {
            Ok(Some(v)) => {
                got.push(v);
                continue;
            }
            Ok(None) => {}
            Err(e) => return Err(format!("bad reply from the server: {e}")),
        }
        match s.read(&mut chunk) {
            Ok(0) => return Err("the server closed the connection".into()),
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Ok(got)
}

/// Opens one SSE stream: sends the request, reads the response head (blocking) and checks it is
/// `200` with `text/event-stream`. Returns the socket and whatever followed the head.
fn open_sse(addr: SocketAddr, channel: &str) -> Result<(TcpStream, BytesMut), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr} (HTTP): {e}"))?;
    s.set_nodelay(true).ok();
    let req = format!(
        "GET /channels/{}/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n",
        path_segment(channel)
    );
    s.write_all(req.as_bytes())
        .map_err(|e| format!("send SSE request to {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = resp.code.unwrap_or(0);
                let sse = resp.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("content-type")
                        && h.value.starts_with(b"text/event-stream")
                });
                if status != 200 || !sse {
                    let body = String::from_utf8_lossy(&buf[len..]).into_owned();
                    return Err(format!(
                        "GET /channels/{channel}/events answered {status} (not an event stream): {}",
                        body.trim()
                    ));
                }
                let rest = buf.split_off(len);
                s.set_read_timeout(None).ok();
                return Ok((s, rest));
            }
            Ok(httparse::Status::Partial) if buf.len() < 64 * 1024 => {}
            Ok(httparse::Status::Partial) => return Err("SSE response head too long".into()),
            Err(e) => return Err(format!("bad HTTP response head from {addr}: {e}")),
        }
        match s.read(&mut chunk) {
            Ok(0) => return Err(format!("{addr} closed the connection before the head")),
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read SSE response head from {addr}: {e}")),
        }
    }
}

/// Opens one RESP subscriber: `SUBSCRIBE channel`, and waits for the confirmation.
fn open_resp(
    addr: SocketAddr,
    channel: &str,
) -> Result<(TcpStream, BytesMut, ReplyDecoder), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_nodelay(true).ok();
    s.write_all(&command(&[b"SUBSCRIBE", channel.as_bytes()]))
        .map_err(|e| format!("send SUBSCRIBE to {addr}: {e}"))?;
    let mut buf = BytesMut::new();
    let mut dec = ReplyDecoder::new();
    match read_replies(&mut s, &mut buf, &mut dec, 1)?.pop() {
        Some(Value::Error(e)) => Err(format!(
            "SUBSCRIBE refused: {}",
            String::from_utf8_lossy(&e)
        )),
        _ => Ok((s, buf, dec)),
    }
}

/// How a subscriber's byte stream becomes messages.
enum Decoder {
    Resp(ReplyDecoder),
    Sse(EventDecoder),
}

/// Per-subscriber state on the loop thread.
struct Sub {
    buf: BytesMut,
    dec: Decoder,
    next_seq: u64,
}

impl Sub {
    /// The payload of the next complete message in the buffer; `Err` for a stream that cannot
    /// be decoded (nothing more is read from it).
    fn next_payload(&mut self) -> Result<Option<Bytes>, String> {
        loop {
            match &mut self.dec {
                Decoder::Resp(dec) => {
                    let v = match dec.decode(&mut self.buf) {
                        Ok(Some(v)) => v,
                        Ok(None) => return Ok(None),
                        Err(e) => return Err(format!("bad RESP from the server: {e}")),
                    };
                    // ["message", channel, payload]; anything else (a RESP3 attribute, say)
                    // is not a delivery.
                    let (Value::Array(items) | Value::Push(items)) = v else {
                        continue;
                    };
                    if let Some(Value::Bulk(p)) = items.into_iter().nth(2) {
                        return Ok(Some(p));
                    }
                }
                Decoder::Sse(dec) => {
                    let Some(ev) = dec.decode(&mut self.buf) else {
                        return Ok(None);
                    };
                    if ev.event != "message" {
                        return Err(format!("unexpected SSE event '{}': {}", ev.event, ev.data));
                    }
                    return Ok(Some(Bytes::from(ev.data.into_bytes())));
                }
            }
        }
    }
}

struct Totals {
    delivered: AtomicU64,
    errors: AtomicU64,
    /// Subscriber connections that ended (closed by the server, or broken) before the end.
    closed: AtomicU64,
    done: AtomicBool,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Totals {
    fn error(&self, msg: impl FnOnce() -> String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            if first.is_none() {
                *first = Some(msg());
            }
        }
    }
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pubsub_bench: error: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    raise_fd_limit();
    let mode = if args.sse.is_some() { "sse" } else { "resp" };
    let base = Instant::now();
    // Subscribe every connection (blocking), then hand them to the loop thread.
    let mut subs = Vec::with_capacity(args.subs);
    for i in 0..args.subs {
        let opened = match args.sse {
            Some(http) => open_sse(http, &args.channel).map(|(s, buf)| {
                let dec = Decoder::Sse(EventDecoder::new());
                (s, buf, dec)
            }),
            None => open_resp(args.addr, &args.channel)
                .map(|(s, buf, dec)| (s, buf, Decoder::Resp(dec))),
        };
        let (s, buf, dec) = opened.unwrap_or_else(|e| {
            fail(format!(
                "subscriber {}/{}: {e}{}",
                i + 1,
                args.subs,
                if i == 0 {
                    " (is the server running?)"
                } else {
                    ""
                }
            ))
        });
        if let Err(e) = s.set_nonblocking(true) {
            fail(format!("subscriber socket: {e}"));
        }
        subs.push((
            OwnedFd::from(s),
            Sub {
                buf,
                dec,
                next_seq: 0,
            },
        ));
    }
    let totals = Arc::new(Totals {
        delivered: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        closed: AtomicU64::new(0),
        done: AtomicBool::new(false),
        first_error: std::sync::Mutex::new(None),
    });
    let expected = args.msgs * args.subs as u64;
    let t = totals.clone();
    let receiver = std::thread::spawn(move || receive(subs, t, base));

    let mut publisher = TcpStream::connect(args.addr)
        .unwrap_or_else(|e| fail(format!("publisher: connect {}: {e}", args.addr)));
    publisher.set_nodelay(true).ok();
    let mut pbuf = BytesMut::new();
    let mut pdec = ReplyDecoder::new();
    let cpu0 = args.server_pid.and_then(cpu_ticks);
    let start = Instant::now();
    let mut seq = 0u64;
    let mut receivers_seen = 0i64;
    while seq < args.msgs {
        let batch = args.pipeline.min((args.msgs - seq) as usize);
        // Open loop: each batch leaves at its scheduled time, and its messages count their
        // latency from that time, so a server that falls behind cannot hide it (no
        // coordinated omission).
        let scheduled =
            (args.rate > 0.0).then(|| start + Duration::from_secs_f64(seq as f64 / args.rate));
        if let Some(at) = scheduled {
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
        }
        let mut out = BytesMut::new();
        for _ in 0..batch {
            let sent_ns = match scheduled {
                Some(at) => at.saturating_duration_since(base).as_nanos() as u64,
                None => base.elapsed().as_nanos() as u64,
            };
            let p = payload(args.size, sent_ns, seq);
            resp::write_command(&mut out, &[b"PUBLISH", args.channel.as_bytes(), &p]);
            seq += 1;
        }
        if let Err(e) = publisher.write_all(&out) {
            fail(format!("publisher: send PUBLISH: {e}"));
        }
        let replies = read_replies(&mut publisher, &mut pbuf, &mut pdec, batch)
            .unwrap_or_else(|e| fail(format!("publisher: {e}")));
        for v in replies {
            match v {
                Value::Integer(n) => receivers_seen = receivers_seen.max(n),
                other => fail(format!("PUBLISH replied {other:?}")),
            }
        }
    }
    let publish_secs = start.elapsed().as_secs_f64();
    let deadline = Instant::now() + args.timeout;
    while totals.delivered.load(Ordering::Relaxed) < expected
        && totals.closed.load(Ordering::Relaxed) < args.subs as u64
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu1 = args.server_pid.and_then(cpu_ticks);
    totals.done.store(true, Ordering::Relaxed);
    let hist = match receiver.join() {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => fail(format!("subscriber loop: {e}")),
        Err(_) => fail("the subscriber thread panicked"),
    };
    let delivered = totals.delivered.load(Ordering::Relaxed);
    let missing = expected.saturating_sub(delivered);
    let errors = totals.errors.load(Ordering::Relaxed) + missing;
    let cpu_per_delivery = cpu_us_per(cpu0, cpu1, delivered);
    let q = |p: f64| hist.value_at_quantile(p) as f64 / 1000.0;
    println!(
        "published {} messages in {publish_secs:.2} s; PUBLISH reported {receivers_seen} receivers",
        args.msgs
    );
    println!(
        "delivered {delivered}/{expected} to {} {mode} subscribers in {secs:.2} s = {:.0} deliveries/s; latency us p50={:.1} p99={:.1} p99.9={:.1} max={:.1}; errors {errors}",
        args.subs,
        delivered as f64 / secs,
        q(0.5),
        q(0.99),
        q(0.999),
        hist.max() as f64 / 1000.0
    );
    if missing > 0 {
        eprintln!(
            "pubsub_bench: {missing} deliveries missing after {} s ({} subscriber connections ended early)",
            args.timeout.as_secs(),
            totals.closed.load(Ordering::Relaxed)
        );
    }
    if let Some(e) = totals.first_error.lock().ok().and_then(|mut f| f.take()) {
        eprintln!("pubsub_bench: first error: {e}");
    }
    println!(
        "RESULT mode={mode} subs={} msgs={} size={} pipeline={} rate={} deliveries={delivered} secs={secs:.3} deliveries_per_sec={:.0} p50_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1} server_cpu_us_per_delivery={cpu_per_delivery} errors={errors}",
        args.subs,
        args.msgs,
        args.size,
        args.pipeline,
        args.rate,
        delivered as f64 / secs,
        q(0.5),
        q(0.99),
        q(0.999),
        hist.max() as f64 / 1000.0
    );
    std::process::exit(if errors == 0 { 0 } else { 1 });
}

/// The subscriber side: one event loop, a multishot recv per connection.
fn receive(
    subs: Vec<(OwnedFd, Sub)>,
    totals: Arc<Totals>,
    base: Instant,
) -> Result<Histogram<u64>, String> {
    let mut lp = EventLoop::new().map_err(|e| format!("event loop: {e}"))?;
    let hist = std::rc::Rc::new(std::cell::RefCell::new(
        Histogram::<u64>::new(3).map_err(|e| format!("histogram: {e}"))?,
    ));
    let mut fds = Vec::new();
    for (n, (fd, mut sub)) in subs.into_iter().enumerate() {
        let (totals, hist) = (totals.clone(), hist.clone());
        let mut broken = false;
        // Bytes read with the head (SSE) or the SUBSCRIBE reply are decoded with the first data.
        lp.submit_multi_with(RecvMulti::new(fd.as_raw_fd()), move |_, item| {
            let data = match item {
                Ok(Some(data)) => data,
                end => {
                    if !totals.done.load(Ordering::Relaxed) {
                        totals.closed.fetch_add(1, Ordering::Relaxed);
                        totals.error(|| match end {
                            Err(e) => format!("subscriber {n}: {e}"),
                            _ => format!("subscriber {n}: the server closed the connection"),
                        });
                    }
                    return;
                }
            };
            if broken {
                return;
            }
            sub.buf.extend_from_slice(&data);
            loop {
                let p = match sub.next_payload() {
                    Ok(Some(p)) => p,
                    Ok(None) => break,
                    Err(e) => {
                        broken = true;
                        totals.error(|| format!("subscriber {n}: {e}"));
                        break;
                    }
                };
                let now_ns = base.elapsed().as_nanos() as u64;
                let Some((sent_ns, seq)) = parse_payload(&p) else {
                    totals.error(|| {
                        format!(
                            "subscriber {n}: payload without a stamp: {:?}",
                            String::from_utf8_lossy(&p[..p.len().min(40)])
                        )
                    });
                    continue;
                };
                if seq != sub.next_seq {
                    let want = sub.next_seq;
                    totals.error(|| format!("subscriber {n}: got message {seq}, expected {want}"));
                }
                sub.next_seq = seq.wrapping_add(1);
                let _ = hist
                    .borrow_mut()
                    .record(now_ns.saturating_sub(sent_ns).max(1));
                totals.delivered.fetch_add(1, Ordering::Relaxed);
            }
        });
        fds.push(fd);
    }
    while !totals.done.load(Ordering::Relaxed) {
        lp.run_once(Some(Duration::from_millis(5)))
            .map_err(|e| format!("loop turn: {e}"))?;
    }
    drop(lp);
    drop(fds);
    Ok(std::rc::Rc::try_unwrap(hist)
        .map(|h| h.into_inner())
        .unwrap_or_else(|h| h.borrow().clone()))
}
