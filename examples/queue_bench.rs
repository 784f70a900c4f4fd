//! `queue_bench` — job hand-off benchmark for any Redis-protocol server (the ringloop broker,
//! Redis): one producer `LPUSH`es jobs (pipelined), K consumers take them with `BRPOP`.
//!
//! Every job carries its push time and a sequence number: the benchmark reports jobs/s, the
//! push-to-pop latency (hdrhistogram), the server's CPU per job (with `--server-pid`), and checks
//! that every job was delivered exactly once (lost or duplicated jobs are errors).
//!
//! ```text
//! cargo run --release --example queue_bench -- --port 6380 --consumers 4 --jobs 100000
//! ```

#[path = "shared/process.rs"]
mod process;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use hdrhistogram::Histogram;
use process::{cpu_ticks, cpu_us_per};
use ringloop::proto::resp::{self, ReplyDecoder, Value};

const USAGE: &str = "\
queue_bench: LPUSH producer, BRPOP consumers, over RESP

USAGE: queue_bench [OPTIONS]

OPTIONS:
  --host IP          server address                       [default: 127.0.0.1]
  --port N           server port                          [default: 6380]
  --consumers N      BRPOP connections                    [default: 4]
  --jobs N           jobs to push                         [default: 100000]
  --size BYTES       job size (at least 16)               [default: 64]
  --pipeline N       LPUSH commands per batch             [default: 16]
  --queue NAME       list key                             [default: bench:jobs]
  --server-pid PID   measure the server's CPU time per job
  -h, --help         this text";

/// One request as RESP bytes (the crate's own client-side encoder).
fn command(args: &[&[u8]]) -> BytesMut {
    let mut out = BytesMut::new();
    resp::write_command(&mut out, args);
    out
}

/// A blocking RESP connection: send commands, read whole replies.
struct Conn {
    s: TcpStream,
    buf: BytesMut,
    dec: ReplyDecoder,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_nodelay(true).ok();
        Conn {
            s,
            buf: BytesMut::new(),
            dec: ReplyDecoder::new(),
        }
    }
    fn reply(&mut self) -> Value {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(v) = self.dec.decode(&mut self.buf).expect("valid reply") {
                return v;
            }
            let n = self.s.read(&mut chunk).expect("read reply");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn main() {
    let (mut host, mut port) = ("127.0.0.1".to_string(), 6380u16);
    let (mut consumers, mut jobs, mut size, mut pipeline) = (4usize, 100_000u64, 64usize, 16usize);
    let (mut queue, mut server_pid) = ("bench:jobs".to_string(), None::<u32>);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            return;
        }
        let Some(v) = it.next() else {
            eprintln!("error: {flag} needs a value\n\n{USAGE}");
            std::process::exit(2);
        };
        let ok = match flag.as_str() {
            "--host" => {
                host = v.clone();
                true
            }
            "--port" => v.parse().map(|x| port = x).is_ok(),
            "--consumers" => v.parse().map(|x: usize| consumers = x.max(1)).is_ok(),
            "--jobs" => v.parse().map(|x| jobs = x).is_ok(),
            "--size" => v.parse().map(|x: usize| size = x.max(16)).is_ok(),
            "--pipeline" => v.parse().map(|x: usize| pipeline = x.max(1)).is_ok(),
            "--queue" => {
                queue = v.clone();
                true
            }
            "--server-pid" => v.parse().map(|x| server_pid = Some(x)).is_ok(),
            _ => false,
        };
        if !ok {
            eprintln!("error: bad option {flag} {v}\n\n{USAGE}");
            std::process::exit(2);
        }
    }
    let addr: SocketAddr = format!("{host}:{port}").parse().expect("address");
    let base = Instant::now();
    let taken = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(Mutex::new(vec![0u8; jobs as usize]));
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new(3).expect("histogram")));
    let mut setup = Conn::open(addr);
    setup
        .s
        .write_all(&command(&[b"DEL", queue.as_bytes()]))
        .unwrap();
    setup.reply();

    let threads: Vec<_> = (0..consumers)
        .map(|_| {
            let (taken, seen, hist, queue) =
                (taken.clone(), seen.clone(), hist.clone(), queue.clone());
            std::thread::spawn(move || {
                let mut c = Conn::open(addr);
                let mut local = Histogram::<u64>::new(3).expect("histogram");
                // BRPOP with a 1 s timeout, so consumers notice the end of the run.
                while taken.load(Ordering::Relaxed) < jobs {
                    c.s.write_all(&command(&[b"BRPOP", queue.as_bytes(), b"1"]))
                        .unwrap();
                    let Value::Array(items) = c.reply() else {
                        continue;
                    };
                    let Some(Value::Bulk(mut job)) = items.into_iter().nth(1) else {
                        continue;
                    };
                    let now = base.elapsed().as_nanos() as u64;
                    let sent = job.get_u64_le();
                    let seq = job.get_u64_le() as usize;
                    let _ = local.record(now.saturating_sub(sent).max(1));
                    if let Some(slot) = seen.lock().unwrap().get_mut(seq) {
                        *slot = slot.saturating_add(1);
                    }
                    taken.fetch_add(1, Ordering::Relaxed);
                }
                hist.lock()
                    .unwrap()
                    .add(&local)
                    .expect("same histogram bounds");
            })
        })
        .collect();

    let cpu0 = server_pid.and_then(cpu_ticks);
    let start = Instant::now();
    let mut producer = Conn::open(addr);
    let mut seq = 0u64;
    while seq < jobs {
        let batch = pipeline.min((jobs - seq) as usize);
        let mut out = BytesMut::new();
        for _ in 0..batch {
            let mut job = vec![b'j'; size];
            job[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_le_bytes());
            job[8..16].copy_from_slice(&seq.to_le_bytes());
            resp::write_command(&mut out, &[b"LPUSH", queue.as_bytes(), &job]);
            seq += 1;
        }
        producer.s.write_all(&out).expect("push");
        for _ in 0..batch {
            if let Value::Error(e) = producer.reply() {
                panic!("LPUSH failed: {e:?}");
            }
        }
    }
    for t in threads {
        t.join().expect("consumer");
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu1 = server_pid.and_then(cpu_ticks);
    let seen = seen.lock().unwrap();
    let lost = seen.iter().filter(|&&n| n == 0).count();
    let duplicated = seen.iter().filter(|&&n| n > 1).count();
    let h = hist.lock().unwrap();
    let q = |p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    let cpu = cpu_us_per(cpu0, cpu1, jobs);
    let errors = lost + duplicated;
    println!(
        "{jobs} jobs through {consumers} consumers in {secs:.2} s = {:.0} jobs/s; latency us p50={:.1} p99={:.1} p99.9={:.1}; lost {lost}, duplicated {duplicated}",
        jobs as f64 / secs,
        q(0.5),
        q(0.99),
        q(0.999)
    );
    println!(
        "RESULT consumers={consumers} jobs={jobs} size={size} pipeline={pipeline} secs={secs:.3} jobs_per_sec={:.0} p50_us={:.1} p99_us={:.1} p999_us={:.1} server_cpu_us_per_job={cpu} errors={errors}",
        jobs as f64 / secs,
        q(0.5),
        q(0.99),
        q(0.999)
    );
    std::process::exit(if errors == 0 { 0 } else { 1 });
}
