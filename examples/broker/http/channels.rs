//! Channels over HTTP: publish, polling, long polling and Server-Sent Events — the three ways a
//! browser can follow a channel, on the same hub the RESP port publishes to.
//!
//! A channel keeps its last `--history` messages once HTTP has used it (Redis channels keep
//! nothing; a browser needs history to resume). Message ids are per channel and contiguous, so
//! "after id X" is exact: when X is older than the history, the answer says how many messages
//! were lost (`missed`, or an SSE `gap` event) instead of skipping them silently; when X is
//! newer than anything published (ids restart with the broker) it says `reset`.
//!
//! * Polling: `GET /channels/{name}/messages?after=ID` answers at once.
//! * Long polling: `...&wait=SECONDS` parks the request as a hub subscriber (format
//!   [`LONGPOLL`]: it encodes nothing) until a message arrives or the wait ends; the answer is
//!   then built from the history, so it carries every message after ID, not just the first.
//! * SSE: `GET /channels/{name}/events` turns the connection into a hub subscriber whose format
//!   encodes SSE events; `pump` moves them like RESP frames, with the same slow-subscriber
//!   policy. `Last-Event-ID` (or `?after=`) replays the history first.

use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use ringloop::net::{ConnId, Ctx};
use ringloop::patterns::pubsub::{
    Format, HistoryError, Message, PubSubError, SubscriberId, SubscriberOptions,
};
use ringloop::proto::http::{Method, Request, Response};
use ringloop::proto::sse;
use serde_json::{json, Value};

use super::{complete, error, ok_json, with_cors, Busy, LONGPOLL};
use crate::service::{with_server, State};

/// Hub format of SSE streams: each message is encoded once as an SSE event and shared by every
/// stream on the channel.
pub const SSE: Format = Format(20);

/// Longest long-poll wait a client may ask for.
const MAX_WAIT: Duration = Duration::from_secs(300);

/// The reconnect delay advised to EventSource clients (`retry:`), in ms.
const RETRY_MS: u64 = 2000;

/// The hub's frame for SSE streams (`id:` + `data:` lines).
pub fn encode_sse(msg: &Message) -> Bytes {
    sse::event(msg.id, None, &msg.payload)
}

fn retain(st: &mut State, channel: &[u8]) {
    if st.cfg.history > 0 && st.hub.last_id(channel).is_none() {
        st.hub.retain(channel, st.cfg.history);
    }
}

/// A payload as JSON: `data` if it is UTF-8, else `data_base64` (never mangled).
pub fn payload_json(key: &str, payload: &[u8], out: &mut serde_json::Map<String, Value>) {
    match std::str::from_utf8(payload) {
        Ok(s) => out.insert(key.into(), Value::from(s)),
        Err(_) => out.insert(
            format!("{key}_base64"),
            Value::from(base64::engine::general_purpose::STANDARD.encode(payload)),
        ),
    };
}

fn message_json(m: &Message) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("id".into(), json!(m.id));
    payload_json("data", &m.payload, &mut o);
    Value::Object(o)
}

/// A non-negative number of seconds from the query (`None` if absent).
pub fn secs_param(req: &Request, key: &str) -> Result<Option<Duration>, Response> {
    let Some(v) = req.query(key) else {
        return Ok(None);
    };
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(Some(Duration::from_secs_f64(s.min(1e6)))),
        _ => Err(error(
            400,
            &format!("{key} must be a number of seconds, got '{v}'"),
        )),
    }
}

/// `POST /channels/{name}`: publishes the body.
pub fn publish(st: &mut State, name: &str, body: Bytes, now: Instant) -> Response {
    retain(st, name.as_bytes());
    let p = st.hub.publish(name.as_bytes(), body, now);
    st.stats.published += 1;
    st.http.stats.published += 1;
    ok_json(json!({ "channel": name, "id": p.id, "receivers": p.receivers }))
}

/// The answer to a poll: the messages after `after`, or an explicit gap / reset.
fn poll_answer(st: &State, name: &str, after: u64) -> Response {
    let ch = name.as_bytes();
    let last = st.hub.last_id(ch).unwrap_or(0);
    let mut body = json!({ "channel": name, "last_id": last });
    let all = || -> Vec<Value> {
        st.hub
            .history(ch)
            .map(|h| h.map(message_json).collect())
            .unwrap_or_default()
    };
    match st.hub.history_after(ch, after) {
        Ok(msgs) => body["messages"] = Value::from(msgs.map(message_json).collect::<Vec<_>>()),
        Err(e @ HistoryError::TooOld { .. }) => {
            body["messages"] = Value::from(all());
            body["missed"] = json!(e.missed());
        }
        Err(HistoryError::Ahead { .. }) => {
            body["messages"] = Value::from(all());
            body["reset"] = json!(true);
        }
        Err(HistoryError::NotRetained) => body["messages"] = json!([]),
    }
    ok_json(body)
}

/// `GET /channels/{name}/messages?after=ID[&wait=SECONDS]`: polling, or long polling. `None`
/// when the request is parked.
pub fn messages(
    st: &mut State,
    cx: &mut Ctx<'_, ()>,
    id: ConnId,
    name: &str,
    req: &Request,
    keep_alive: bool,
    _now: Instant,
) -> Option<Response> {
    let ch = name.as_bytes();
    let after = match req.query("after").map(|a| a.parse::<u64>()) {
        None => 0,
        Some(Ok(a)) => a,
        Some(Err(_)) => return Some(error(400, "after must be a message id (an integer)")),
    };
    let wait = match secs_param(req, "wait") {
        // A HEAD is answered at once: it must not hold the connection for a body it won't get.
        Ok(_) if req.method == Method::Head => Duration::ZERO,
        Ok(w) => w.unwrap_or(Duration::ZERO).min(MAX_WAIT),
        Err(resp) => return Some(resp),
    };
    if st.cfg.history == 0 {
        return Some(error(
            409,
            "this broker keeps no channel history (--history 0): use /events",
        ));
    }
    retain(st, ch);
    // Anything to answer at once: new messages, or a gap or reset to report.
    let has_news = match st.hub.history_after(ch, after) {
        Ok(mut msgs) => msgs.next().is_some(),
        Err(_) => true,
    };
    if has_news || wait.is_zero() {
        st.http.stats.polls += 1;
        return Some(poll_answer(st, name, after));
    }
    // Nothing yet: park as a subscriber until a message or the deadline.
    st.http.stats.long_polls += 1;
    let sid = st.hub.add_subscriber(SubscriberOptions {
        format: LONGPOLL,
        policy: st.cfg.pubsub_policy(),
    });
    let _ = st.hub.subscribe(sid, ch);
    let cell = st.server.clone();
    let timer = cx.lp().timer(wait, move |lp| {
        with_server(&cell, lp, move |b, cx| b.http_wait_ended(cx, id, sid))
    });
    st.http.longpolls.insert(sid, id);
    if let Some(c) = st.http.clients.get_mut(&id) {
        c.busy = Some(Busy::LongPoll {
            sid,
            channel: Bytes::copy_from_slice(ch),
            after,
            timer,
            keep_alive,
        });
    }
    None
}

/// A message reached long-poll subscriber `sid` (from `pump`): answer with everything new.
pub fn longpoll_woken(st: &mut State, cx: &mut Ctx<'_, ()>, sid: SubscriberId) {
    let Some(conn) = st.http.longpolls.remove(&sid) else {
        return;
    };
    st.hub.remove_subscriber(sid);
    let busy = st.http.clients.get_mut(&conn).and_then(|c| c.busy.take());
    if let Some(Busy::LongPoll {
        channel,
        after,
        timer,
        keep_alive,
        ..
    }) = busy
    {
        cx.lp().cancel_timer(timer);
        let name = String::from_utf8_lossy(&channel).into_owned();
        let resp = poll_answer(st, &name, after);
        complete(st, cx, conn, resp, keep_alive);
    }
}

/// The long poll of `conn` (subscriber `sid`) reached its deadline: answer with no messages.
pub fn longpoll_expired(st: &mut State, cx: &mut Ctx<'_, ()>, conn: ConnId, sid: SubscriberId) {
    if st.http.longpolls.remove(&sid).is_none() {
        return;
    }
    st.hub.remove_subscriber(sid);
    st.http.stats.long_poll_timeouts += 1;
    let busy = st.http.clients.get_mut(&conn).and_then(|c| c.busy.take());
    if let Some(Busy::LongPoll {
        channel,
        after,
        keep_alive,
        ..
    }) = busy
    {
        let name = String::from_utf8_lossy(&channel).into_owned();
        let resp = poll_answer(st, &name, after);
        complete(st, cx, conn, resp, keep_alive);
    }
}

/// `GET /channels/{name}/events`: the connection becomes an SSE stream. Always `None` (the
/// head is sent here; the body never ends).
pub fn events(
    st: &mut State,
    cx: &mut Ctx<'_, ()>,
    id: ConnId,
    name: &str,
    req: &Request,
    now: Instant,
) -> Option<Response> {
    let ch = name.as_bytes();
    // `Last-Event-ID` is what EventSource sends when it reconnects; `?after=` lets a page
    // resume from an id it stored itself.
    if req.header("last-event-id").is_some() {
        st.http.stats.sse_resumed += 1;
    }
    let resume = req
        .header_str("last-event-id")
        .map(str::to_owned)
        .or_else(|| req.query("after"))
        .and_then(|v| v.trim().parse::<u64>().ok());
    retain(st, ch);
    st.http.stats.sse_streams += 1;
    let head = Response::new(200)
        .header("Content-Type", "text/event-stream")
        .header("Cache-Control", "no-cache")
        .header("X-Accel-Buffering", "no");
    cx.send(id, with_cors(st, head).encode_stream_head());
    cx.send(id, sse::retry(RETRY_MS));
    let sid = st.hub.add_subscriber(SubscriberOptions {
        format: SSE,
        policy: st.cfg.pubsub_policy(),
    });
    if let Some(after) = resume {
        // Replay, then subscribe, in one call stack: no publish can fall between the two.
        match st.hub.replay(sid, ch, Some(after), now) {
            Ok(_) | Err(PubSubError::History(HistoryError::NotRetained)) => {}
            Err(PubSubError::History(e @ HistoryError::TooOld { .. })) => {
                let gap =
                    json!({ "after": after, "missed": e.missed(), "last_id": st.hub.last_id(ch) });
                cx.send(
                    id,
                    sse::event(None, Some("gap"), gap.to_string().as_bytes()),
                );
                let _ = st.hub.replay(sid, ch, None, now);
            }
            Err(PubSubError::History(HistoryError::Ahead { last, .. })) => {
                let reset = json!({ "after": after, "last_id": last });
                cx.send(
                    id,
                    sse::event(None, Some("reset"), reset.to_string().as_bytes()),
                );
                let _ = st.hub.replay(sid, ch, None, now);
            }
            Err(e) => log::warn!("{id}: SSE replay failed: {e}"),
        }
    }
    let _ = st.hub.subscribe(sid, ch);
    st.subscriber_conn.insert(sid, id);
    if let Some(c) = st.http.clients.get_mut(&id) {
        c.busy = Some(Busy::Stream { sid });
    }
    None
}

/// A comment line on every SSE stream: keeps proxies from timing the stream out, and finds
/// vanished clients (the write fails, the connection closes, the subscriber goes).
pub fn heartbeat(st: &mut State, cx: &mut Ctx<'_, ()>) {
    let beat = sse::comment("heartbeat");
    for c in st.http.clients.values() {
        if matches!(c.busy, Some(Busy::Stream { .. })) {
            cx.send(c.id, beat.clone());
        }
    }
}
