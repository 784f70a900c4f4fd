//! A subscribed client's dedicated connection: its frames go to the client as they come, and
//! once the client has unsubscribed from everything the connection leaves that mode and goes
//! back to the pool.
//!
//! Knowing when "everything" is reached takes two things. The count: every
//! (p|s)(un)subscribe confirmation carries the number of subscriptions left (channels and
//! patterns together; shard channels on their own), so the sidecar keeps the last of each.
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
//! `MONITOR` never ends this way (only by the client leaving), nor does a `RESET` sent while
//! subscribed (it ends the subscriptions without confirmations; the connection stays pinned
//! until the client leaves, as before).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use bytes::{Bytes, BytesMut};
use ringloop::net::Ctx;
use ringloop::proto::resp::{write_bulk, write_command, Protocol, ReplyDecoder, Value};

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
    /// `MONITOR` was sent: the stream lasts as long as the connection.
    pub monitoring: bool,
    /// The token of the barrier `PING` sent and not answered yet.
    pub barrier: Option<Bytes>,
}

impl Subscriptions {
    fn none_left(&self) -> bool {
        self.regular == 0 && self.shard == 0 && !self.monitoring
    }
}

/// If `frame` confirms a (p|s)(un)subscribe, notes the count it reports. True if it was an
/// unsubscribe confirmation that left no subscription at all.
fn note_confirmation(subs: &mut Subscriptions, frame: &[u8], proto: Protocol) -> bool {
    // RESP2 confirmations are 3-element arrays; RESP3 ones are pushes, and a RESP3 array with
    // the same shape is an ordinary reply (a subscribed RESP3 client may run any command).
    let head: &[u8] = match proto {
        Protocol::Resp2 => b"*3\r\n",
        Protocol::Resp3 => b">3\r\n",
    };
    if !frame.starts_with(head) {
        return false;
    }
    let mut buf = BytesMut::from(frame);
    let Ok(Some(Value::Array(items) | Value::Push(items))) = ReplyDecoder::new().decode(&mut buf)
    else {
        return false;
    };
    let [Value::Bulk(kind), _, Value::Integer(count)] = items.as_slice() else {
        return false;
    };
    let kind = kind.to_ascii_lowercase();
    let (slot, unsubscribe) = match kind.as_slice() {
        b"subscribe" | b"psubscribe" => (&mut subs.regular, false),
        b"unsubscribe" | b"punsubscribe" => (&mut subs.regular, true),
        b"ssubscribe" => (&mut subs.shard, false),
        b"sunsubscribe" => (&mut subs.shard, true),
        _ => return false,
    };
    *slot = *count;
    unsubscribe && subs.none_left()
}

/// The barrier's answer: a bulk string of the token, or — if the connection was subscribed
/// again by then, in RESP2 — `["pong", token]`.
fn is_barrier_answer(frame: &[u8], token: &[u8]) -> bool {
    let mut bulk = BytesMut::new();
    write_bulk(&mut bulk, token);
    frame == &bulk[..]
        || frame
            .strip_prefix(b"*2\r\n$4\r\npong\r\n".as_slice())
            .is_some_and(|rest| rest == &bulk[..])
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
        if let Some(token) = &up.subs.barrier {
            if is_barrier_answer(&frame, token) {
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
        }
        let proto = up.state.proto;
        let emptied = note_confirmation(&mut up.subs, &frame, proto);
        let send_barrier = emptied && up.subs.barrier.is_none();
        let token = send_barrier.then(barrier_token);
        if let Some(token) = &token {
            let mut ping = BytesMut::new();
            write_command(&mut ping, &[b"PING".as_slice(), token]);
            up.link.queue(ping.freeze());
            up.subs.barrier = Some(token.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn confirm(kind: &str, channel: &str, count: i64, proto: Protocol) -> Vec<u8> {
        let head = if proto == Protocol::Resp2 { '*' } else { '>' };
        format!(
            "{head}3\r\n${}\r\n{kind}\r\n${}\r\n{channel}\r\n:{count}\r\n",
            kind.len(),
            channel.len()
        )
        .into_bytes()
    }

    #[test]
    fn counts_follow_the_confirmations() {
        let mut s = Subscriptions::default();
        let p = Protocol::Resp2;
        assert!(!note_confirmation(
            &mut s,
            &confirm("subscribe", "a", 1, p),
            p
        ));
        assert!(!note_confirmation(
            &mut s,
            &confirm("ssubscribe", "x", 1, p),
            p
        ));
        assert!(
            !note_confirmation(&mut s, &confirm("unsubscribe", "a", 0, p), p),
            "a shard channel is left"
        );
        assert!(note_confirmation(
            &mut s,
            &confirm("sunsubscribe", "x", 0, p),
            p
        ));
        // A message or a RESP3 array is no confirmation.
        assert!(!note_confirmation(
            &mut s,
            b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n",
            p
        ));
        let r3 = Protocol::Resp3;
        assert!(!note_confirmation(
            &mut s,
            &confirm("unsubscribe", "a", 0, r3)
                .iter()
                .map(|&b| if b == b'>' { b'*' } else { b })
                .collect::<Vec<_>>(),
            r3
        ));
        assert!(note_confirmation(
            &mut s,
            &confirm("unsubscribe", "a", 0, r3),
            r3
        ));
        s.monitoring = true;
        assert!(!note_confirmation(
            &mut s,
            &confirm("unsubscribe", "a", 0, p),
            p
        ));
    }

    #[test]
    fn the_barrier_answer_in_both_modes() {
        let token = barrier_token();
        let bulk = format!(
            "${}\r\n{}\r\n",
            token.len(),
            String::from_utf8_lossy(&token)
        );
        assert!(is_barrier_answer(bulk.as_bytes(), &token));
        let pong = format!("*2\r\n$4\r\npong\r\n{bulk}");
        assert!(is_barrier_answer(pong.as_bytes(), &token));
        assert!(!is_barrier_answer(b"+PONG\r\n", &token));
        assert_ne!(barrier_token(), token, "a fresh token each time");
    }
}
