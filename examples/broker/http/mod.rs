//! The broker's HTTP front: the same channels and queues the RESP port serves, over HTTP/1.1 —
//! polling, long polling and Server-Sent Events side by side, plus a page that shows them live.
//!
//! It is not a second server: the HTTP port is another listener of the same `net::Server`
//! (`Server::add_listener`), so its connections share the broker's table and state. A
//! `PUBLISH` from `redis-cli` reaches an SSE stream through the very `pump` that feeds RESP
//! subscribers (an SSE stream is a hub subscriber whose format encodes SSE events), and an
//! HTTP reserve parks in the same `Queues` as a `BRPOP`.
//!
//! * `mod.rs` (this file) — per-connection state, the request loop (one request at a time per
//!   connection, so pipelined requests are answered in order even when one of them waits),
//!   routing, answering, auth and CORS, the once-a-second sweep (slow requests, heartbeats);
//! * `channels.rs` — publish, polling, long polling, SSE;
//! * `queues.rs` — push, reserve with a lease (long-polled), ack, nack;
//! * `stats.rs` — `GET /stats`; `page.rs` + `page.html` — `GET /`.
//!
//! Requests are parsed by `ringloop::proto::http` (httparse underneath); a malformed request
//! gets its 4xx/5xx and the connection is closed, since where the next request starts is then
//! unknown.

pub mod channels;
mod page;
mod queues;
mod stats;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ringloop::net::{CloseReason, ConnId, Ctx, ListenerId};
use ringloop::patterns::pubsub::{Format, SubscriberId};
use ringloop::patterns::pushpull::{ConsumerId, LeaseId};
use ringloop::patterns::{IdBuild, NameBuild, WaiterId};
use ringloop::proto::http::{Limits, Method, Request, RequestDecoder, Response};
use ringloop::TimerId;
use serde_json::json;

use crate::service::State;

pub use channels::{longpoll_woken, SSE};
pub use queues::{reserve_served, reserve_timed_out};

/// Hub format of long-poll subscribers: their frames are never sent (the answer is built from
/// the channel's history), so they encode to nothing and cost nothing.
pub const LONGPOLL: Format = Format(21);

/// Keep-alive connections idle longer than this are closed.
const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(120);

/// What a connection is waiting for before it reads its next request.
pub enum Busy {
    /// A long poll on a channel: a hub subscriber until a message comes or `timer` fires.
    LongPoll {
        sid: SubscriberId,
        channel: Bytes,
        after: u64,
        timer: TimerId,
        keep_alive: bool,
    },
    /// A reserve parked in the queues until a job comes or its wait ends.
    Reserve { waiter: WaiterId, keep_alive: bool },
    /// An SSE stream: the response never ends; the connection is a subscriber until it closes.
    Stream { sid: SubscriberId },
}

/// One HTTP connection.
pub struct HttpClient {
    pub id: ConnId,
    decoder: RequestDecoder,
    inbuf: BytesMut,
    pub busy: Option<Busy>,
    closing: bool,
    last_active: Instant,
    pub requests: u64,
}

/// Counters for `/stats` and `INFO`.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpStats {
    pub connections: u64,
    pub requests: u64,
    pub bad_requests: u64,
    pub slow_requests: u64,
    pub published: u64,
    pub polls: u64,
    pub long_polls: u64,
    pub long_poll_timeouts: u64,
    pub sse_streams: u64,
    /// Streams opened with `Last-Event-ID` (EventSource reconnecting).
    pub sse_resumed: u64,
    pub jobs_pushed: u64,
    pub jobs_reserved: u64,
    pub jobs_acked: u64,
}

/// The HTTP front's share of the broker state.
pub struct HttpState {
    pub listener: Option<ListenerId>,
    pub clients: HashMap<ConnId, HttpClient, IdBuild>,
    /// Long-poll subscribers and their connections.
    pub longpolls: HashMap<SubscriberId, ConnId, IdBuild>,
    /// Parked reserves and their connections.
    pub reserves: HashMap<WaiterId, ConnId, IdBuild>,
    /// The consumer every HTTP reserve is made as: a lease belongs to the job, not to a
    /// connection, so a worker may reserve on one connection and ack on another.
    pub consumer: ConsumerId,
    /// Leases by (queue, job id): what `/jobs/{id}/ack` refers to.
    pub leases: HashMap<(Bytes, u64), LeaseId, NameBuild>,
    /// Queues HTTP used (their keys are re-listed when a returned job refills them).
    pub queues: HashSet<Bytes, NameBuild>,
    /// Connections whose next request can be read now (a wait ended).
    pub resume: Vec<ConnId>,
    pub stats: HttpStats,
    heartbeat_due: Option<Instant>,
}

impl HttpState {
    pub fn new(consumer: ConsumerId) -> HttpState {
        HttpState {
            listener: None,
            clients: HashMap::default(),
            longpolls: HashMap::default(),
            reserves: HashMap::default(),
            consumer,
            leases: HashMap::default(),
            queues: HashSet::default(),
            resume: Vec::new(),
            stats: HttpStats::default(),
            heartbeat_due: None,
        }
    }

    /// True if `id` came in through the HTTP port.
    pub fn owns(&self, cx: &Ctx<'_, ()>, id: ConnId) -> bool {
        self.listener.is_some() && cx.listener(id) == self.listener
    }
}

pub fn open(st: &mut State, id: ConnId, now: Instant) {
    let limits = Limits {
        max_body: st.cfg.http_max_body,
        ..Limits::default()
    };
    st.http.stats.connections += 1;
    st.http.clients.insert(
        id,
        HttpClient {
            id,
            decoder: RequestDecoder::new(limits),
            inbuf: BytesMut::new(),
            busy: None,
            closing: false,
            last_active: now,
            requests: 0,
        },
    );
}

/// Bytes arrived on an HTTP connection: keep them until the request loop takes them.
pub fn data(st: &mut State, id: ConnId, input: &mut BytesMut) {
    let Some(c) = st.http.clients.get_mut(&id) else {
        input.clear();
        return;
    };
    if c.closing || matches!(c.busy, Some(Busy::Stream { .. })) {
        // A client has nothing more to say on a closing connection or an event stream.
        input.clear();
    } else if c.inbuf.is_empty() {
        c.inbuf = input.split();
    } else {
        c.inbuf.extend_from_slice(input);
        input.clear();
    }
}

/// The next complete request of `id`, if it may be served now (not waiting on an earlier one).
/// Framing errors are answered here, and close the connection.
pub fn next_request(
    st: &mut State,
    cx: &mut Ctx<'_, ()>,
    id: ConnId,
    now: Instant,
) -> Option<Request> {
    let c = st.http.clients.get_mut(&id)?;
    if c.closing || c.busy.is_some() {
        return None;
    }
    let decoded = c.decoder.decode(&mut c.inbuf, now);
    if c.decoder.take_continue() {
        cx.send(id, Bytes::from_static(b"HTTP/1.1 100 Continue\r\n\r\n"));
    }
    match decoded {
        Ok(Some(req)) => {
            c.last_active = now;
            c.requests += 1;
            st.http.stats.requests += 1;
            Some(req)
        }
        Ok(None) => None,
        Err(e) => {
            log::info!("{id}: bad HTTP request: {e}");
            st.http.stats.bad_requests += 1;
            finish(st, cx, id, Some(e.response()));
            None
        }
    }
}

/// Answers one request (or parks it: long poll, reserve, stream).
pub fn route(st: &mut State, cx: &mut Ctx<'_, ()>, id: ConnId, req: Request, now: Instant) {
    st.db.expire_due(now);
    let keep_alive = req.keep_alive();
    let head_only = req.method == Method::Head;
    if req.method == Method::Options {
        // A CORS preflight (browsers send one before a cross-origin POST with a JSON body).
        let resp = Response::new(204)
            .header("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS")
            .header(
                "Access-Control-Allow-Headers",
                "Content-Type, Authorization, Last-Event-ID",
            )
            .header("Access-Control-Max-Age", "600");
        return answer(st, cx, id, resp, keep_alive, false);
    }
    if !authorized(st, &req) {
        let resp = error(401, "authentication required: send 'Authorization: Bearer PASSWORD' (or ?auth=PASSWORD for EventSource)")
            .header("WWW-Authenticate", "Bearer");
        return answer(st, cx, id, resp, keep_alive, head_only);
    }
    let segs = req.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let get = matches!(req.method, Method::Get | Method::Head);
    let post = req.method == Method::Post;
    let resp = match segs.as_slice() {
        [] if get => Some(page::response()),
        ["stats"] if get => Some(stats::response(st, cx, now)),
        ["channels", name] if post => Some(channels::publish(st, name, req.body.clone(), now)),
        ["channels", name, "messages"] if get => {
            channels::messages(st, cx, id, name, &req, keep_alive, now)
        }
        // HEAD asks what a GET would answer, not for a stream that never ends.
        ["channels", _, "events"] if head_only => Some(
            Response::new(200)
                .header("Content-Type", "text/event-stream")
                .header("Cache-Control", "no-cache"),
        ),
        ["channels", name, "events"] if get => channels::events(st, cx, id, name, &req, now),
        ["queues", name, "jobs"] if post => Some(queues::push(st, name, req.body.clone(), now)),
        ["queues", name, "reserve"] if post => queues::reserve(st, id, name, &req, keep_alive, now),
        ["queues", name, "jobs", job, verb @ ("ack" | "nack")] if post => {
            Some(queues::settle(st, name, job, verb, &req, now))
        }
        ["admin", "drop-streams"] if post => Some(drop_streams(st, cx)),
        []
        | ["stats"]
        | ["admin", "drop-streams"]
        | ["channels", _]
        | ["channels", _, "messages" | "events"]
        | ["queues", _, "jobs" | "reserve"]
        | ["queues", _, "jobs", _, "ack" | "nack"] => {
            let post_only = matches!(segs.first(), Some(&"queues" | &"admin"))
                || segs.len() == 2 && segs[0] == "channels";
            let allow = if post_only {
                "POST, OPTIONS"
            } else {
                "GET, HEAD, OPTIONS"
            };
            Some(
                error(405, &format!("{} is not allowed here", req.method_str))
                    .header("Allow", allow),
            )
        }
        _ => Some(error(404, &format!("no such resource: {}", req.path()))),
    };
    // `None`: the request was parked or turned into a stream; its answer comes later.
    if let Some(resp) = resp {
        answer(st, cx, id, resp, keep_alive, head_only);
    }
}

/// With `--requirepass`, HTTP needs the same password: `Authorization: Bearer PASS`, or
/// `?auth=PASS` for `EventSource`, which cannot set headers.
fn authorized(st: &State, req: &Request) -> bool {
    let Some(pass) = &st.cfg.requirepass else {
        return true;
    };
    let bearer = req
        .header_str("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| t.trim().as_bytes() == &pass[..]);
    bearer.unwrap_or(false) || req.query("auth").is_some_and(|a| a.as_bytes() == &pass[..])
}

/// A JSON error body: `{"error": "..."}`.
pub fn error(status: u16, msg: &str) -> Response {
    Response::json(status, json!({ "error": msg }).to_string())
}

/// A JSON answer.
pub fn ok_json(value: serde_json::Value) -> Response {
    Response::json(200, value.to_string())
}

/// Sends a complete answer to the request being served (adding CORS); closes after it unless
/// the client keeps the connection alive.
pub fn answer(
    st: &mut State,
    cx: &mut Ctx<'_, ()>,
    id: ConnId,
    resp: Response,
    keep_alive: bool,
    head_only: bool,
) {
    let resp = with_cors(st, resp);
    cx.send(id, resp.encode(keep_alive, head_only));
    if !keep_alive {
        finish(st, cx, id, None);
    }
}

/// Ends a parked request with `resp`, and lets the connection read its next request.
pub fn complete(
    st: &mut State,
    cx: &mut Ctx<'_, ()>,
    id: ConnId,
    resp: Response,
    keep_alive: bool,
) {
    if let Some(c) = st.http.clients.get_mut(&id) {
        c.busy = None;
        st.http.resume.push(id);
    }
    answer(st, cx, id, resp, keep_alive, false);
}

/// Sends `resp` if any, then closes the connection once its output is flushed.
fn finish(st: &mut State, cx: &mut Ctx<'_, ()>, id: ConnId, resp: Option<Response>) {
    if let Some(resp) = resp {
        let resp = with_cors(st, resp);
        cx.send(id, resp.encode(false, false));
    }
    if let Some(c) = st.http.clients.get_mut(&id) {
        c.closing = true;
        c.inbuf = BytesMut::new();
    }
    cx.close_after_flush(id, CloseReason::Service("HTTP connection done".into()));
}

pub fn with_cors(st: &State, resp: Response) -> Response {
    match &st.cfg.http_cors {
        Some(origin) => resp
            .header("Access-Control-Allow-Origin", origin.clone())
            .header("Access-Control-Expose-Headers", "Retry-After"),
        None => resp,
    }
}

/// The connection is gone: whatever it waited on forgets it.
pub fn closed(st: &mut State, cx: &mut Ctx<'_, ()>, id: ConnId) {
    let Some(c) = st.http.clients.remove(&id) else {
        return;
    };
    match c.busy {
        Some(Busy::LongPoll { sid, timer, .. }) => {
            cx.lp().cancel_timer(timer);
            st.hub.remove_subscriber(sid);
            st.http.longpolls.remove(&sid);
        }
        Some(Busy::Reserve { waiter, .. }) => {
            st.db.queues.cancel_wait(waiter);
            st.http.reserves.remove(&waiter);
        }
        Some(Busy::Stream { sid }) => {
            st.hub.remove_subscriber(sid);
            st.subscriber_conn.remove(&sid);
        }
        None => {}
    }
    st.http.resume.retain(|&r| r != id);
}

/// Once a second: close connections whose request is still incomplete after the request
/// timeout (slowloris), send SSE heartbeats when due, re-list queues refilled by returned jobs.
pub fn cron(st: &mut State, cx: &mut Ctx<'_, ()>, now: Instant) {
    let limit = st.cfg.http_request_timeout;
    let slow: Vec<ConnId> = st
        .http
        .clients
        .values()
        .filter(|c| !c.closing && c.busy.is_none())
        .filter(|c| {
            c.decoder
                .partial_since()
                .is_some_and(|t| now.saturating_duration_since(t) > limit)
        })
        .map(|c| c.id)
        .collect();
    for id in slow {
        log::info!("{id}: HTTP request not complete after {limit:?}: closing (408)");
        st.http.stats.slow_requests += 1;
        finish(st, cx, id, Some(error(408, "request not received in time")));
    }
    let due = *st
        .http
        .heartbeat_due
        .get_or_insert(now + st.cfg.sse_heartbeat);
    if now >= due {
        st.http.heartbeat_due = Some(now + st.cfg.sse_heartbeat);
        channels::heartbeat(st, cx);
    }
    let queues: Vec<Bytes> = st.http.queues.iter().cloned().collect();
    for q in queues {
        st.db.relist(0, &q);
    }
    queues::prune_leases(st);
    // Keep-alive connections with nothing to say for long are closed, as servers do.
    let idle: Vec<ConnId> = st
        .http
        .clients
        .values()
        .filter(|c| !c.closing && c.busy.is_none() && c.inbuf.is_empty())
        .filter(|c| now.saturating_duration_since(c.last_active) > KEEP_ALIVE_IDLE)
        .map(|c| c.id)
        .collect();
    for id in idle {
        finish(st, cx, id, None);
    }
}

/// `POST /admin/drop-streams`: closes every SSE stream (say, before maintenance); EventSource
/// clients reconnect on their own and resume from their `Last-Event-ID`.
fn drop_streams(st: &mut State, cx: &mut Ctx<'_, ()>) -> Response {
    let streams: Vec<ConnId> = st
        .http
        .clients
        .values()
        .filter(|c| matches!(c.busy, Some(Busy::Stream { .. })))
        .map(|c| c.id)
        .collect();
    for &id in &streams {
        log::info!("{id}: SSE stream dropped by /admin/drop-streams");
        cx.close(
            id,
            CloseReason::Service("stream dropped by an operator".into()),
        );
    }
    ok_json(json!({ "dropped": streams.len() }))
}
