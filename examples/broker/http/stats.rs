//! `GET /stats`: the broker at a glance, as JSON — the loop's counters (backend, syscalls,
//! completions), the pub-sub hub, every queue, and who is connected how.

use std::time::Instant;

use ringloop::net::Ctx;
use ringloop::proto::http::Response;
use serde_json::json;

use super::{ok_json, Busy};
use crate::db::split_qname;
use crate::service::State;

pub fn response(st: &State, cx: &mut Ctx<'_, ()>, now: Instant) -> Response {
    let l = cx.lp().stats();
    let hub = st.hub.stats();
    let mut queues: Vec<_> = st
        .db
        .queues
        .names()
        .filter_map(|name| {
            let s = st.db.queues.stats(name)?;
            let (db, key) = split_qname(name);
            Some(json!({
                "db": db, "name": String::from_utf8_lossy(&key),
                "ready": s.ready, "reserved": s.reserved, "delayed": s.delayed,
                "waiting": s.waiting, "pushed": s.pushed, "acked": s.acked,
            }))
        })
        .collect();
    queues.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let http = &st.http;
    let count = |f: fn(&Busy) -> bool| {
        http.clients
            .values()
            .filter(|c| c.busy.as_ref().is_some_and(f))
            .count()
    };
    let h = http.stats;
    ok_json(json!({
        "uptime_s": now.saturating_duration_since(st.started).as_secs(),
        "loop": {
            "backend": st.backend,
            "turns": l.turns,
            "kernel_waits": l.kernel_waits,
            "syscalls": l.syscalls,
            "completions": l.completions,
            "in_flight": l.in_flight,
            "timers_pending": l.timers_pending,
        },
        "clients": {
            "resp": cx.conn_count().saturating_sub(http.clients.len()),
            "http": http.clients.len(),
            "sse": count(|b| matches!(b, Busy::Stream { .. })),
            "long_polls": count(|b| matches!(b, Busy::LongPoll { .. })),
            "reserves": count(|b| matches!(b, Busy::Reserve { .. })),
        },
        "pubsub": {
            "subscribers": hub.subscribers, "channels": hub.channels,
            "patterns": hub.patterns, "retaining_channels": hub.retaining_channels,
            "published": hub.published, "delivered": hub.delivered,
            "skipped": hub.skipped, "evicted": hub.evicted,
        },
        "queues": queues,
        "http": {
            "connections": h.connections, "requests": h.requests,
            "bad_requests": h.bad_requests, "slow_requests": h.slow_requests,
            "published": h.published, "polls": h.polls, "long_polls": h.long_polls,
            "long_poll_timeouts": h.long_poll_timeouts, "sse_streams": h.sse_streams,
            "sse_resumed": h.sse_resumed,
            "jobs_pushed": h.jobs_pushed, "jobs_reserved": h.jobs_reserved,
            "jobs_acked": h.jobs_acked,
        },
    }))
}
