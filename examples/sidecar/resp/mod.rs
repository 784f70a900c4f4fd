//! RESP mode, like twemproxy: many Redis-protocol clients multiplexed onto a few upstream
//! connections, each request framed and pipelined upstream, each reply framed and handed back
//! to its client in order.
//!
//! Files, one job each:
//!
//! * `route.rs` — what a command needs (shared, blocking, pub/sub, transaction, a lane switch,
//!   a local answer, a refusal);
//! * `client.rs` — a client's state and its replies in request order;
//! * `lane.rs` — lanes: shared connections per (protocol, db);
//! * `upstream.rs` — one upstream connection and its pending requests;
//! * `dispatch.rs` — a client command on its way; `conns.rs` — upstream connections from
//!   checkout to return; `stream.rs` — a subscribed connection, until its last subscription
//!   goes; `local.rs` — the answers given here; `proxy.rs` — the state and the `net::Service`.
//!
//! What is answered here and what is refused, and why, is listed on [`route::Route`] and
//! [`route::Local`]; the lane and dedicated-connection rules are in `dispatch.rs`.

mod client;
mod conns;
mod dispatch;
mod lane;
mod local;
mod proxy;
mod route;
mod stream;
mod upstream;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::net::{Server, ServerOptions};
use ringloop::patterns::pool::Pool;
use ringloop::{EventLoop, TimerId};
use socket2::Socket;

use crate::config::Config;
use proxy::{with_server, Proxy, ServerCell};

/// The RESP-mode proxy (its server, and the timer that checks deadlines).
pub struct Resp {
    server: Server<Proxy>,
    cell: ServerCell,
    tick: TimerId,
}

impl Resp {
    /// Starts serving clients on `listener`, with upstream connections from `pool`.
    pub fn start(lp: &mut EventLoop, listener: Socket, pool: Pool, cfg: Rc<Config>) -> Resp {
        let cell: ServerCell = Rc::new(RefCell::new(None));
        let options = ServerOptions {
            high_water: cfg.high_water,
            max_conns: cfg.maxclients,
            ..ServerOptions::default()
        };
        // Deadlines are checked a few times per timeout, so a request waits at most ~1.25x it.
        let period = cfg
            .request_timeout
            .map_or(Duration::from_millis(250), |t| t / 4)
            .clamp(Duration::from_millis(2), Duration::from_millis(250));
        let proxy = Proxy::new(cfg, pool, cell.clone());
        let server = Server::start(lp, listener, proxy, options);
        *cell.borrow_mut() = Some(server.clone());
        let tick_cell = cell.clone();
        let tick = lp.timer_repeat(period, move |lp| {
            with_server(&tick_cell, lp, |p, cx| p.tick(cx));
        });
        Resp { server, cell, tick }
    }

    /// Graceful drain: stop accepting; each client is closed once it has every reply it is owed
    /// (new commands meanwhile get an error).
    pub fn drain(&self, lp: &mut EventLoop) {
        self.server.stop_accepting(lp);
        self.server.call(lp, |p, cx| {
            p.draining = true;
            for id in cx.conn_ids() {
                p.with_client(cx, id, |_, _, _| {});
            }
        });
    }

    /// The grace period is over: close every client after what is queued for it.
    pub fn close_all(&self, lp: &mut EventLoop) {
        self.server.shutdown(lp);
    }

    /// Clients still connected.
    pub fn open(&self) -> usize {
        self.server.conn_count()
    }

    /// The stats line.
    pub fn report(&self, lp: &mut EventLoop) -> String {
        self.server.call(lp, |p, _| {
            p.counters.line(
                "resp",
                p.in_flight,
                p.ups.len(),
                p.ups.pinned(),
                p.health.is_down(Instant::now()),
            )
        })
    }

    /// Stops the timer and breaks the server <-> proxy reference cycle (at exit).
    pub fn stop(&self, lp: &mut EventLoop) {
        lp.cancel_timer(self.tick);
        self.cell.borrow_mut().take();
    }
}
