//! A sidecar proxy: runs beside a service as its local proxy, holding a pool of warm connections
//! to it, built from ringloop's parts.
//!
//! ```text
//! cargo run --release --example broker                    # the service, on 127.0.0.1:6380
//! cargo run --release --example sidecar -- --upstream 127.0.0.1:6380 --listen 127.0.0.1:6390
//! redis-cli -p 6390 SET k v
//! ```
//!
//! Two modes:
//!
//! * `--mode tcp` (`tcp.rs`): each client paired with its own pooled upstream connection, bytes
//!   copied both ways with back-pressure and half-close;
//! * `--mode resp` (`resp/`): Redis-protocol clients multiplexed onto a few shared connections
//!   per (protocol, db) lane, replies handed back in order; pub/sub, blocking commands and
//!   transactions get a dedicated connection.
//!
//! Shared pieces: `link.rs` (a socket on raw ops: write queue, read gate, quiet before close),
//! `health.rs` (down after N connect failures), `stats.rs`, `config.rs` (flags). The pool is
//! `ringloop::patterns::pool`.
//!
//! It prints `LISTENING addr` once it listens (use port 0 for any free port). SIGINT/SIGTERM:
//! stop accepting, let in-flight requests finish (up to `--grace`), close, print stats; SIGUSR1:
//! print the sidecar's, the pool's and the loop's stats. A stats line is also logged every
//! `--stats-interval`.

#[path = "../shared/byte_size.rs"]
mod byte_size;
mod config;
#[path = "../shared/flags.rs"]
mod flags;
mod health;
mod link;
#[path = "../shared/process.rs"]
mod process;
mod resp;
mod stats;
mod tcp;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use process::{raise_fd_limit, say, Signal, Signals};
use ringloop::net::{listen, ListenOptions};
use ringloop::op::RecvMulti;
use ringloop::patterns::pool::{Pool, PoolConfig};
use ringloop::{EventLoop, LoopHandle};
use socket2::Socket;

use config::{parse_args, Config, Mode, USAGE};
use resp::Resp;
use tcp::Tcp;

/// The running proxy, whichever the mode.
enum Front {
    Tcp(Tcp),
    Resp(Resp),
}

impl Front {
    fn start(lp: &mut EventLoop, listener: Socket, pool: Pool, cfg: Rc<Config>) -> Front {
        match cfg.mode {
            Mode::Tcp => Front::Tcp(Tcp::start(lp, listener, pool, cfg)),
            Mode::Resp => Front::Resp(Resp::start(lp, listener, pool, cfg)),
        }
    }

    fn drain(&self, lp: &mut EventLoop) {
        match self {
            Front::Tcp(t) => t.drain(lp),
            Front::Resp(r) => r.drain(lp),
        }
    }

    fn close_all(&self, lp: &mut EventLoop) {
        match self {
            Front::Tcp(t) => t.close_all(lp),
            Front::Resp(r) => r.close_all(lp),
        }
    }

    fn open(&self) -> usize {
        match self {
            Front::Tcp(t) => t.open(),
            Front::Resp(r) => r.open(),
        }
    }

    fn report(&self, lp: &mut EventLoop) -> String {
        match self {
            Front::Tcp(t) => t.report(),
            Front::Resp(r) => r.report(lp),
        }
    }
}

/// The three stats lines: the sidecar's, the pool's, the loop's.
fn report(front: &Front, pool: &Pool, lp: &mut EventLoop) -> [String; 3] {
    [
        front.report(lp),
        stats::pool_line(&pool.stats()),
        format!("loop {}", lp.stats()),
    ]
}

/// The signal thread: SIGUSR1 pokes the loop through `poke` (the loop prints the stats: the
/// state lives on the loop's thread), SIGINT/SIGTERM stop the loop (the main thread then drains).
fn watch_signals(signals: Signals, handle: LoopHandle, mut poke: UnixStream) {
    loop {
        match signals.next() {
            Signal::Report => {
                let _ = poke.write_all(b"!");
            }
            Signal::Stop(sig) => {
                log::info!("signal {sig}: draining");
                let _ = handle.stop();
                return;
            }
        }
    }
}

fn pool_config(cfg: &Config) -> PoolConfig {
    let mut pc = PoolConfig::new(cfg.upstream);
    pc.max_size = cfg.pool_size;
    // TCP mode takes a fresh connection per client: keep the whole pool warm so no client waits
    // for a connect. RESP mode needs about one lane's worth at first.
    pc.min_idle = match cfg.mode {
        Mode::Tcp => cfg.pool_size,
        Mode::Resp => cfg.lane_conns.min(cfg.pool_size),
    };
    pc.connect_timeout = cfg.connect_timeout;
    pc.checkout_timeout = cfg.checkout_timeout;
    // The pool's own reconnect backoff must not outlast our retry of a down upstream.
    pc.backoff_max = cfg.down_retry.max(Duration::from_millis(10));
    pc.backoff_base = pc.backoff_base.min(pc.backoff_max);
    pc
}

fn fail(msg: String) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cfg = match parse_args(std::env::args().skip(1)) {
        Ok(cfg) => Rc::new(cfg),
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let signals = Signals::block();
    raise_fd_limit();
    let mut lp = EventLoop::builder()
        .backend(cfg.backend)
        .build()
        .unwrap_or_else(|e| {
            fail(format!(
                "cannot start the event loop ({:?}): {e}",
                cfg.backend
            ))
        });
    let listener = listen(cfg.listen, ListenOptions::default())
        .unwrap_or_else(|e| fail(format!("cannot listen on {}: {e}", cfg.listen)));
    let laddr = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or(cfg.listen);
    log::info!(
        "sidecar on {laddr} -> {} ({:?} mode, pool of {}) — backend: {}",
        cfg.upstream,
        cfg.mode,
        cfg.pool_size,
        lp.backend()
    );
    let pool = Pool::new(&mut lp, pool_config(&cfg));
    let front = Rc::new(Front::start(&mut lp, listener, pool.clone(), cfg.clone()));

    // SIGUSR1 arrives on another thread; a byte on this socket pair brings it to the loop.
    let (poke_rx, poke_tx) =
        UnixStream::pair().unwrap_or_else(|e| fail(format!("socketpair: {e}")));
    let _ = poke_rx.set_nonblocking(true);
    let (f, p) = (front.clone(), pool.clone());
    let poke_op = lp.submit_multi_with(RecvMulti::new(poke_rx.as_raw_fd()), move |lp, item| {
        if let Ok(Some(_)) = item {
            for line in report(&f, &p, lp) {
                say(&format!("STATS {line}"));
            }
        }
    });
    let stats_timer = cfg.stats_interval.map(|every| {
        let (f, p) = (front.clone(), pool.clone());
        lp.timer_repeat(every, move |lp| {
            for line in report(&f, &p, lp) {
                log::info!("stats {line}");
            }
        })
    });

    say(&format!("LISTENING {laddr}"));
    let handle = lp.handle();
    std::thread::spawn(move || watch_signals(signals, handle, poke_tx));

    let result = lp.run();
    if let Err(e) = &result {
        eprintln!("error: event loop: {e}");
    }

    // Graceful drain: no new clients; in-flight requests finish, up to the grace period.
    front.drain(&mut lp);
    let deadline = Instant::now() + cfg.grace;
    while front.open() > 0 && Instant::now() < deadline {
        if lp.run_once(Some(Duration::from_millis(20))).is_err() {
            break;
        }
    }
    let left = front.open();
    front.close_all(&mut lp);
    let until = Instant::now() + Duration::from_secs(1);
    while front.open() > 0 && Instant::now() < until {
        if lp.run_once(Some(Duration::from_millis(10))).is_err() {
            break;
        }
    }
    let [sidecar, pool_stats, loop_stats] = report(&front, &pool, &mut lp);
    say(&format!("STATS {sidecar} open_after_grace={left}"));
    say(&format!("STATS {pool_stats}"));
    say(&format!("STATS {loop_stats}"));

    if let Front::Resp(r) = &*front {
        r.stop(&mut lp);
    }
    if let Some(t) = stats_timer {
        lp.cancel_timer(t);
    }
    lp.cancel(poke_op);
    pool.close(&mut lp);
    // Let the closes and cancels complete, so the loop ends clean.
    let until = Instant::now() + Duration::from_millis(200);
    while lp.stats().in_flight > 0 && Instant::now() < until {
        if lp.run_once(Some(Duration::from_millis(10))).is_err() {
            break;
        }
    }
    drop(poke_rx);
    std::process::exit(if result.is_ok() { 0 } else { 1 });
}
