//! The broker as a [`Service`] of `ringloop::net::Server`: connection lifecycle, the command
//! loop (decode, check, dispatch), and the work that follows every command — serving blocked
//! clients, fanning out published messages, arming the one timer the blocked pops need.
//!
//! Client state lives here in a map, not in the server's per-connection slot, because commands
//! reach *other* clients all the time (a push serves someone's `BLPOP`, `CLIENT KILL`,
//! `CLIENT LIST`): the client being served is taken out of the map while its commands run, and
//! everything else stays reachable.
//!
//! Order of effects follows Redis:
//! * blocked clients are served after the pushing command completes (`Queues::process` after each
//!   command), first-come first-served; a client served by `BLMOVE` pushes to its destination,
//!   and processing repeats so clients blocked there are served too;
//! * a client that was blocked resumes its pipelined commands once served (its unparsed input
//!   is kept in [`Client::inbuf`]);
//! * published messages go to subscribers after the replies already owed to them.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ringloop::net::{CloseReason, ConnId, Ctx, Server, Service};
use ringloop::patterns::pubsub::{
    BytesEncoder, Format, Message, Outgoing, PubSub, PubSubConfig, PubSubError, SubscriberId,
};
use ringloop::patterns::pushpull::{ConsumerOptions, End, Event};
use ringloop::patterns::{DeadlineTimer, IdBuild, NameBuild, WaiterId};
use ringloop::proto::resp::{push_of_bulks, Command, Protocol};
use ringloop::EventLoop;

use crate::client::{BlockKind, Client};
use crate::commands;
use crate::config::Config;
use crate::db::{split_qname, Db};
use crate::http::{self, HttpState};

/// The server handle, reachable from timer callbacks (set once the server is started, cleared
/// at exit to break the reference cycle through those callbacks).
pub type ServerCell = Rc<RefCell<Option<Server<Broker>>>>;

/// The connection write queue's high-water mark (`ServerOptions::high_water`).
pub const HIGH_WATER: usize = 1 << 20;

/// Unsent bytes above which a subscriber's messages wait in its pub/sub outbox (where the
/// slow-subscriber policy applies) instead of the connection's write queue. Just above the
/// server's low-water mark (a quarter of `HIGH_WATER`), so that a connection left with a backlog
/// is always above it and gets a `Service::drained` call once it can take more.
const PUMP_BUDGET: usize = HIGH_WATER / 4 + 1;

/// Pub/sub frames up to this size are copied into one buffer per drain rather than queued one
/// by one (larger ones are queued as they are: no copy).
const SMALL_FRAME: usize = 512;

/// Replies buffered for one client before they are handed to the connection mid-batch.
const FLUSH_AT: usize = 64 << 10;

/// Subscriber formats: one per RESP version, so each message is encoded at most twice.
pub const RESP2: Format = Format(2);
pub const RESP3: Format = Format(3);

pub fn format_of(proto: Protocol) -> Format {
    match proto {
        Protocol::Resp2 => RESP2,
        Protocol::Resp3 => RESP3,
    }
}

type EncodeFn = fn(Format, &Message, Option<&Bytes>) -> Bytes;

/// The hub's encoder: a `message` / `pmessage` frame, encoded once per route and RESP version
/// and shared (as `Bytes`) by every subscriber on it.
fn encode_frame(format: Format, msg: &Message, pattern: Option<&Bytes>) -> Bytes {
    match format {
        http::SSE => return http::channels::encode_sse(msg),
        http::LONGPOLL => return Bytes::new(),
        _ => {}
    }
    let proto = if format == RESP3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    match pattern {
        Some(p) => push_of_bulks(proto, &[b"pmessage", p, &msg.channel, &msg.payload]),
        None => push_of_bulks(proto, &[b"message", &msg.channel, &msg.payload]),
    }
}

pub type Hub = PubSub<BytesEncoder<EncodeFn>>;

/// Counters for `INFO stats` and the exit line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub connections: u64,
    pub rejected: u64,
    pub commands: u64,
    pub net_input: u64,
    pub published: u64,
    pub evicted_subscribers: u64,
    pub blocked_served: u64,
    pub blocked_timeouts: u64,
    pub protocol_errors: u64,
    pub idle_closed: u64,
}

/// Everything but the clients.
pub struct State {
    pub cfg: Config,
    pub laddr: Option<SocketAddr>,
    pub backend: String,
    pub db: Db,
    pub hub: Hub,
    pub subscriber_conn: HashMap<SubscriberId, ConnId, IdBuild>,
    /// Parked blocking pops and their clients.
    pub blocked: HashMap<WaiterId, ConnId, IdBuild>,
    /// Clients just unblocked with pipelined input to resume.
    pub resume: VecDeque<ConnId>,
    /// Subscribers with messages still waiting in their pub/sub outbox.
    pub backlog: Vec<SubscriberId>,
    ready: Vec<SubscriberId>,
    events: Vec<Event>,
    qtimer: DeadlineTimer,
    pump_armed: bool,
    pub server: ServerCell,
    pub stats: Stats,
    pub started: Instant,
    /// The HTTP front's connections and what they wait on.
    pub http: HttpState,
    /// Who watches which key (`WATCH`): (database, key) → clients.
    pub watchers: HashMap<(usize, Bytes), Vec<ConnId>, NameBuild>,
}

/// The RESP clients by connection (ids are generated by the server: the cheap hasher is safe).
pub type Clients = HashMap<ConnId, Client, IdBuild>;

pub struct Broker {
    pub clients: Clients,
    pub st: State,
}

/// What a command handler works with.
pub struct Exec<'a, 'c> {
    pub st: &'a mut State,
    /// Every client except `me`.
    pub others: &'a mut Clients,
    pub me: &'a mut Client,
    pub cx: &'a mut Ctx<'c, ()>,
    pub now: Instant,
}

impl Broker {
    pub fn new(
        cfg: Config,
        laddr: Option<SocketAddr>,
        backend: String,
        server: ServerCell,
    ) -> Broker {
        let mut db = Db::new();
        let http_consumer = db.queues.add_consumer(ConsumerOptions::default());
        Broker {
            clients: Clients::default(),
            st: State {
                cfg,
                laddr,
                backend,
                db,
                hub: PubSub::with_encoder(
                    BytesEncoder(encode_frame as EncodeFn),
                    PubSubConfig::default(),
                ),
                subscriber_conn: HashMap::default(),
                blocked: HashMap::default(),
                resume: VecDeque::new(),
                backlog: Vec::new(),
                ready: Vec::new(),
                events: Vec::new(),
                qtimer: DeadlineTimer::new(),
                pump_armed: false,
                server,
                stats: Stats::default(),
                started: Instant::now(),
                http: HttpState::new(http_consumer),
                watchers: HashMap::default(),
            },
        }
    }

    /// Runs `id`'s buffered commands until its input is exhausted, it blocks, or it closes.
    fn run_client(&mut self, cx: &mut Ctx<'_, ()>, me: &mut Client, now: Instant) {
        while !me.closing && me.blocked.is_none() {
            let cmd = match me.decoder.decode(&mut me.inbuf) {
                Ok(Some(cmd)) => cmd,
                Ok(None) => break,
                Err(e) => {
                    // After a framing error the next command's start is unknown: reply, close.
                    self.st.stats.protocol_errors += 1;
                    log::info!("{}: protocol error: {e}", me.id);
                    e.write_reply(&mut me.out);
                    me.closing = true;
                    me.inbuf = BytesMut::new();
                    cx.close_after_flush(me.id, CloseReason::Service(e.to_string()));
                    break;
                }
            };
            me.last_active = now;
            self.execute(cx, me, cmd, now);
            // Blocked clients are served after each command (Redis's order); published
            // messages are moved to subscribers once per batch, below — their order is kept by
            // the hub's outboxes, and this client's own ones are drained before its next
            // command (`execute`).
            serve_blocked(&mut self.st, &mut self.clients, Some(&mut *me), cx, now);
            if me.out.len() >= FLUSH_AT {
                flush(me, cx);
            }
        }
        // This client's replies go out before the messages its commands published (Redis
        // writes the publisher first too): the publisher's next batch then overlaps the
        // subscribers' reading instead of waiting behind it.
        flush(me, cx);
        settle(&mut self.st, &mut self.clients, Some(&mut *me), cx, now);
        flush(me, cx);
        if !me.closing && me.inbuf.len() > self.st.cfg.query_buffer_limit {
            log::warn!(
                "{}: closing client that reached max query buffer length ({} bytes)",
                me.id,
                me.inbuf.len()
            );
            me.closing = true;
            cx.close(me.id, CloseReason::InputLimit(me.inbuf.len()));
            me.inbuf = BytesMut::new();
        }
    }

    fn execute(&mut self, cx: &mut Ctx<'_, ()>, me: &mut Client, cmd: Command, now: Instant) {
        // Keys whose TTL ran out go before anyone can read them.
        self.st.db.expire_due(now);
        // Messages queued for this subscriber before this command was sent must reach it
        // before this command's reply does.
        if let Some(sid) = me.sub {
            if self.st.hub.outbox(sid).is_ok_and(|o| o.messages > 0) {
                flush(me, cx);
                drain_subscriber(&mut self.st, cx, sid, me.id, None, now);
            }
        }
        let mut ex = Exec {
            st: &mut self.st,
            others: &mut self.clients,
            me,
            cx,
            now,
        };
        commands::dispatch(&mut ex, &cmd);
    }

    /// Resumes clients unblocked meanwhile (their pipelined commands waited for the reply).
    fn resume_all(&mut self, cx: &mut Ctx<'_, ()>) {
        loop {
            if let Some(conn) = self.st.resume.pop_front() {
                let Some(mut c) = self.clients.remove(&conn) else {
                    continue;
                };
                self.run_client(cx, &mut c, Instant::now());
                self.clients.insert(conn, c);
            } else if let Some(conn) = self.st.http.resume.pop() {
                self.run_http(cx, conn);
            } else {
                return;
            }
        }
    }

    /// Serves an HTTP connection's requests, one at a time, until one waits or input runs out.
    fn run_http(&mut self, cx: &mut Ctx<'_, ()>, id: ConnId) {
        loop {
            let now = Instant::now();
            let Some(req) = http::next_request(&mut self.st, cx, id, now) else {
                return;
            };
            http::route(&mut self.st, cx, id, req, now);
            // A publish or push may have woken subscribers, long polls or blocked clients.
            settle(&mut self.st, &mut self.clients, None, cx, now);
        }
    }

    /// A long poll's wait ended (its timer).
    pub fn http_wait_ended(&mut self, cx: &mut Ctx<'_, ()>, id: ConnId, sid: SubscriberId) {
        http::channels::longpoll_expired(&mut self.st, cx, id, sid);
        self.resume_all(cx);
    }

    /// Timed work: blocked pops timing out, subscribers with a backlog.
    pub fn on_timer(&mut self, cx: &mut Ctx<'_, ()>) {
        let now = Instant::now();
        settle(&mut self.st, &mut self.clients, None, cx, now);
        self.resume_all(cx);
    }

    /// Once a second: idle timeouts (Redis's `serverCron` client check). Subscribed and
    /// blocked clients are exempt, as in Redis.
    pub fn cron(&mut self, cx: &mut Ctx<'_, ()>) {
        self.st.db.expire_due(Instant::now());
        http::cron(&mut self.st, cx, Instant::now());
        let timeout = self.st.cfg.timeout;
        if timeout.is_zero() {
            return;
        }
        let now = Instant::now();
        let idle: Vec<ConnId> = self
            .clients
            .values()
            .filter(|c| {
                !c.closing
                    && c.blocked.is_none()
                    && c.subs == 0
                    && now.saturating_duration_since(c.last_active) > timeout
            })
            .map(|c| c.id)
            .collect();
        for id in idle {
            log::info!("{id}: closing idle client (timeout {}s)", timeout.as_secs());
            self.st.stats.idle_closed += 1;
            if let Some(c) = self.clients.get_mut(&id) {
                c.closing = true;
            }
            cx.close(id, CloseReason::Service("idle timeout".into()));
        }
    }
}

/// Hands the client's pending replies to its connection.
pub fn flush(me: &mut Client, cx: &mut Ctx<'_, ()>) {
    if let Some(out) = me.take_out() {
        cx.send(me.id, out);
    }
}

/// The client `id`: `me` if it is the one running, else from the map.
fn pick<'x>(
    me: &'x mut Option<&mut Client>,
    clients: &'x mut Clients,
    id: ConnId,
) -> Option<&'x mut Client> {
    match me {
        Some(m) if m.id == id => Some(&mut **m),
        _ => clients.get_mut(&id),
    }
}

/// After each command (and each timer): serve blocked clients, fan messages out, re-arm the
/// deadline timer.
pub fn settle(
    st: &mut State,
    clients: &mut Clients,
    mut me: Option<&mut Client>,
    cx: &mut Ctx<'_, ()>,
    now: Instant,
) {
    serve_blocked(st, clients, me.as_deref_mut(), cx, now);
    pump(st, me, cx, now);
    let deadline = st.db.queues.next_deadline();
    let cell = st.server.clone();
    st.qtimer.sync(cx.lp(), deadline, move |lp| {
        with_server(&cell, lp, |b, cx| {
            b.st.qtimer.fired();
            b.on_timer(cx);
        })
    });
    // Backlogs are pumped again from `Service::drained` as connections drain; this timer is
    // only a safety net (it costs nothing while no subscriber has a backlog).
    if !st.backlog.is_empty() && !st.pump_armed {
        st.pump_armed = true;
        let cell = st.server.clone();
        cx.lp().timer(Duration::from_millis(50), move |lp| {
            with_server(&cell, lp, |b, cx| {
                b.st.pump_armed = false;
                b.on_timer(cx);
            })
        });
    }
}

/// Serves clients blocked on lists that the last command filled, and flags `WATCH`ers of keys
/// it wrote.
fn serve_blocked(
    st: &mut State,
    clients: &mut Clients,
    mut me: Option<&mut Client>,
    cx: &mut Ctx<'_, ()>,
    now: Instant,
) {
    loop {
        st.db.queues.process(now);
        mark_watchers(st, clients, &mut me);
        if !st.db.queues.has_events() {
            break;
        }
        let mut events = std::mem::take(&mut st.events);
        st.db.queues.take_events(&mut events);
        for ev in events.drain(..) {
            serve_event(st, clients, &mut me, cx, ev, now);
        }
        st.events = events;
    }
}

/// Flags the clients watching keys written since the last look: their `EXEC` will fail.
fn mark_watchers(st: &mut State, clients: &mut Clients, me: &mut Option<&mut Client>) {
    if st.db.touched.is_empty() {
        return;
    }
    let touched = std::mem::take(&mut st.db.touched);
    for t in &touched {
        for conn in commands::transactions::watchers_of(st, t) {
            if let Some(c) = pick(me, clients, conn) {
                c.watch_dirty = true;
            }
        }
    }
}

/// Runs `f` on the broker from a timer.
pub fn with_server(
    cell: &ServerCell,
    lp: &mut EventLoop,
    f: impl FnOnce(&mut Broker, &mut Ctx<'_, ()>),
) {
    let server = cell.borrow().clone();
    if let Some(server) = server {
        server.call(lp, f);
    }
}

/// Delivers the outcome of a parked pop to its client.
fn serve_event(
    st: &mut State,
    clients: &mut Clients,
    me: &mut Option<&mut Client>,
    cx: &mut Ctx<'_, ()>,
    ev: Event,
    now: Instant,
) {
    match ev {
        Event::Served {
            waiter,
            queue,
            deliveries,
            ..
        } if st.http.reserves.contains_key(&waiter) => {
            if let Some(conn) = st.http.reserves.remove(&waiter) {
                http::reserve_served(st, cx, conn, &queue, deliveries, now);
            }
        }
        Event::TimedOut { waiter, .. } if st.http.reserves.contains_key(&waiter) => {
            if let Some(conn) = st.http.reserves.remove(&waiter) {
                http::reserve_timed_out(st, cx, conn);
            }
        }
        Event::Served {
            waiter,
            queue,
            deliveries,
            ..
        } => {
            let (db, key) = split_qname(&queue);
            st.db.touch(db, &key);
            let running = me_id(me);
            let payloads: Vec<Bytes> = deliveries.into_iter().map(|d| d.payload).collect();
            let client = st
                .blocked
                .remove(&waiter)
                .and_then(|conn| pick(me, clients, conn));
            let Some(client) = client else {
                // Nobody to hand them to (cannot happen: a closing client cancels its wait).
                // Put the elements back rather than lose them.
                let _ = st.db.push(db, &key, payloads, End::Front, now);
                return;
            };
            let Some(blocked) = client.blocked.take() else {
                return;
            };
            st.stats.blocked_served += 1;
            for payload in payloads {
                match &blocked.kind {
                    BlockKind::Pop => {
                        client.array(2);
                        client.bulk(&key);
                        client.bulk(&payload);
                    }
                    BlockKind::Move { dest, to, from } => {
                        match st
                            .db
                            .push(blocked.db, dest, vec![payload.clone()], *to, now)
                        {
                            Ok(_) => client.bulk(&payload),
                            Err(_) => {
                                // The destination changed type while we waited: give the
                                // element back where it came from and report it.
                                let _ = st.db.push(db, &key, vec![payload], *from, now);
                                client.err(commands::WRONGTYPE);
                            }
                        }
                    }
                }
            }
            st.db.drop_if_empty(db, &key);
            unblocked(st, client, running, cx);
        }
        Event::TimedOut { waiter, .. } => {
            let running = me_id(me);
            let client = st
                .blocked
                .remove(&waiter)
                .and_then(|conn| pick(me, clients, conn));
            if let Some(client) = client {
                if client.blocked.take().is_some() {
                    st.stats.blocked_timeouts += 1;
                    client.null_array();
                    unblocked(st, client, running, cx);
                }
            }
        }
    }
}

fn me_id(me: &Option<&mut Client>) -> Option<ConnId> {
    me.as_ref().map(|m| m.id)
}

/// A client got its blocked reply: send it (unless it is the running client, whose replies go
/// out with its batch) and resume its pipeline.
fn unblocked(st: &mut State, client: &mut Client, running: Option<ConnId>, cx: &mut Ctx<'_, ()>) {
    if running == Some(client.id) {
        return;
    }
    flush(client, cx);
    if !client.inbuf.is_empty() {
        st.resume.push_back(client.id);
    }
}

/// Moves messages from subscribers' pub/sub outboxes to their connections, as far as each
/// connection's budget allows; the rest waits for the next pump.
fn pump(st: &mut State, mut me: Option<&mut Client>, cx: &mut Ctx<'_, ()>, now: Instant) {
    let mut ready = std::mem::take(&mut st.ready);
    st.hub.take_ready(&mut ready);
    if ready.is_empty() && st.backlog.is_empty() {
        st.ready = ready;
        return;
    }
    ready.append(&mut st.backlog);
    ready.sort_unstable();
    ready.dedup();
    for sid in ready.drain(..) {
        if st.http.longpolls.contains_key(&sid) {
            http::longpoll_woken(st, cx, sid);
            continue;
        }
        let Some(&conn) = st.subscriber_conn.get(&sid) else {
            continue;
        };
        if let Some(m) = me.as_deref_mut() {
            if m.id == conn {
                // Replies owed from earlier commands go first.
                flush(m, cx);
            }
        }
        if drain_subscriber(st, cx, sid, conn, Some(PUMP_BUDGET), now) {
            st.backlog.push(sid);
        }
    }
    st.ready = ready;
}

/// Drains a subscriber's outbox to its connection while its unsent output is under `budget`
/// (no limit if `None`). Returns true if messages are left. A subscriber the slow-subscriber
/// policy evicted is disconnected.
pub fn drain_subscriber(
    st: &mut State,
    cx: &mut Ctx<'_, ()>,
    sid: SubscriberId,
    conn: ConnId,
    budget: Option<usize>,
    now: Instant,
) -> bool {
    let Some(mut unsent) = cx.unsent(conn) else {
        return false;
    };
    // Small frames are gathered into one buffer and handed over once: one write-queue entry
    // (and one contiguous send) instead of one per message.
    let mut batch = BytesMut::new();
    let left = loop {
        // An evicted subscriber is closed at once, however full its connection is.
        if let Ok(Some(reason)) = st.hub.evicted(sid) {
            log::warn!("{conn}: disconnecting slow subscriber: {reason}");
            st.stats.evicted_subscribers += 1;
            cx.close(
                conn,
                CloseReason::Service(format!("pubsub output buffer limit: {reason}")),
            );
            // Forget it now, so later pumps do not count it again.
            st.hub.remove_subscriber(sid);
            st.subscriber_conn.remove(&sid);
            return false;
        }
        if budget.is_some_and(|b| unsent + batch.len() >= b) {
            break true;
        }
        match st.hub.pop(sid, now) {
            Ok(Some(Outgoing::Message(frame))) if frame.len() <= SMALL_FRAME => {
                batch.extend_from_slice(&frame);
            }
            Ok(Some(Outgoing::Message(frame))) => {
                if !batch.is_empty() {
                    unsent += batch.len();
                    cx.send(conn, batch.split().freeze());
                }
                unsent += frame.len();
                cx.send(conn, frame);
            }
            Ok(Some(Outgoing::Skipped(_))) => {}
            Ok(None) => break false,
            // Evicted by this very pop's predecessor publish: handled at the top of the loop.
            Err(PubSubError::Evicted(_)) => continue,
            Err(_) => break false,
        }
    };
    if !batch.is_empty() {
        cx.send(conn, batch.freeze());
    }
    left
}

impl Service for Broker {
    type Conn = ();

    fn open(&mut self, cx: &mut Ctx<'_, ()>, id: ConnId) {
        let now = Instant::now();
        if self.st.http.owns(cx, id) {
            http::open(&mut self.st, id, now);
            return;
        }
        self.st.stats.connections += 1;
        let mut c = Client::new(id, cx.peer(id), self.st.cfg.requirepass.is_none(), now);
        if cx.conn_count() > self.st.cfg.maxclients {
            self.st.stats.rejected += 1;
            log::warn!(
                "{id}: refused: max number of clients reached ({})",
                self.st.cfg.maxclients
            );
            cx.send(
                id,
                Bytes::from_static(b"-ERR max number of clients reached\r\n"),
            );
            cx.close_after_flush(
                id,
                CloseReason::Service("max number of clients reached".into()),
            );
            c.closing = true;
        }
        self.clients.insert(id, c);
    }

    fn data(&mut self, cx: &mut Ctx<'_, ()>, id: ConnId, _: &mut (), input: &mut BytesMut) {
        self.st.stats.net_input += input.len() as u64;
        if self.st.http.clients.contains_key(&id) {
            http::data(&mut self.st, id, input);
            self.run_http(cx, id);
            self.resume_all(cx);
            return;
        }
        let Some(mut me) = self.clients.remove(&id) else {
            input.clear();
            return;
        };
        if me.closing {
            input.clear();
        } else if me.inbuf.is_empty() {
            // Take the server's buffer as is: no copy in the common case.
            me.inbuf = input.split();
        } else {
            me.inbuf.extend_from_slice(input);
            input.clear();
        }
        self.run_client(cx, &mut me, Instant::now());
        self.clients.insert(id, me);
        self.resume_all(cx);
    }

    /// A connection's write queue drained: move waiting pub/sub messages to it (and to any
    /// other backlogged subscriber) without waiting for the safety-net timer.
    fn drained(&mut self, cx: &mut Ctx<'_, ()>, _id: ConnId, _: &mut ()) {
        if !self.st.backlog.is_empty() {
            self.on_timer(cx);
        }
    }

    fn closed(&mut self, cx: &mut Ctx<'_, ()>, id: ConnId, _: (), reason: &CloseReason) {
        if self.st.http.clients.contains_key(&id) {
            http::closed(&mut self.st, cx, id);
            return;
        }
        let Some(c) = self.clients.remove(&id) else {
            return;
        };
        log::debug!("{id} closed: {reason}");
        // A client that disconnects while blocked leaves no trace: its wait is cancelled, so
        // no element is ever popped for it.
        if let Some(b) = &c.blocked {
            self.st.db.queues.cancel_wait(b.waiter);
            self.st.blocked.remove(&b.waiter);
        }
        if let Some(consumer) = c.consumer {
            let _ = self.st.db.queues.remove_consumer(consumer, Instant::now());
        }
        if let Some(sid) = c.sub {
            self.st.hub.remove_subscriber(sid);
            self.st.subscriber_conn.remove(&sid);
        }
        let mut c = c;
        commands::transactions::unwatch_all(&mut self.st, &mut c);
        self.st.resume.retain(|&r| r != id);
        let _ = cx;
    }
}
