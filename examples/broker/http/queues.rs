//! Job queues over HTTP: push, reserve with a lease (long-polled), ack, nack — at-least-once
//! delivery on the very lists the RESP port serves.
//!
//! A queue here is the list `name` in database 0: `POST /queues/q/jobs` is `LPUSH q body`, and
//! a reserve takes from the tail as `BRPOP q` does, so `redis-cli LPUSH q job` feeds an HTTP
//! worker and an HTTP push feeds a `BRPOP` worker. Unlike `BRPOP`, a reserve leases the job: it
//! stays held until acked; nacked or not acked within the lease, it goes back to the tail and
//! the next reserver gets it (its `attempt` grows). Parked reserves and `BRPOP`s are served
//! first-come first-served together, by the same `Queues::process`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use ringloop::net::{ConnId, Ctx};
use ringloop::patterns::pushpull::{Delivery, PullRequest, Pulled, Wait};
use ringloop::proto::http::{Request, Response};
use serde_json::{json, Value};

use super::channels::secs_param;
use super::{complete, error, ok_json, Busy};
use crate::db::{qname, split_qname};
use crate::service::State;

/// The lease when the request names none.
const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Longest reserve wait and lease a client may ask for.
const MAX_WAIT: Duration = Duration::from_secs(300);
const MAX_LEASE: Duration = Duration::from_secs(12 * 3600);

fn wrongtype() -> Response {
    error(409, "WRONGTYPE the key holds a string, not a list")
}

/// `POST /queues/{name}/jobs`: pushes the body as one job; 429 with `Retry-After` when the queue
/// holds `--http-queue-max` jobs already (back-pressure, not loss).
pub fn push(st: &mut State, name: &str, body: Bytes, now: Instant) -> Response {
    let key = Bytes::copy_from_slice(name.as_bytes());
    if st.db.len(0, &key) >= st.cfg.http_queue_max {
        return error(
            429,
            &format!("queue {name} is full ({} jobs)", st.cfg.http_queue_max),
        )
        .header("Retry-After", "1");
    }
    match st.db.push_job(0, &key, body, now) {
        Ok(job) => {
            st.http.queues.insert(key.clone());
            st.http.stats.jobs_pushed += 1;
            let len = st.db.len(0, &key);
            ok_json(json!({ "queue": name, "id": job.0, "length": len }))
        }
        Err(_) => wrongtype(),
    }
}

/// `POST /queues/{name}/reserve?wait=SECONDS&lease=SECONDS`: one job, leased; parks up to
/// `wait` if none is ready (`None` = parked). 204 when the wait ends empty.
pub fn reserve(
    st: &mut State,
    id: ConnId,
    name: &str,
    req: &Request,
    keep_alive: bool,
    now: Instant,
) -> Option<Response> {
    let (wait, lease) = match (secs_param(req, "wait"), secs_param(req, "lease")) {
        (Ok(w), Ok(l)) => (
            w.unwrap_or(Duration::ZERO).min(MAX_WAIT),
            l.unwrap_or(DEFAULT_LEASE)
                .clamp(Duration::from_millis(1), MAX_LEASE),
        ),
        (Err(resp), _) | (_, Err(resp)) => return Some(resp),
    };
    let key = Bytes::copy_from_slice(name.as_bytes());
    if st.db.list_or_none(0, &key).is_err() {
        return Some(wrongtype());
    }
    st.http.queues.insert(key.clone());
    let qn = qname(0, &key);
    let mut pull = PullRequest::reserve(1, lease).from_back();
    if !wait.is_zero() {
        pull = pull.wait(Wait::timeout(wait, now));
    }
    match st.db.queues.pull(st.http.consumer, &[&qn], pull, now) {
        Ok(Pulled::Jobs { deliveries, .. }) => {
            st.db.touch(0, &key);
            st.db.drop_if_empty(0, &key);
            Some(delivered(st, name, &key, deliveries, now))
        }
        Ok(Pulled::Waiting(waiter)) => {
            st.http.reserves.insert(waiter, id);
            if let Some(c) = st.http.clients.get_mut(&id) {
                c.busy = Some(Busy::Reserve { waiter, keep_alive });
            }
            None
        }
        Ok(Pulled::Empty) => Some(Response::new(204)),
        Err(e) => Some(error(500, &e.to_string())),
    }
}

/// The answer for reserved jobs (one at most): remembers the lease under the job id.
fn delivered(
    st: &mut State,
    name: &str,
    key: &Bytes,
    deliveries: Vec<Delivery>,
    now: Instant,
) -> Response {
    let Some(d) = deliveries.into_iter().next() else {
        return Response::new(204);
    };
    st.http.stats.jobs_reserved += 1;
    if let Some(lease) = d.lease {
        st.http.leases.insert((key.clone(), d.job.0), lease);
    }
    let mut o = serde_json::Map::new();
    o.insert("queue".into(), json!(name));
    o.insert("id".into(), json!(d.job.0));
    o.insert("attempt".into(), json!(d.attempt));
    let lease_ms = d
        .lease_deadline
        .map(|t| t.saturating_duration_since(now).as_millis() as u64);
    o.insert("lease_ms".into(), json!(lease_ms));
    super::channels::payload_json("body", &d.payload, &mut o);
    ok_json(Value::Object(o))
}

/// A parked reserve got a job (from `serve_event`).
pub fn reserve_served(
    st: &mut State,
    cx: &mut Ctx<'_, ()>,
    conn: ConnId,
    queue: &[u8],
    deliveries: Vec<Delivery>,
    now: Instant,
) {
    let (_, key) = split_qname(queue);
    st.db.touch(0, &key);
    st.db.drop_if_empty(0, &key);
    let busy = st.http.clients.get_mut(&conn).and_then(|c| c.busy.take());
    let Some(Busy::Reserve { keep_alive, .. }) = busy else {
        // The client is gone (cannot happen: closing cancels the wait). Give the jobs back.
        for d in deliveries {
            if let Some(lease) = d.lease {
                let _ = st.db.queues.nack(lease, None, now);
            }
        }
        return;
    };
    let name = String::from_utf8_lossy(&key).into_owned();
    let resp = delivered(st, &name, &key, deliveries, now);
    complete(st, cx, conn, resp, keep_alive);
}

/// A parked reserve's wait ended empty.
pub fn reserve_timed_out(st: &mut State, cx: &mut Ctx<'_, ()>, conn: ConnId) {
    let busy = st.http.clients.get_mut(&conn).and_then(|c| c.busy.take());
    if let Some(Busy::Reserve { keep_alive, .. }) = busy {
        complete(st, cx, conn, Response::new(204), keep_alive);
    }
}

/// `POST /queues/{name}/jobs/{id}/ack` and `/nack[?delay=SECONDS]`.
pub fn settle(
    st: &mut State,
    name: &str,
    job: &str,
    verb: &str,
    req: &Request,
    now: Instant,
) -> Response {
    let Ok(job) = job.parse::<u64>() else {
        return error(400, "the job id must be an integer");
    };
    let delay = match secs_param(req, "delay") {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let key = Bytes::copy_from_slice(name.as_bytes());
    let gone = || {
        error(
            404,
            &format!(
                "job {job} of {name} is not reserved: never reserved, already acked or \
                 nacked, or its lease expired (it went back to the queue)"
            ),
        )
    };
    let Some(lease) = st.http.leases.remove(&(key.clone(), job)) else {
        return gone();
    };
    if verb == "ack" {
        match st.db.queues.ack(lease) {
            Ok(_) => {
                st.http.stats.jobs_acked += 1;
                ok_json(json!({ "queue": name, "id": job, "acked": true }))
            }
            Err(_) => gone(),
        }
    } else {
        match st.db.queues.nack(lease, delay, now) {
            Ok(returned) => {
                st.db.touch(0, &key);
                st.db.relist(0, &key);
                ok_json(
                    json!({ "queue": name, "id": job, "nacked": true, "returned": format!("{returned:?}").to_lowercase() }),
                )
            }
            Err(_) => gone(),
        }
    }
}

/// Forgets leases that expired (their jobs went back to the queue).
pub fn prune_leases(st: &mut State) {
    let queues = &st.db.queues;
    st.http.leases.retain(|_, l| queues.lease(*l).is_some());
}
