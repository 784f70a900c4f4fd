//! A Redis-protocol broker for pub/sub and lists-as-job-queues, built from ringloop's parts.
//!
//! ```text
//! cargo run --release --example broker -- --port 6380
//! redis-cli -p 6380 LPUSH jobs a b c
//! ```
//!
//! Layers, bottom up: the loop drives the sockets; `net::Server` does accept, reads, write
//! queues, back-pressure and limits; `proto::resp` decodes requests and encodes replies;
//! `patterns::pubsub` does subscriptions and fan-out, `patterns::pushpull` the lists and their
//! blocking pops. What is left for this example is the Redis surface:
//!
//! * `config.rs` — flags, protected mode, `CONFIG GET/SET`;
//! * `service.rs` — the `net::Service`: clients, the command loop, serving blocked clients,
//!   moving messages to subscribers, timers;
//! * `client.rs` — one client's state and reply writers;
//! * `db.rs` — 16 databases of strings and lists (the lists are `Queues`);
//! * `commands/` — the command table and one file per family; `info.rs` — `INFO`.
//!
//! It prints `LISTENING addr` once it listens (use `--port 0` for any free port), and stats on
//! exit. SIGINT/SIGTERM: stop accepting, send what is owed, close, exit; SIGUSR1: print the loop's
//! stats.

#[path = "../shared/byte_size.rs"]
mod byte_size;
mod client;
mod commands;
mod config;
mod db;
#[path = "../shared/flags.rs"]
mod flags;
mod http;
mod info;
#[path = "../shared/process.rs"]
mod process;
mod service;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use process::{raise_fd_limit, say, Signal, Signals};
use ringloop::net::{listen, ListenOptions, Server, ServerOptions};
use ringloop::{EventLoop, LoopHandle};

use config::{parse_args, USAGE};
use service::{with_server, Broker, ServerCell};

/// How long a graceful shutdown may take before the remaining connections are dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The signal thread: SIGUSR1 prints the loop's stats, SIGINT/SIGTERM stop the loop (the main
/// thread then shuts the server down gracefully).
fn watch_signals(signals: Signals, handle: LoopHandle) {
    loop {
        match signals.next() {
            Signal::Report => {
                let _ = handle.post(|lp| say(&format!("STATS {}", lp.stats())));
            }
            Signal::Stop(sig) => {
                log::info!("signal {sig}: shutting down");
                let _ = handle.stop();
                return;
            }
        }
    }
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cfg = match parse_args(std::env::args().skip(1)) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = cfg.check_protected() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    let signals = Signals::block();
    raise_fd_limit();
    // The broker drives its loop with `run()` only, so deferred task work is safe, and in the
    // fan-out benchmarks it was the cheaper mode (BENCHMARKS.md).
    let mut lp = match EventLoop::builder()
        .backend(cfg.backend)
        .defer_taskrun(cfg.defer_taskrun)
        .build()
    {
        Ok(lp) => lp,
        Err(e) => {
            eprintln!(
                "error: cannot start the event loop ({:?}): {e}",
                cfg.backend
            );
            std::process::exit(1);
        }
    };
    let listener = match listen(cfg.addr(), ListenOptions::default()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", cfg.addr());
            std::process::exit(1);
        }
    };
    let laddr = listener.local_addr().ok().and_then(|a| a.as_socket());
    let backend = lp.backend().to_string();
    log::info!(
        "broker on {} — backend: {backend}",
        laddr.map_or_else(|| cfg.addr().to_string(), |a| a.to_string())
    );
    let options = ServerOptions {
        // maxclients is the service's check (it can change with CONFIG SET and must answer
        // with Redis's error first); the server's own limit stays out of the way.
        max_conns: usize::MAX,
        high_water: service::HIGH_WATER,
        ..ServerOptions::default()
    };
    let cell: ServerCell = Rc::new(RefCell::new(None));
    let http_cfg = cfg.http_addr();
    let broker = Broker::new(cfg, laddr, backend, cell.clone());
    let server = Server::start(&mut lp, listener, broker, options);
    *cell.borrow_mut() = Some(server.clone());
    // The HTTP front is another listener of the same server: one table, one state.
    let http_addr = match http_cfg {
        Some(addr) => match listen(addr, ListenOptions::default()) {
            Ok(socket) => {
                let local = socket.local_addr().ok().and_then(|a| a.as_socket());
                let lid = server.add_listener(&mut lp, socket);
                server.call(&mut lp, |b, _| b.st.http.listener = Some(lid));
                local
            }
            Err(e) => {
                eprintln!(
                    "error: cannot listen on {addr} for HTTP: {e}
                     (choose another port with --http-port N, or turn HTTP off with --http-port off)"
                );
                std::process::exit(1);
            }
        },
        None => None,
    };
    // Once a second, like Redis's serverCron: idle timeouts.
    let cron_cell = cell.clone();
    let cron = lp.timer_repeat(Duration::from_secs(1), move |lp| {
        with_server(&cron_cell, lp, |b, cx| b.cron(cx))
    });

    if let Some(addr) = http_addr {
        log::info!("HTTP front on http://{addr}/ (polling, long polling, SSE, queues, /stats)");
        say(&format!("HTTP LISTENING {addr}"));
    }
    if let Some(addr) = laddr {
        say(&format!("LISTENING {addr}"));
    }
    let handle = lp.handle();
    std::thread::spawn(move || watch_signals(signals, handle));

    let result = lp.run();
    if let Err(e) = &result {
        eprintln!("error: event loop: {e}");
    }

    // Graceful shutdown: no new connections, every open one gets what it is owed, then closes.
    lp.cancel_timer(cron);
    let open = server.conn_count();
    server.shutdown(&mut lp);
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while server.conn_count() > 0 && Instant::now() < deadline {
        if let Err(e) = lp.run_once(Some(Duration::from_millis(50))) {
            eprintln!("error: event loop: {e}");
            break;
        }
    }
    // Let the listener's close and the cancelled accept complete, so the loop ends clean.
    let drain_until = Instant::now() + Duration::from_millis(200);
    while lp.stats().in_flight > 0 && Instant::now() < drain_until {
        if lp.run_once(Some(Duration::from_millis(10))).is_err() {
            break;
        }
    }
    let stats = server.call(&mut lp, |b, _| b.st.stats);
    say(&format!(
        "STATS connections={} open_at_shutdown={open} commands={} published={} \
         blocked_served={} blocked_timeouts={} evicted_subscribers={} protocol_errors={} {}",
        stats.connections,
        stats.commands,
        stats.published,
        stats.blocked_served,
        stats.blocked_timeouts,
        stats.evicted_subscribers,
        stats.protocol_errors,
        lp.stats()
    ));
    // Timer callbacks hold the cell; clearing it breaks the cycle server -> broker -> cell.
    cell.borrow_mut().take();
    std::process::exit(if result.is_ok() { 0 } else { 1 });
}
