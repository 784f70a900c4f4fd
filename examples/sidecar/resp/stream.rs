//! A subscribed client's dedicated connection: its frames go to the client as they come, and
//! once the client has unsubscribed from everything the connection leaves that mode and goes
//! back to the pool.
//!
//! Knowing when "everything" is reached takes two things. The count: every
//! (p|s)(un)subscribe confirmation carries the number of subscriptions left (channels and
//! patterns together; shard channels on their own; `proto::resp::subscription_confirmation`
//! reads it), so the sidecar keeps the last of each.
//! And the end of the commands already sent: a count of 0 can arrive before the last frame of
//! its command (`UNSUBSCRIBE a b` when only `a` was subscribed answers twice with 0), and the
//! client may have pipelined more commands behind it (another `SUBSCRIBE`, a `GET`), whose
//! answers are still on their way. So at a count of 0 the sidecar sends a `PING` with a token
//! of its own — a barrier — and holds the client's next commands. Everything before the
//! barrier's answer is forwarded as usual; at the answer, if no subscription is left, the
//! stream ends (what it held becomes an ordinary reply), the connection is released and the
//! held commands are dispatched like any others; if the client subscribed again meanwhile,
//! the stream goes on and so do they.
//!
//! `MONITOR` never ends this way (only by the client leaving), nor does a stream in which the
//! client sent a command that changes the connection's state (`SELECT`, `HELLO`, `RESET`,
//! `CLIENT SETNAME`, `MULTI`...): those go up raw while subscribed, so neither the connection's
//! state nor the client's lane is known any more, and handing either back would be a guess.
//! Such a client keeps its connection until it leaves, as before.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ringloop::net::Ctx;
use ringloop::proto::resp::{
    subscription_confirmation, write_bulk, write_command, Confirmed, Protocol,
};

use super::client::{Client, Pin};
use super::proxy::Proxy;
use super::upstream::{Role, UpId};

/// Subscriptions as the upstream last reported them, and the barrier in flight.
#[derive(Debug, Default)]
pub struct Subscriptions {
    /// Channels and patterns (`SUBSCRIBE`/`PSUBSCRIBE` family).
    pub regular: i64,
    /// Shard channels (`SSUBSCRIBE` family).
    pub shard: i64,
    /// `MONITOR` was sent, or a command that changes what the upstream keeps for the connection
    /// (`SELECT`, `HELLO`, `RESET`, `CLIENT ...`, `MULTI`: sent raw while subscribed, so the
    /// sidecar did not follow it): the stream lasts as long as the connection.
    pub sticky: bool,
    /// The barrier `PING` sent and not answered yet.
    pub barrier: Option<Barrier>,
}

/// A barrier in flight.
#[derive(Debug)]
pub struct Barrier {
    /// Its token as a bulk string: the answer to expect.
    answer: Bytes,
    /// When, unanswered, it fails the connection (`--request-timeout` after it was sent): the
    /// client's commands are held meanwhile, so a silent upstream must not hold them for good.
    pub deadline: Option<Instant>,
}

impl Subscriptions {
    fn none_left(&self) -> bool {
        self.regular == 0 && self.shard == 0 && !self.sticky
    }
}

/// If `frame` confirms a (p|s)(un)subscribe, notes the count it reports. True if it was an
/// unsubscribe confirmation that left no subscription at all.
fn note_confirmation(subs: &mut Subscriptions, frame: &[u8], proto: Protocol) -> bool {
    let Some((confirmed, count)) = subscription_confirmation(frame, proto) else {
        return false;
    };
    if confirmed.is_shard() {
        subs.shard = count;
    } else {
        subs.regular = count;
    }
    matches!(
        confirmed,
        Confirmed::Unsubscribe | Confirmed::ShardUnsubscribe
    ) && subs.none_left()
}

impl Barrier {
    /// The barrier's answer: a bulk string of the token, or — if the connection was subscribed
    /// again by then, in RESP2 — `["pong", token]`.
    fn answered_by(&self, frame: &[u8]) -> bool {
        frame == &self.answer[..]
            || frame
                .strip_prefix(b"*2\r\n$4\r\npong\r\n".as_slice())
                .is_some_and(|rest| rest == &self.answer[..])
    }
}

/// A token no client will send: random per process, numbered per barrier.
fn barrier_token() -> Bytes {
    thread_local! {
        static NEXT: std::cell::Cell<u64> = std::cell::Cell::new(RandomState::new().build_hasher().finish());
    }
    let n = NEXT.with(|c| {
        let n = c.get();
        c.set(n.wrapping_add(1));
        n
    });
    Bytes::from(format!("ringloop-sidecar-barrier-{n:016x}"))
}

impl Proxy {
    /// A frame from a subscribed connection with nothing pending: forward it, keep count, and
    /// start or finish leaving the stream.
    pub fn on_stream_frame(&mut self, cx: &mut Ctx<'_, Client>, uid: UpId, frame: Bytes) {
        let Some(up) = self.ups.get_mut(uid) else {
            return;
        };
        let Role::Dedicated(id) = up.role else {
            return;
        };
        if up
            .subs
            .barrier
            .as_ref()
            .is_some_and(|b| b.answered_by(&frame))
        {
            up.subs.barrier = None;
            let leave = up.subs.none_left();
            if leave {
                up.passthrough = false;
            }
            self.with_client(cx, id, |proxy, cx, client| {
                client.leaving_stream = false;
                if leave {
                    client.replies.end_stream();
                    proxy.unpin_after_stream(cx, client, uid);
                }
            });
            return;
        }
        let proto = up.state.proto;
        let emptied = note_confirmation(&mut up.subs, &frame, proto);
        let send_barrier = emptied && up.subs.barrier.is_none();
        if send_barrier {
            let token = barrier_token();
            let mut ping = BytesMut::new();
            write_command(&mut ping, &[b"PING".as_slice(), &token]);
            up.link.queue(ping.freeze());
            let mut answer = BytesMut::new();
            write_bulk(&mut answer, &token);
            up.subs.barrier = Some(Barrier {
                answer: answer.freeze(),
                deadline: self.cfg.request_timeout.map(|t| Instant::now() + t),
            });
        }
        self.with_client(cx, id, |_, _, client| {
            client.replies.stream(frame);
            if send_barrier {
                client.leaving_stream = true;
            }
        });
        if send_barrier {
            self.flush_up(cx.lp(), uid);
        }
    }

    /// The stream ended: give the connection back if nothing else needs it (a `WATCH` may).
    fn unpin_after_stream(&mut self, cx: &mut Ctx<'_, Client>, client: &mut Client, uid: UpId) {
        if client.pin != Pin::Pinned(uid) || !self.ups.get(uid).is_some_and(|u| u.unneeded()) {
            return;
        }
        client.pin = Pin::None;
        self.release(cx.lp(), uid);
    }
}
