//! Pub/sub: `SUBSCRIBE`, `UNSUBSCRIBE`, `PSUBSCRIBE`, `PUNSUBSCRIBE`, `PUBLISH`, `PUBSUB`.
//!
//! Subscriptions and fan-out are the patterns' [`PubSub`](ringloop::patterns::pubsub::PubSub)
//! hub: a connection gets a subscriber (in its RESP version's format) on its first subscribe;
//! `PUBLISH` appends one shared frame per subscription to the subscribers' outboxes, and the
//! service moves them to the sockets (see `service::pump`). Pub/sub is global: `SELECT` does not
//! scope channels, as in Redis.

use bytes::Bytes;
use ringloop::patterns::pubsub::{SubscriberId, SubscriberOptions};

use super::{eq, unknown_subcommand, wrong_arity};
use crate::service::{drain_subscriber, flush, format_of, Exec};

/// The connection's subscriber, created on first use.
fn subscriber(ex: &mut Exec<'_, '_>) -> SubscriberId {
    if let Some(sid) = ex.me.sub {
        return sid;
    }
    let sid = ex.st.hub.add_subscriber(SubscriberOptions {
        format: format_of(ex.me.proto),
        policy: ex.st.cfg.pubsub_policy(),
    });
    ex.st.subscriber_conn.insert(sid, ex.me.id);
    ex.me.sub = Some(sid);
    sid
}

/// `["subscribe", channel, count]` and friends: a push in RESP3, an array in RESP2.
fn confirm(ex: &mut Exec<'_, '_>, kind: &str, name: Option<&[u8]>, count: usize) {
    ex.me.push_header(3);
    ex.me.bulk(kind.as_bytes());
    match name {
        Some(n) => ex.me.bulk(n),
        None => ex.me.null(),
    }
    ex.me.int(count as i64);
}

fn sub_common(ex: &mut Exec<'_, '_>, args: &[Bytes], pattern: bool) {
    let sid = subscriber(ex);
    let kind = if pattern { "psubscribe" } else { "subscribe" };
    for name in &args[1..] {
        let res = if pattern {
            ex.st.hub.psubscribe(sid, name)
        } else {
            ex.st.hub.subscribe(sid, name)
        };
        // An error means the subscriber was evicted: its connection is being closed.
        if let Ok(s) = res {
            if s.changed {
                if pattern {
                    ex.me.patterns += 1;
                } else {
                    ex.me.channels += 1;
                }
            }
            ex.me.subs = s.count;
            confirm(ex, kind, Some(&name[..]), s.count);
        }
    }
}

fn unsub_common(ex: &mut Exec<'_, '_>, args: &[Bytes], pattern: bool) {
    let kind = if pattern {
        "punsubscribe"
    } else {
        "unsubscribe"
    };
    let Some(sid) = ex.me.sub else {
        // Never subscribed: Redis still confirms, with a count of 0.
        if args.len() == 1 {
            confirm(ex, kind, None, 0);
        }
        for name in &args[1..] {
            confirm(ex, kind, Some(&name[..]), 0);
        }
        return;
    };
    if args.len() == 1 {
        let names = if pattern {
            ex.st.hub.punsubscribe_all(sid)
        } else {
            ex.st.hub.unsubscribe_all(sid)
        }
        .unwrap_or_default();
        if names.is_empty() {
            let n = ex.me.subs;
            return confirm(ex, kind, None, n);
        }
        for name in names {
            if pattern {
                ex.me.patterns -= 1;
            } else {
                ex.me.channels -= 1;
            }
            ex.me.subs = ex.me.channels + ex.me.patterns;
            let n = ex.me.subs;
            confirm(ex, kind, Some(&name[..]), n);
        }
        return;
    }
    for name in &args[1..] {
        let res = if pattern {
            ex.st.hub.punsubscribe(sid, name)
        } else {
            ex.st.hub.unsubscribe(sid, name)
        };
        if let Ok(s) = res {
            if s.changed {
                if pattern {
                    ex.me.patterns -= 1;
                } else {
                    ex.me.channels -= 1;
                }
            }
            ex.me.subs = s.count;
        }
        let n = ex.me.subs;
        confirm(ex, kind, Some(&name[..]), n);
    }
}

pub fn subscribe(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    sub_common(ex, args, false);
}

pub fn psubscribe(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    sub_common(ex, args, true);
}

pub fn unsubscribe(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    unsub_common(ex, args, false);
}

pub fn punsubscribe(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    unsub_common(ex, args, true);
}

pub fn publish(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let published = ex.st.hub.publish(&args[1], args[2].clone(), ex.now);
    ex.st.stats.published += 1;
    if let Some(sid) = ex.me.sub {
        // Publishing to yourself (RESP3): the message comes before the reply, as in Redis.
        flush(ex.me, ex.cx);
        drain_subscriber(ex.st, ex.cx, sid, ex.me.id, None, ex.now);
    }
    ex.me.int(published.matched() as i64);
}

pub fn pubsub(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let sub = &args[1];
    if eq(sub, "channels") {
        if args.len() > 3 {
            return ex.me.err(&wrong_arity("pubsub|channels"));
        }
        let mut chans = ex.st.hub.channels(args.get(2).map(|p| &p[..]));
        chans.sort();
        ex.me.array(chans.len());
        for c in chans {
            ex.me.bulk(&c);
        }
    } else if eq(sub, "numsub") {
        ex.me.array((args.len() - 2) * 2);
        for c in &args[2..] {
            ex.me.bulk(c);
            ex.me.int(ex.st.hub.numsub(c) as i64);
        }
    } else if eq(sub, "numpat") {
        if args.len() != 2 {
            return ex.me.err(&wrong_arity("pubsub|numpat"));
        }
        ex.me.int(ex.st.hub.numpat() as i64);
    } else if eq(sub, "help") {
        let help = [
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANNELS [<pattern>]",
            "NUMPAT",
            "NUMSUB [<channel> ...]",
            "HELP",
        ];
        ex.me.array(help.len());
        for h in help {
            ex.me.simple(h);
        }
    } else {
        unknown_subcommand(ex, "pubsub", sub);
    }
}

/// The client switched RESP version (`HELLO`): its frames must change format, so its
/// subscriptions move to a new subscriber of the right format.
pub fn reformat_subscriber(ex: &mut Exec<'_, '_>) {
    let Some(old) = ex.me.sub else {
        return;
    };
    let channels = ex.st.hub.channels_of(old).unwrap_or_default();
    let patterns = ex.st.hub.patterns_of(old).unwrap_or_default();
    // Messages already queued were encoded for the old version: send them first.
    flush(ex.me, ex.cx);
    drain_subscriber(ex.st, ex.cx, old, ex.me.id, None, ex.now);
    ex.st.hub.remove_subscriber(old);
    ex.st.subscriber_conn.remove(&old);
    ex.me.sub = None;
    let sid = subscriber(ex);
    for c in channels {
        let _ = ex.st.hub.subscribe(sid, &c);
    }
    for p in patterns {
        let _ = ex.st.hub.psubscribe(sid, &p);
    }
}

/// Every subscription goes (`RESET`).
pub fn drop_subscriber(ex: &mut Exec<'_, '_>) {
    if let Some(sid) = ex.me.sub.take() {
        ex.st.hub.remove_subscriber(sid);
        ex.st.subscriber_conn.remove(&sid);
    }
    ex.me.subs = 0;
    ex.me.channels = 0;
    ex.me.patterns = 0;
}
