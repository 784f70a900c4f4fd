//! `pubsub_bench` — fan-out benchmark for any Redis-protocol server (the ringloop broker, Redis).
//!
//! One publisher connection sends `PUBLISH` in pipelined batches; N subscriber connections, all
//! served by one ringloop event loop on another thread (multishot recv, RESP reply decoder),
//! receive every message. Each payload carries its send time, so the subscriber side measures
//! publish-to-receive latency (hdrhistogram), and every message's sequence number is checked:
//! a missing, duplicated or reordered message is an error, not a statistic.
//!
//! ```text
//! cargo run --release --example pubsub_bench -- --port 6380 --subs 100 --msgs 20000
//! ```
//!
//! With `--server-pid PID` it also reads the server's CPU time (utime+stime, /proc) around the
//! run and reports server CPU per delivery. The last line is machine-readable (`RESULT ...`).

#[path = "shared/process.rs"]
mod process;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use hdrhistogram::Histogram;
use process::{cpu_ticks, cpu_us_per};
use ringloop::op::RecvMulti;
use ringloop::proto::resp::{self, ReplyDecoder, Value};
use ringloop::EventLoop;

const USAGE: &str = "\
pubsub_bench: publish-to-subscribers fan-out benchmark over RESP

USAGE: pubsub_bench [OPTIONS]

OPTIONS:
  --host IP            server address                         [default: 127.0.0.1]
  --port N             server port                            [default: 6380]
  --subs N             subscriber connections                 [default: 100]
  --msgs N             messages to publish                    [default: 20000]
  --size BYTES         payload size (at least 16)             [default: 64]
  --pipeline N         PUBLISH commands per batch             [default: 16]
  --channel NAME       channel                                [default: bench]
  --server-pid PID     measure the server's CPU time per delivery
  --timeout SECS       give up waiting for deliveries after   [default: 30]
  -h, --help           this text";

struct Args {
    addr: SocketAddr,
    subs: usize,
    msgs: u64,
    size: usize,
    pipeline: usize,
    channel: String,
    server_pid: Option<u32>,
    timeout: Duration,
}

fn parse() -> Result<Args, String> {
    let mut host = "127.0.0.1".to_string();
    let mut port = 6380u16;
    let mut a = Args {
        addr: "127.0.0.1:6380".parse().expect("valid"),
        subs: 100,
        msgs: 20_000,
        size: 64,
        pipeline: 16,
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
            "--subs" => a.subs = v.parse().map_err(|e| bad(&e))?,
            "--msgs" => a.msgs = v.parse().map_err(|e| bad(&e))?,
            "--size" => a.size = v.parse::<usize>().map_err(|e| bad(&e))?.max(16),
            "--pipeline" => a.pipeline = v.parse::<usize>().map_err(|e| bad(&e))?.max(1),
            "--channel" => a.channel = v.clone(),
            "--server-pid" => a.server_pid = Some(v.parse().map_err(|e| bad(&e))?),
            "--timeout" => a.timeout = Duration::from_secs(v.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown option {flag} (see --help)")),
        }
    }
    a.addr = format!("{host}:{port}")
        .parse()
        .map_err(|e| format!("address: {e}"))?;
    Ok(a)
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
) -> Vec<Value> {
    let mut got = Vec::with_capacity(n);
    let mut chunk = [0u8; 16 * 1024];
    while got.len() < n {
        match dec.decode(buf) {
            Ok(Some(v)) => {
                got.push(v);
                continue;
            }
            Ok(None) => {}
            Err(e) => panic!("bad reply: {e}"),
        }
        let k = s.read(&mut chunk).expect("read reply");
        assert!(k > 0, "server closed the connection");
        buf.extend_from_slice(&chunk[..k]);
    }
    got
}

/// Per-subscriber state on the loop thread.
struct Sub {
    buf: BytesMut,
    dec: ReplyDecoder,
    next_seq: u64,
}

struct Totals {
    delivered: AtomicU64,
    errors: AtomicU64,
    done: AtomicBool,
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let base = Instant::now();
    // Subscribe every connection (blocking), then hand them to the loop thread.
    let mut subs = Vec::with_capacity(args.subs);
    for _ in 0..args.subs {
        let mut s =
            TcpStream::connect(args.addr).unwrap_or_else(|e| panic!("connect {}: {e}", args.addr));
        s.set_nodelay(true).ok();
        s.write_all(&command(&[b"SUBSCRIBE", args.channel.as_bytes()]))
            .unwrap();
        let mut buf = BytesMut::new();
        let mut dec = ReplyDecoder::new();
        read_replies(&mut s, &mut buf, &mut dec, 1);
        s.set_nonblocking(true).unwrap();
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
        done: AtomicBool::new(false),
    });
    let expected = args.msgs * args.subs as u64;
    let t = totals.clone();
    let receiver = std::thread::spawn(move || receive(subs, t, base));

    let mut publisher = TcpStream::connect(args.addr).expect("publisher connect");
    publisher.set_nodelay(true).ok();
    let mut pbuf = BytesMut::new();
    let mut pdec = ReplyDecoder::new();
    let cpu0 = args.server_pid.and_then(cpu_ticks);
    let start = Instant::now();
    let mut seq = 0u64;
    let mut receivers_seen = 0i64;
    while seq < args.msgs {
        let batch = args.pipeline.min((args.msgs - seq) as usize);
        let mut out = BytesMut::new();
        for _ in 0..batch {
            let mut payload = vec![b'x'; args.size];
            let sent_ns = base.elapsed().as_nanos() as u64;
            payload[..8].copy_from_slice(&sent_ns.to_le_bytes());
            payload[8..16].copy_from_slice(&seq.to_le_bytes());
            resp::write_command(&mut out, &[b"PUBLISH", args.channel.as_bytes(), &payload]);
            seq += 1;
        }
        publisher.write_all(&out).expect("publish");
        for v in read_replies(&mut publisher, &mut pbuf, &mut pdec, batch) {
            match v {
                Value::Integer(n) => receivers_seen = receivers_seen.max(n),
                other => panic!("PUBLISH replied {other:?}"),
            }
        }
    }
    let publish_secs = start.elapsed().as_secs_f64();
    let deadline = Instant::now() + args.timeout;
    while totals.delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu1 = args.server_pid.and_then(cpu_ticks);
    totals.done.store(true, Ordering::Relaxed);
    let hist = receiver.join().expect("receiver thread");
    let delivered = totals.delivered.load(Ordering::Relaxed);
    let errors = totals.errors.load(Ordering::Relaxed) + expected.saturating_sub(delivered);
    let cpu_per_delivery = cpu_us_per(cpu0, cpu1, delivered);
    let q = |p: f64| hist.value_at_quantile(p) as f64 / 1000.0;
    println!(
        "published {} messages in {publish_secs:.2} s; PUBLISH reported {receivers_seen} receivers",
        args.msgs
    );
    println!(
        "delivered {delivered}/{expected} in {secs:.2} s = {:.0} deliveries/s; latency us p50={:.1} p99={:.1} p99.9={:.1} max={:.1}; errors {errors}",
        delivered as f64 / secs,
        q(0.5),
        q(0.99),
        q(0.999),
        hist.max() as f64 / 1000.0
    );
    println!(
        "RESULT subs={} msgs={} size={} pipeline={} deliveries={delivered} secs={secs:.3} deliveries_per_sec={:.0} p50_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1} server_cpu_us_per_delivery={cpu_per_delivery} errors={errors}",
        args.subs,
        args.msgs,
        args.size,
        args.pipeline,
        delivered as f64 / secs,
        q(0.5),
        q(0.99),
        q(0.999),
        hist.max() as f64 / 1000.0
    );
    std::process::exit(if errors == 0 { 0 } else { 1 });
}

/// The subscriber side: one event loop, a multishot recv per connection.
fn receive(subs: Vec<(OwnedFd, Sub)>, totals: Arc<Totals>, base: Instant) -> Histogram<u64> {
    let mut lp = EventLoop::new().expect("event loop");
    let hist = std::rc::Rc::new(std::cell::RefCell::new(
        Histogram::<u64>::new(3).expect("histogram"),
    ));
    let mut fds = Vec::new();
    for (fd, mut sub) in subs {
        let (totals, hist) = (totals.clone(), hist.clone());
        lp.submit_multi_with(RecvMulti::new(fd.as_raw_fd()), move |_, item| {
            let Ok(Some(data)) = item else {
                if !totals.done.load(Ordering::Relaxed) {
                    totals.errors.fetch_add(1, Ordering::Relaxed);
                }
                return;
            };
            sub.buf.extend_from_slice(&data);
            while let Ok(Some(v)) = sub.dec.decode(&mut sub.buf) {
                let (Value::Array(items) | Value::Push(items)) = v else {
                    continue;
                };
                let Some(Value::Bulk(mut payload)) = items.into_iter().nth(2) else {
                    continue;
                };
                let now_ns = base.elapsed().as_nanos() as u64;
                let sent_ns = payload.get_u64_le();
                let seq = payload.get_u64_le();
                if seq != sub.next_seq {
                    totals.errors.fetch_add(1, Ordering::Relaxed);
                }
                sub.next_seq = seq + 1;
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
            .expect("loop turn");
    }
    drop(lp);
    drop(fds);
    std::rc::Rc::try_unwrap(hist)
        .map(|h| h.into_inner())
        .unwrap_or_else(|h| h.borrow().clone())
}
