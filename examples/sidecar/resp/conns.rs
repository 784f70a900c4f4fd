//! Upstream connections in RESP mode, from checkout to return: getting one for a lane or a
//! client, reading its replies and handing each to the request it answers, failures, request
//! timeouts, and giving it back.
//!
//! * **Failure** (EOF, reset, a reply that is not RESP, an internal command refused): every
//!   request pending on the connection gets an error at once — never a hang — and the connection
//!   is closed as broken. A client pinned to it that had session state there (subscriptions, a
//!   transaction) is closed after that error, since the state is gone.
//! * **Request timeout**: when the oldest request on a connection is older than
//!   `--request-timeout`, it and everything behind it get `-ERR upstream timeout`, and the
//!   connection is closed: its reply stream is out of step for good. A blocking command's
//!   deadline is its own timeout plus `--request-timeout` (none if it waits for ever), and
//!   what is queued behind one on its dedicated connection has none of its own.
//! * **Return**: a shared connection idle for [`LANE_IDLE`], or a dedicated one the client no
//!   longer needs, is switched back to RESP2 / db 0 and checked in clean; one whose state is not
//!   known (mid-transaction, subscribed) is closed instead.
//! * Before a connection goes back or is closed, our ops on it must have ended (the pool closes
//!   with a plain `close`), so release waits for its [`Link`](crate::link::Link) to be quiet.

use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringloop::net::{Batch, ConnId, Ctx};
use ringloop::patterns::pool::{PoolError, PooledConn};
use ringloop::{EventLoop, PooledBuf};

use super::client::{Client, Pin};
use super::lane::{Lane, LaneState, Queued};
use super::local;
use super::proxy::{with_server, Proxy};
use super::upstream::{Kind, Life, Pending, Role, Track, UpId, Upstream};
use crate::link::Recv;

/// A shared connection with nothing to do for this long goes back to the pool.
pub const LANE_IDLE: Duration = Duration::from_secs(1);

/// A lane connection with more requests pending than this asks for another connection (up to
/// `--lane-conns`).
const GROW_AT: usize = 16;

/// Why a connection is given up, and what its pending requests are told.
#[derive(Clone, Copy, Debug)]
pub enum Failure {
    Lost,
    Timeout,
    OutOfStep,
    Protocol,
}

impl Failure {
    fn text(self) -> &'static str {
        match self {
            Failure::Lost => "ERR upstream connection lost",
            Failure::Timeout => "ERR upstream timeout",
            Failure::OutOfStep => {
                "ERR upstream connection out of step (an internal command failed)"
            }
            Failure::Protocol => "ERR upstream protocol error",
        }
    }
}

/// What a checkout is for.
#[derive(Clone, Copy, Debug)]
enum Purpose {
    Lane(Lane),
    Dedicated(ConnId),
}

impl Proxy {
    // ---- sending on a lane -------------------------------------------------------------------

    /// Sends a client's requests (kept together, in order) on a connection of its lane, or queues
    /// them until the lane has one.
    ///
    /// Replies are put back in order per client anyway, but *execution* order matters too (an
    /// `RPUSH` then an `LRANGE`): so while a client has requests outstanding on a connection, its
    /// next ones follow them there. Only a client with nothing outstanding moves to the least busy
    /// connection, which is where the balancing happens.
    pub fn lane_send(
        &mut self,
        cx: &mut Ctx<'_, Client>,
        client: &mut Client,
        reqs: Vec<(Bytes, Pending)>,
    ) {
        let lane = client.lane;
        let ups = &self.ups;
        let usable = |uid: UpId| {
            ups.get(uid)
                .filter(|u| u.life == Life::Open && u.role == Role::Lane(lane))
                .map(|u| (uid, u.pending.len()))
        };
        let st = self.lanes.entry(lane).or_default();
        let sticky = client
            .lane_conn
            .filter(|_| client.outstanding > 0)
            .and_then(usable);
        let best = sticky.or_else(|| {
            st.conns
                .iter()
                .filter_map(|&uid| usable(uid))
                .min_by_key(|&(_, n)| n)
        });
        let mut reqs = reqs;
        for (_, p) in &mut reqs {
            if p.to.is_some() {
                p.on_lane = true;
                client.outstanding += 1;
                self.counters.forwarded += 1;
            }
        }
        match best {
            Some((uid, busy)) => {
                client.lane_conn = Some(uid);
                if let Some(up) = self.ups.get_mut(uid) {
                    for (bytes, p) in reqs {
                        up.send(bytes, p);
                    }
                }
                self.flush_up(cx.lp(), uid);
                if busy >= GROW_AT {
                    self.grow(cx, lane);
                }
            }
            None => {
                // Everything waiting goes to the lane's first connection, in order.
                client.lane_conn = None;
                st.waiting.extend(
                    reqs.into_iter()
                        .map(|(bytes, pending)| Queued { bytes, pending }),
                );
                self.grow(cx, lane);
            }
        }
    }

    /// Asks the pool for one more connection for `lane`, if it may have one.
    fn grow(&mut self, cx: &mut Ctx<'_, Client>, lane: Lane) {
        let max = self.cfg.lane_conns;
        let st = self.lanes.entry(lane).or_default();
        let wanted =
            st.conns.len() + st.checkouts < max || (st.conns.is_empty() && st.checkouts == 0);
        if wanted {
            st.checkouts += 1;
            self.checkout(cx, Purpose::Lane(lane));
        }
    }

    /// Checks a connection out for a client that needs one of its own (`client.pin` is
    /// `Waiting`).
    pub fn checkout_dedicated(&mut self, cx: &mut Ctx<'_, Client>, client: &Client) {
        if let Some(id) = client.id {
            self.checkout(cx, Purpose::Dedicated(id));
        }
    }

    fn checkout(&mut self, cx: &mut Ctx<'_, Client>, purpose: Purpose) {
        let cell = self.cell.clone();
        self.pool.clone().checkout(cx.lp(), move |lp, res| {
            with_server(&cell, lp, |p, cx| p.on_checkout(cx, purpose, res));
        });
    }

    fn on_checkout(
        &mut self,
        cx: &mut Ctx<'_, Client>,
        purpose: Purpose,
        res: Result<PooledConn, PoolError>,
    ) {
        let now = Instant::now();
        if let Purpose::Lane(lane) = purpose {
            let st = self.lanes.entry(lane).or_default();
            st.checkouts = st.checkouts.saturating_sub(1);
        }
        let conn = match res {
            Ok(conn) => {
                self.health.connected();
                self.counters.checkouts += 1;
                conn
            }
            Err(e) => {
                if self.health.checkout_failed(&e, now) {
                    log::warn!("upstream {} marked down: {e}", self.cfg.upstream);
                }
                let text = self
                    .health
                    .down(now)
                    .unwrap_or_else(|| format!("ERR upstream unavailable: {e}"));
                return self.checkout_failed(cx, purpose, &text);
            }
        };
        match purpose {
            Purpose::Lane(lane) => self.lane_conn(cx, lane, conn),
            Purpose::Dedicated(id) => {
                let mut conn = Some(conn);
                self.with_client(cx, id, |p, cx, client| {
                    if client.pin == Pin::Waiting {
                        if let Some(conn) = conn.take() {
                            p.pin_conn(cx, client, conn);
                        }
                    }
                });
                if let Some(conn) = conn {
                    // The client left meanwhile: the connection was never used.
                    self.pool.checkin(cx.lp(), conn);
                }
            }
        }
    }

    fn checkout_failed(&mut self, cx: &mut Ctx<'_, Client>, purpose: Purpose, text: &str) {
        match purpose {
            Purpose::Lane(lane) => {
                let st = self.lanes.entry(lane).or_default();
                if !st.conns.is_empty() {
                    return; // the lane still works, only it did not grow
                }
                let waiting: Vec<_> = st.waiting.drain(..).collect();
                log::info!("no upstream connection for {lane:?}: {text}");
                for q in waiting {
                    if q.pending.to.is_some() {
                        self.counters.upstream_errors += 1;
                    }
                    self.resolve(cx, q.pending, local::error(text), false);
                }
            }
            Purpose::Dedicated(id) => {
                self.counters.upstream_errors += 1;
                self.with_client(cx, id, |_, _, client| {
                    client.pin = Pin::None;
                    // The command that wanted the connection gets the error; the ones after it
                    // are dispatched again (with_client does it).
                    if client.held.pop_front().is_some() {
                        client.replies.ready(local::error(text));
                    }
                });
            }
        }
    }

    /// `AUTH` for a connection just taken from the pool, with `--upstream-password` (sent every
    /// time: pooled connections may be new, and re-authenticating costs one reply). A refusal
    /// (wrong password) is an internal command failing: the connection is dropped, logged, and
    /// what waited on it gets an error.
    fn auth(&self) -> Option<bytes::Bytes> {
        let pass = self.cfg.upstream_password.as_deref()?;
        Some(super::lane::command(&[b"AUTH".as_slice(), pass.as_bytes()]))
    }

    /// A connection for `lane`: switch it into the lane, then give it what waits.
    fn lane_conn(&mut self, cx: &mut Ctx<'_, Client>, lane: Lane, conn: PooledConn) {
        let mut up = Upstream::new(conn, Role::Lane(lane), self.cfg.high_water);
        for cmd in self.auth().into_iter().chain(lane.setup()) {
            up.send(cmd, Pending::internal());
        }
        up.state = lane;
        let st = self.lanes.entry(lane).or_default();
        for q in st.waiting.drain(..) {
            up.send(q.bytes, q.pending);
        }
        let uid = self.ups.insert(up);
        st.conns.push(uid);
        self.start_up(cx.lp(), uid);
    }

    /// A dedicated connection for `client`: switch it into the client's lane and pin.
    fn pin_conn(&mut self, cx: &mut Ctx<'_, Client>, client: &mut Client, conn: PooledConn) {
        let Some(id) = client.id else {
            return;
        };
        self.counters.dedicated += 1;
        let mut up = Upstream::new(conn, Role::Dedicated(id), self.cfg.high_water);
        for cmd in self.auth().into_iter().chain(client.lane.setup()) {
            up.send(cmd, Pending::internal());
        }
        up.state = client.lane;
        let uid = self.ups.insert(up);
        client.pin = Pin::Pinned(uid);
        self.start_up(cx.lp(), uid);
        // The held commands (the one that asked for the connection first) go out when
        // `with_client` drains them.
    }

    // ---- driving the socket --------------------------------------------------------------

    fn start_up(&mut self, lp: &mut EventLoop, uid: UpId) {
        let Some(up) = self.ups.get_mut(uid) else {
            return;
        };
        let cell = self.cell.clone();
        up.link.start_recv(lp, move |lp, item| {
            with_server(&cell, lp, |p, cx| p.on_up_recv(cx, uid, item));
        });
        self.flush_up(lp, uid);
    }

    /// Sends what is queued on connection `uid`, if no send is in flight.
    pub fn flush_up(&mut self, lp: &mut EventLoop, uid: UpId) {
        let Some(up) = self.ups.get_mut(uid) else {
            return;
        };
        if up.life == Life::Dead {
            return;
        }
        let cell = self.cell.clone();
        up.link.flush(lp, move |lp, res, batch| {
            with_server(&cell, lp, |p, cx| p.on_up_sent(cx, uid, res, batch));
        });
    }

    fn on_up_sent(
        &mut self,
        cx: &mut Ctx<'_, Client>,
        uid: UpId,
        res: io::Result<usize>,
        batch: Batch,
    ) {
        let Some(up) = self.ups.get_mut(uid) else {
            return;
        };
        if let Err(e) = up.link.on_sent(res, batch) {
            log::debug!("upstream send failed: {e}");
            self.fail_up(cx, uid, Failure::Lost);
        } else {
            self.flush_up(cx.lp(), uid);
        }
        self.maybe_finish(cx.lp(), uid);
    }

    fn on_up_recv(
        &mut self,
        cx: &mut Ctx<'_, Client>,
        uid: UpId,
        item: io::Result<Option<PooledBuf>>,
    ) {
        let Some(up) = self.ups.get_mut(uid) else {
            return;
        };
        match up.link.on_recv(item) {
            Recv::Data(buf) => {
                if up.life == Life::Dead {
                    return;
                }
                match up.frames(&buf) {
                    Ok(frames) => {
                        drop(buf);
                        for frame in frames {
                            self.on_frame(cx, uid, frame);
                        }
                    }
                    Err(e) => {
                        log::warn!("upstream sent bad RESP: {e}");
                        self.fail_up(cx, uid, Failure::Protocol);
                    }
                }
            }
            Recv::Eof | Recv::Error(_) => {
                let expected = up.life != Life::Open && up.pending.is_empty();
                if !expected {
                    self.fail_up(cx, uid, Failure::Lost);
                }
            }
            Recv::Stopped | Recv::Paused { .. } => {}
        }
        self.maybe_finish(cx.lp(), uid);
    }

    /// One complete reply (or push) from connection `uid`.
    fn on_frame(&mut self, cx: &mut Ctx<'_, Client>, uid: UpId, frame: Bytes) {
        let Some(up) = self.ups.get_mut(uid) else {
            return;
        };
        if up.life == Life::Dead {
            return;
        }
        let is_push = frame.first() == Some(&b'>');
        if up.pending.is_empty() || (is_push && !up.passthrough) {
            if up.passthrough {
                self.on_stream_frame(cx, uid, frame);
            } else if is_push {
                // Out-of-band (nothing we allow on a shared connection should cause one).
                log::debug!("dropping an unsolicited push from upstream");
            } else if up.life == Life::Open {
                log::warn!("upstream sent a reply nobody asked for");
                self.fail_up(cx, uid, Failure::OutOfStep);
            } else {
                up.dirty = true;
            }
            return;
        }
        let Some(p) = up.pending.pop_front() else {
            return;
        };
        if up.pending.is_empty() {
            up.idle_since = Instant::now();
        }
        let ok = !matches!(frame.first(), Some(b'-') | Some(b'!'));
        match &p.kind {
            Kind::Internal if !ok => {
                log::warn!(
                    "upstream refused an internal command: {}",
                    String::from_utf8_lossy(&frame).trim_end()
                );
                up.dirty = true;
                return self.fail_up(cx, uid, Failure::OutOfStep);
            }
            Kind::Internal => return,
            Kind::Track(t) => apply_to_conn(up, t, ok),
            Kind::Reply | Kind::Switch { .. } => {}
        }
        self.resolve(cx, p, frame, ok);
        self.unpin_if_done(cx, uid);
    }

    /// Hands a pending request its answer: fills the client's slot, applies what a successful
    /// state change means for the client, and lets held commands go.
    pub fn resolve(&mut self, cx: &mut Ctx<'_, Client>, p: Pending, reply: Bytes, ok: bool) {
        if p.counted {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let Some((id, seq)) = p.to else {
            return;
        };
        self.with_client(cx, id, move |_, _, client| {
            client.replies.fill(seq, reply);
            if p.on_lane {
                client.outstanding = client.outstanding.saturating_sub(1);
            }
            match p.kind {
                Kind::Switch { lane, name } => {
                    client.switching = false;
                    if ok {
                        if let Some(lane) = lane {
                            client.lane = lane;
                        }
                        if name.is_some() {
                            client.name = name;
                        }
                    }
                }
                Kind::Track(t) if ok => apply_to_client(client, t),
                _ => {}
            }
        });
    }

    /// A dedicated connection the client no longer needs goes back.
    fn unpin_if_done(&mut self, cx: &mut Ctx<'_, Client>, uid: UpId) {
        let Some(up) = self.ups.get(uid) else {
            return;
        };
        let Role::Dedicated(id) = up.role else {
            return;
        };
        if up.life != Life::Open || !up.unneeded() {
            return;
        }
        let released = self
            .with_client(cx, id, |_, _, client| {
                if client.pin == Pin::Pinned(uid) && client.held.is_empty() {
                    client.pin = Pin::None;
                    true
                } else {
                    false
                }
            })
            .unwrap_or(false);
        if released {
            self.release(cx.lp(), uid);
        }
    }

    // ---- failure, timeout, release -------------------------------------------------------

    /// Gives a connection up: its pending requests get `why`'s error, it is closed as broken.
    pub fn fail_up(&mut self, cx: &mut Ctx<'_, Client>, uid: UpId, why: Failure) {
        let Some(up) = self.ups.get_mut(uid) else {
            return;
        };
        if up.life == Life::Dead {
            return;
        }
        self.counters.upstream_failures += 1;
        up.life = Life::Dead;
        up.failed = true;
        up.link.abort(cx.lp());
        let pending: Vec<Pending> = up.pending.drain(..).collect();
        let had_state = !up.reusable();
        let role = up.role;
        match role {
            Role::Lane(lane) => {
                if let Some(st) = self.lanes.get_mut(&lane) {
                    st.conns.retain(|&u| u != uid);
                }
            }
            Role::Dedicated(id) => {
                self.with_client(cx, id, |_, _, client| {
                    if client.pin == Pin::Pinned(uid) {
                        client.pin = Pin::None;
                    }
                    if had_state {
                        // Its subscriptions or transaction died with the connection. Commands
                        // held behind a barrier (`stream.rs`) get the error, then the client
                        // is closed.
                        client.replies.end_stream();
                        client.leaving_stream = false;
                        for _ in client.held.drain(..) {
                            client.replies.ready(local::error(why.text()));
                        }
                        client.quit = true;
                    }
                });
            }
        }
        let error = local::error(why.text());
        for p in pending {
            if p.to.is_some() {
                match why {
                    Failure::Timeout => self.counters.timeouts += 1,
                    _ => self.counters.upstream_errors += 1,
                }
            }
            self.resolve(cx, p, error.clone(), false);
        }
        self.maybe_finish(cx.lp(), uid);
    }

    /// A client left while pinned: return its connection if clean, close it otherwise.
    pub fn abandon(&mut self, cx: &mut Ctx<'_, Client>, uid: UpId) {
        let Some(up) = self.ups.get_mut(uid) else {
            return;
        };
        if up.life != Life::Open {
            return;
        }
        if up.unneeded() {
            return self.release(cx.lp(), uid);
        }
        // Mid-request (a blocked pop) or with session state: close it, counting nothing.
        up.life = Life::Dead;
        up.dirty = true;
        up.link.abort(cx.lp());
        let pending: Vec<Pending> = up.pending.drain(..).collect();
        for p in pending {
            if p.counted {
                self.in_flight = self.in_flight.saturating_sub(1);
            }
        }
        self.maybe_finish(cx.lp(), uid);
    }

    /// Sends an open connection back to the pool: teardown commands first if it is in a lane
    /// other than the default, closed instead if its state is unknown.
    pub fn release(&mut self, lp: &mut EventLoop, uid: UpId) {
        let Some(up) = self.ups.get_mut(uid) else {
            return;
        };
        if up.life != Life::Open {
            return;
        }
        if let Role::Lane(lane) = up.role {
            if let Some(st) = self.lanes.get_mut(&lane) {
                st.conns.retain(|&u| u != uid);
            }
        }
        if up.reusable() {
            up.life = Life::Releasing;
            for cmd in up.state.teardown() {
                up.send(cmd, Pending::internal());
            }
            up.state = Lane::default();
            self.flush_up(lp, uid);
        } else {
            up.life = Life::Dead;
            up.link.abort(lp);
        }
        self.maybe_finish(lp, uid);
    }

    /// Once a releasing connection has nothing pending, stops reading it; once no op of ours is
    /// left on it, checks it in (clean, dirty or broken) and forgets it.
    pub fn maybe_finish(&mut self, lp: &mut EventLoop, uid: UpId) {
        let Some(up) = self.ups.get_mut(uid) else {
            return;
        };
        match up.life {
            Life::Open => return,
            Life::Releasing if !up.pending.is_empty() => return,
            Life::Releasing | Life::Dead => {
                if up.link.is_reading() {
                    up.link.stop(lp);
                }
                if !up.link.is_quiet() {
                    return;
                }
            }
        }
        let Some(mut up) = self.ups.remove(uid) else {
            return;
        };
        if let Some(mut conn) = up.conn.take() {
            if up.failed {
                conn.mark_broken();
            } else if up.dirty || up.life == Life::Dead || !up.reusable() {
                conn.mark_dirty();
            }
            self.pool.checkin(lp, conn);
        }
    }

    /// Timeouts and idle returns; runs from a repeating timer.
    pub fn tick(&mut self, cx: &mut Ctx<'_, Client>) {
        let now = Instant::now();
        for uid in self.ups.ids() {
            let Some(up) = self.ups.get(uid) else {
                continue;
            };
            let overdue = up
                .pending
                .front()
                .and_then(|p| p.deadline)
                .or(up.subs.barrier.as_ref().and_then(|b| b.deadline))
                .is_some_and(|d| d <= now);
            if overdue && up.life != Life::Dead {
                log::info!("upstream request timed out; closing that connection");
                self.fail_up(cx, uid, Failure::Timeout);
                continue;
            }
            let idle = up.life == Life::Open
                && matches!(up.role, Role::Lane(_))
                && up.pending.is_empty()
                && now.duration_since(up.idle_since) >= LANE_IDLE;
            if idle {
                self.release(cx.lp(), uid);
            }
        }
        // Requests still waiting for a lane's first connection time out too.
        let lanes: Vec<Lane> = self.lanes.keys().copied().collect();
        for lane in lanes {
            while let Some(q) = self
                .lanes
                .get_mut(&lane)
                .and_then(|st| pop_overdue(st, now))
            {
                if q.pending.to.is_some() {
                    self.counters.timeouts += 1;
                }
                self.resolve(cx, q.pending, local::error(Failure::Timeout.text()), false);
            }
            let empty = self.lanes.get(&lane).is_some_and(|st| {
                st.conns.is_empty() && st.waiting.is_empty() && st.checkouts == 0
            });
            if empty {
                self.lanes.remove(&lane);
            }
        }
    }
}

/// The first request waiting in `st` if its deadline has passed.
fn pop_overdue(st: &mut LaneState, now: Instant) -> Option<Queued> {
    let overdue = st
        .waiting
        .front()
        .and_then(|q| q.pending.deadline)
        .is_some_and(|d| d <= now);
    if overdue {
        st.waiting.pop_front()
    } else {
        None
    }
}

/// What a successful state change means for the connection it ran on.
fn apply_to_conn(up: &mut Upstream, t: &Track, ok: bool) {
    match t {
        Track::EndMulti => {
            up.in_multi = false;
            up.watching = false;
        }
        _ if !ok => {}
        Track::Select(Some(db)) => up.state.db = *db,
        Track::Select(None) => up.dirty = true,
        Track::Hello(lane, _) => up.state.proto = lane.proto,
        Track::Multi => up.in_multi = true,
        Track::Watch => up.watching = true,
        Track::Unwatch => up.watching = false,
        Track::Reset => {
            up.state = Lane::default();
            up.in_multi = false;
            up.watching = false;
        }
    }
}

/// What a successful state change on its dedicated connection means for the client.
fn apply_to_client(client: &mut Client, t: Track) {
    match t {
        Track::Select(Some(db)) => client.lane.db = db,
        Track::Hello(lane, name) => {
            client.lane.proto = lane.proto;
            if name.is_some() {
                client.name = name;
            }
        }
        Track::Reset => {
            client.lane = Lane::default();
            client.name = None;
        }
        _ => {}
    }
}
