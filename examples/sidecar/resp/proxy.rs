//! [`Proxy`]: the RESP mode's state, and the `net::Service` that feeds it client bytes.
//!
//! The downstream side is an ordinary `net::Server` (accept, reads, write queues, back-pressure,
//! limits); the upstream side is the sidecar's own [`Link`](crate::link::Link)s on pooled
//! connections. Every event from an upstream socket, a timer or the pool enters through
//! [`with_server`], i.e. `Server::call`, so the proxy is always reached through the server with a
//! `Ctx` in hand to answer clients. The work is split by subject:
//!
//! * `dispatch.rs`: a client's command — answered here, refused, sent on a lane, or on a
//!   dedicated connection;
//! * `conns.rs`: upstream connections — checkouts, replies, failures, timeouts, release;
//! * this file: the state, the service callbacks, and giving a client what it is owed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use bytes::BytesMut;
use ringloop::net::{CloseReason, ConnId, Ctx, Server, Service};
use ringloop::patterns::pool::Pool;
use ringloop::EventLoop;

use super::client::Client;
use super::lane::{Lane, LaneState};
use super::upstream::Upstreams;
use crate::config::Config;
use crate::health::Health;
use crate::stats::Counters;

/// The server running the proxy, reachable from callbacks (set once the server exists).
pub type ServerCell = Rc<RefCell<Option<Server<Proxy>>>>;

/// Runs `f` with the proxy and a `Ctx`, if the server still exists.
pub fn with_server<R>(
    cell: &ServerCell,
    lp: &mut EventLoop,
    f: impl FnOnce(&mut Proxy, &mut Ctx<'_, Client>) -> R,
) -> Option<R> {
    // Clone the handle first: the cell must not stay borrowed while the proxy runs.
    let server = cell.borrow().clone()?;
    Some(server.call(lp, f))
}

/// The RESP mode's state.
pub struct Proxy {
    pub cfg: Rc<Config>,
    pub pool: Pool,
    pub health: Health,
    pub counters: Counters,
    pub ups: Upstreams,
    pub lanes: HashMap<Lane, LaneState>,
    /// Requests sent (or queued) upstream and not yet answered, blocking ones excepted: what
    /// `--max-pending` limits.
    pub in_flight: usize,
    /// Shutting down: clients are closed as soon as they are owed nothing.
    pub draining: bool,
    pub cell: ServerCell,
}

impl Proxy {
    pub fn new(cfg: Rc<Config>, pool: Pool, cell: ServerCell) -> Proxy {
        Proxy {
            health: Health::new(cfg.down_after, cfg.down_retry),
            cfg,
            pool,
            counters: Counters::default(),
            ups: Upstreams::default(),
            lanes: HashMap::new(),
            in_flight: 0,
            draining: false,
            cell,
        }
    }

    /// Sends `client` every reply now due, in order, and closes it once it is owed nothing after
    /// a `QUIT` (or a fatal error), or while the sidecar drains.
    pub fn deliver(&mut self, cx: &mut Ctx<'_, Client>, client: &mut Client) {
        let Some(id) = client.id else {
            return;
        };
        let mut out = Vec::new();
        client.replies.take(&mut out);
        for reply in out {
            cx.send(id, reply);
        }
        let owes_nothing =
            client.replies.settled() && client.held.is_empty() && !client.must_hold();
        if owes_nothing && client.quit {
            cx.close_after_flush(id, CloseReason::Service("QUIT".into()));
        } else if owes_nothing && self.draining {
            cx.close_after_flush(id, CloseReason::Shutdown);
        }
    }

    /// Runs `f` on client `id` taken out of the server's table (so `f` can use the `Ctx` and the
    /// client at once), then delivers its replies and puts it back. `None` if it is gone, or is
    /// the client being served right now (whose state the server has lent out).
    pub fn with_client<R>(
        &mut self,
        cx: &mut Ctx<'_, Client>,
        id: ConnId,
        f: impl FnOnce(&mut Proxy, &mut Ctx<'_, Client>, &mut Client) -> R,
    ) -> Option<R> {
        let mut client = std::mem::take(cx.conn_mut(id)?);
        let r = f(self, cx, &mut client);
        self.drain_held(cx, &mut client);
        self.deliver(cx, &mut client);
        if let Some(slot) = cx.conn_mut(id) {
            *slot = client;
        }
        Some(r)
    }
}

impl Service for Proxy {
    type Conn = Client;

    fn open(&mut self, _cx: &mut Ctx<'_, Client>, id: ConnId) -> Client {
        self.counters.clients += 1;
        self.counters.open += 1;
        Client::new(id)
    }

    fn data(
        &mut self,
        cx: &mut Ctx<'_, Client>,
        _id: ConnId,
        client: &mut Client,
        input: &mut BytesMut,
    ) {
        while !client.quit {
            match client.decoder.decode(input) {
                Ok(Some(cmd)) => {
                    self.counters.requests += 1;
                    self.submit(cx, client, cmd);
                }
                Ok(None) => break,
                Err(e) => {
                    // Not RESP: answer as Redis does and close once earlier replies are out.
                    let mut out = BytesMut::new();
                    e.write_reply(&mut out);
                    client.replies.ready(out.freeze());
                    client.quit = true;
                }
            }
        }
        if client.quit {
            // Redis ignores whatever follows a QUIT; so do we.
            input.clear();
        }
        self.deliver(cx, client);
    }

    fn closed(
        &mut self,
        cx: &mut Ctx<'_, Client>,
        _id: ConnId,
        client: Client,
        _reason: &CloseReason,
    ) {
        self.counters.open = self.counters.open.saturating_sub(1);
        if let Some(uid) = client.pinned() {
            self.abandon(cx, uid);
        }
        // A dedicated checkout still under way finds the client gone and returns the connection.
    }
}
