//! One client command, from decoded to on its way: answered here, refused, sent on a shared
//! connection of the client's lane, or sent on the client's dedicated connection.
//!
//! * **Shared** requests are admitted (upstream not down, fewer than `--max-pending` in flight),
//!   given a reply slot and a deadline, and pipelined on the least busy connection of the lane.
//! * **`SELECT` / `HELLO`** from a client on shared connections are sent on a connection of its
//!   current lane *followed by the command that undoes them*, so the shared connection ends where
//!   it was while the client gets exactly the upstream's answer (a bad db index, `NOPROTO`...).
//!   Until that answer comes, the client's later commands are held: the answer decides which
//!   lane they go to.
//! * **Blocking, pub/sub and transaction** commands pin the client to a dedicated connection
//!   (checked out for it, switched to its lane). Once pinned, everything the client sends goes
//!   there, in order; a blocking command gets a deadline of its own timeout plus
//!   `--request-timeout` (none if it waits for ever); the connection is given back when nothing
//!   is pending, no transaction or `WATCH` is open and the client is not subscribed. While it
//!   is subscribed, every frame from it is forwarded as it comes, until its last subscription
//!   is gone (`stream.rs`).

use std::time::Instant;

use bytes::Bytes;
use ringloop::net::Ctx;
use ringloop::proto::resp::Command;

use super::client::{Client, Pin};
use super::lane::{command, Lane};
use super::local;
use super::proxy::Proxy;
use super::route::{route, Local, Route};
use super::upstream::{Kind, Pending, Track, UpId};

impl Proxy {
    /// A command arrived from `client`.
    pub fn submit(&mut self, cx: &mut Ctx<'_, Client>, client: &mut Client, cmd: Command) {
        if client.must_hold() {
            client.held.push_back(cmd);
        } else {
            self.dispatch(cx, client, cmd);
        }
    }

    /// Dispatches held commands while nothing holds them back any more.
    pub fn drain_held(&mut self, cx: &mut Ctx<'_, Client>, client: &mut Client) {
        while !client.must_hold() && !client.quit {
            let Some(cmd) = client.held.pop_front() else {
                return;
            };
            self.dispatch(cx, client, cmd);
        }
    }

    fn dispatch(&mut self, cx: &mut Ctx<'_, Client>, client: &mut Client, cmd: Command) {
        if self.draining && !client.replies.has_stream() {
            self.counters.local += 1;
            client
                .replies
                .ready(local::error("ERR the sidecar is shutting down"));
            return;
        }
        match client.pinned() {
            Some(uid) => self.dispatch_pinned(cx, client, uid, cmd),
            None => self.dispatch_shared(cx, client, cmd),
        }
    }

    fn dispatch_shared(&mut self, cx: &mut Ctx<'_, Client>, client: &mut Client, cmd: Command) {
        match route(&cmd) {
            Route::Shared => {
                let Some(pending) = self.admit(client, true) else {
                    return;
                };
                self.lane_send(cx, client, vec![(command(cmd.args()), pending)]);
            }
            Route::Blocking(_) | Route::Subscribe | Route::Transaction => {
                if let Some(text) = self.health.down(Instant::now()) {
                    self.counters.rejected_down += 1;
                    client.replies.ready(local::error(&text));
                    return;
                }
                // Held with everything after it until the connection is there.
                client.pin = Pin::Waiting;
                client.held.push_front(cmd);
                self.checkout_dedicated(cx, client);
            }
            Route::Select(db) => {
                let lane = db.map(|db| Lane { db, ..client.lane });
                let undo = command(&[b"SELECT".as_slice(), client.lane.db.to_string().as_bytes()]);
                self.switch(cx, client, command(cmd.args()), undo, lane, None);
            }
            Route::Hello {
                forward,
                proto,
                name,
            } => {
                let lane = proto.map(|proto| Lane {
                    proto,
                    ..client.lane
                });
                let cur = client.lane.proto.version().to_string();
                let undo = command(&[b"HELLO".as_slice(), cur.as_bytes()]);
                self.switch(cx, client, command(&forward), undo, lane, name);
            }
            Route::Local(l) => self.local(client, l),
            Route::Refuse(text) => self.refuse(client, &text),
        }
    }

    fn dispatch_pinned(
        &mut self,
        cx: &mut Ctx<'_, Client>,
        client: &mut Client,
        uid: UpId,
        cmd: Command,
    ) {
        let Some(up) = self.ups.get(uid) else {
            // Cannot happen: a connection that goes away unpins its client first.
            client.pin = Pin::None;
            return self.dispatch_shared(cx, client, cmd);
        };
        let bytes = command(cmd.args());
        if up.passthrough {
            // Subscribed: everything goes up, everything that comes back is forwarded as is. A
            // command that changes the connection's state goes up untracked: the stream can
            // then not end before the client leaves (`stream.rs`).
            let tracked = matches!(
                route(&cmd),
                Route::Shared
                    | Route::Blocking(_)
                    | Route::Subscribe
                    | Route::Local(Local::Unsubscribe { .. })
            ) && !cmd.is("monitor");
            if let Some(up) = self.ups.get_mut(uid) {
                up.subs.sticky |= !tracked;
            }
            self.counters.forwarded += 1;
            return self.send_to(cx, uid, bytes, None);
        }
        let in_multi = up.in_multi;
        let kind = match route(&cmd) {
            Route::Subscribe => {
                if let Some(up) = self.ups.get_mut(uid) {
                    up.passthrough = true;
                    up.subs.sticky |= cmd.is("monitor");
                }
                client.replies.open_stream();
                self.counters.forwarded += 1;
                return self.send_to(cx, uid, bytes, None);
            }
            Route::Local(Local::Reset) => Kind::Track(Track::Reset),
            Route::Local(l) => return self.local(client, l),
            Route::Refuse(text) => return self.refuse(client, &text),
            Route::Select(_) | Route::Hello { .. } if in_multi => {
                return self.refuse(
                    client,
                    "ERR SELECT and HELLO inside MULTI are not supported through the sidecar proxy",
                )
            }
            Route::Select(db) => Kind::Track(Track::Select(db)),
            Route::Hello {
                forward,
                proto,
                name,
            } => {
                let lane = Lane {
                    proto: proto.unwrap_or(client.lane.proto),
                    db: client.lane.db,
                };
                let pending = self.admit(client, true);
                if let Some(mut p) = pending {
                    p.kind = Kind::Track(Track::Hello(lane, name));
                    self.counters.forwarded += 1;
                    self.send_to(cx, uid, command(&forward), Some(p));
                }
                return;
            }
            Route::Transaction if cmd.is("multi") => Kind::Track(Track::Multi),
            Route::Transaction => Kind::Track(Track::Watch),
            Route::Blocking(own) => {
                let seq = client.replies.reserve();
                // Its own timeout plus the usual grace: an upstream that stays silent past that
                // is treated like one that does not answer a plain request.
                let deadline = own
                    .zip(self.cfg.request_timeout)
                    .map(|(own, grace)| Instant::now() + own + grace);
                let p = Pending {
                    to: client.id.map(|id| (id, seq)),
                    kind: Kind::Reply,
                    deadline,
                    counted: false,
                    on_lane: false,
                };
                self.counters.forwarded += 1;
                return self.send_to(cx, uid, bytes, Some(p));
            }
            Route::Shared if cmd.is("exec") || cmd.is("discard") => Kind::Track(Track::EndMulti),
            Route::Shared if cmd.is("unwatch") => Kind::Track(Track::Unwatch),
            Route::Shared => Kind::Reply,
        };
        if let Some(mut p) = self.admit(client, true) {
            p.kind = kind;
            self.counters.forwarded += 1;
            self.send_to(cx, uid, bytes, Some(p));
        }
    }

    /// `SELECT` / `HELLO` on shared connections: the command and its undo, back to back on one
    /// connection of the current lane; later commands wait for the answer.
    fn switch(
        &mut self,
        cx: &mut Ctx<'_, Client>,
        client: &mut Client,
        cmd: Bytes,
        undo: Bytes,
        lane: Option<Lane>,
        name: Option<Bytes>,
    ) {
        let Some(mut p) = self.admit(client, true) else {
            return;
        };
        p.kind = Kind::Switch { lane, name };
        client.switching = true;
        self.lane_send(cx, client, vec![(cmd, p), (undo, Pending::internal())]);
    }

    /// Admission: the upstream is not down and the circuit breaker is closed. Returns the
    /// pending entry (slot reserved, deadline set, counted), or answers the error itself.
    fn admit(&mut self, client: &mut Client, counted: bool) -> Option<Pending> {
        let now = Instant::now();
        if let Some(text) = self.health.down(now) {
            self.counters.rejected_down += 1;
            client.replies.ready(local::error(&text));
            return None;
        }
        if counted && self.cfg.max_pending > 0 && self.in_flight >= self.cfg.max_pending {
            self.counters.rejected_pending += 1;
            client.replies.ready(local::error(&format!(
                "ERR sidecar: too many requests pending upstream (max-pending {})",
                self.cfg.max_pending
            )));
            return None;
        }
        let seq = client.replies.reserve();
        if counted {
            self.in_flight += 1;
        }
        Some(Pending {
            to: client.id.map(|id| (id, seq)),
            kind: Kind::Reply,
            deadline: self.cfg.request_timeout.map(|t| now + t),
            counted,
            on_lane: false,
        })
    }

    fn local(&mut self, client: &mut Client, l: Local) {
        self.counters.local += 1;
        let reply = local::answer(l, client);
        client.replies.ready(reply);
    }

    fn refuse(&mut self, client: &mut Client, text: &str) {
        self.counters.unsupported += 1;
        client.replies.ready(local::error(text));
    }

    /// Sends on a connection (`pending`: what its reply is for; `None` for a subscribed
    /// connection, whose output is not matched to requests).
    fn send_to(
        &mut self,
        cx: &mut Ctx<'_, Client>,
        uid: UpId,
        bytes: Bytes,
        pending: Option<Pending>,
    ) {
        let Some(up) = self.ups.get_mut(uid) else {
            return;
        };
        match pending {
            Some(p) => up.send(bytes, p),
            None => up.link.queue(bytes),
        }
        self.flush_up(cx.lp(), uid);
    }
}
