//! Pub-sub: Redis fan-out semantics and counts, zero-copy frames, the ready list, both
//! slow-subscriber policies, retained history and resume (including the too-old case),
//! introspection, latency.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringloop::patterns::pubsub::{
    BytesEncoder, Delivery, EvictReason, Format, HistoryError, Message, Outgoing, PubSub,
    PubSubConfig, PubSubError, SlowPolicy, SubscriberId, SubscriberOptions,
};

type Hub = PubSub;

fn hub() -> Hub {
    PubSub::new(PubSubConfig::default())
}

fn sub(h: &mut Hub) -> SubscriberId {
    h.add_subscriber(SubscriberOptions::default())
}

fn sub_with(h: &mut Hub, policy: SlowPolicy) -> SubscriberId {
    h.add_subscriber(SubscriberOptions {
        policy,
        ..Default::default()
    })
}

/// What a subscriber received, as (channel, payload, pattern) or a skip notice.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Msg(String, String, Option<String>),
    Skipped(u64),
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn msg(ch: &str, payload: &str) -> Got {
    Got::Msg(ch.into(), payload.into(), None)
}

fn pmsg(ch: &str, payload: &str, pattern: &str) -> Got {
    Got::Msg(ch.into(), payload.into(), Some(pattern.into()))
}

fn drain(h: &mut Hub, id: SubscriberId, now: Instant) -> Vec<Got> {
    let mut out = Vec::new();
    h.drain(id, now, usize::MAX, |item| {
        out.push(match item {
            Outgoing::Message(d) => Got::Msg(
                s(&d.message.channel),
                s(&d.message.payload),
                d.pattern.as_deref().map(s),
            ),
            Outgoing::Skipped(n) => Got::Skipped(n),
        })
    })
    .expect("drain");
    out
}

fn publish(h: &mut Hub, ch: &str, payload: &str, now: Instant) -> usize {
    h.publish(
        ch.as_bytes(),
        Bytes::copy_from_slice(payload.as_bytes()),
        now,
    )
    .receivers
}

#[test]
fn fan_out_counts_follow_redis() {
    let now = Instant::now();
    let mut h = hub();
    let a = sub(&mut h);
    let b = sub(&mut h);
    let c = sub(&mut h);
    h.subscribe(a, b"news.art").unwrap();
    h.psubscribe(b, b"news.*").unwrap();
    // c matches by channel and by two patterns: three copies, as in Redis.
    h.subscribe(c, b"news.art").unwrap();
    h.psubscribe(c, b"news.*").unwrap();
    h.psubscribe(c, b"*").unwrap();

    assert_eq!(publish(&mut h, "news.art", "hi", now), 5);
    assert_eq!(drain(&mut h, a, now), [msg("news.art", "hi")]);
    assert_eq!(drain(&mut h, b, now), [pmsg("news.art", "hi", "news.*")]);
    let mut got_c = drain(&mut h, c, now);
    got_c.sort_by_key(|g| format!("{g:?}"));
    let mut want_c = vec![
        msg("news.art", "hi"),
        pmsg("news.art", "hi", "news.*"),
        pmsg("news.art", "hi", "*"),
    ];
    want_c.sort_by_key(|g| format!("{g:?}"));
    assert_eq!(got_c, want_c);

    assert_eq!(publish(&mut h, "sport", "goal", now), 1, "only c's `*`");
    assert_eq!(drain(&mut h, c, now), [pmsg("sport", "goal", "*")]);
    h.punsubscribe(c, b"*").unwrap();
    assert_eq!(publish(&mut h, "sport", "goal", now), 0);
    let st = h.stats();
    assert_eq!(st.published, 3);
    assert_eq!(st.delivered, 6);
}

#[test]
fn payload_is_shared_never_copied() {
    let now = Instant::now();
    let mut h = hub();
    let subs: Vec<_> = (0..100).map(|_| sub(&mut h)).collect();
    for &id in &subs {
        h.subscribe(id, b"ch").unwrap();
    }
    h.psubscribe(subs[0], b"c*").unwrap();
    let payload = Bytes::from(vec![7u8; 4096]);
    let ptr = payload.as_ptr();
    assert_eq!(h.publish(b"ch", payload, now).receivers, 101);
    let mut frames: Vec<Rc<Delivery>> = Vec::new();
    for &id in &subs {
        while let Some(Outgoing::Message(d)) = h.pop(id, now).unwrap() {
            frames.push(d);
        }
    }
    assert_eq!(frames.len(), 101);
    assert!(frames.iter().all(|d| d.message.payload.as_ptr() == ptr));
    // One frame per route: 100 channel deliveries share one Rc, the pattern one another.
    let channel_frames = frames.iter().filter(|d| d.pattern.is_none()).count();
    assert_eq!(channel_frames, 100);
    let first = frames.iter().find(|d| d.pattern.is_none()).unwrap();
    assert!(frames
        .iter()
        .filter(|d| d.pattern.is_none())
        .all(|d| Rc::ptr_eq(d, first)));
}

#[test]
fn encoder_runs_once_per_route_and_format() {
    let now = Instant::now();
    let calls = Rc::new(Cell::new(0));
    let counter = calls.clone();
    let encoder = BytesEncoder(move |f: Format, m: &Message, p: Option<&Bytes>| {
        counter.set(counter.get() + 1);
        let kind = if p.is_some() { "pmessage" } else { "message" };
        Bytes::from(format!("{}:{kind}:{}", f.0, s(&m.payload)))
    });
    let mut h = PubSub::with_encoder(encoder, PubSubConfig::default());
    let mut ids = Vec::new();
    for i in 0..1000u32 {
        let id = h.add_subscriber(SubscriberOptions {
            format: Format((i % 2) as u8),
            ..Default::default()
        });
        h.subscribe(id, b"ch").unwrap();
        ids.push(id);
    }
    h.psubscribe(ids[0], b"c?").unwrap();
    let sent = h.publish(b"ch", Bytes::from_static(b"x"), now);
    assert_eq!(sent.receivers, 1001);
    assert_eq!(
        calls.get(),
        3,
        "two formats on the channel route, one on the pattern route"
    );
    let first = h.pop(ids[0], now).unwrap();
    let second = h.pop(ids[2], now).unwrap();
    match (first, second) {
        (Some(Outgoing::Message(a)), Some(Outgoing::Message(b))) => {
            assert_eq!(a, "0:message:x");
            assert_eq!(a.as_ptr(), b.as_ptr(), "the same frame bytes for both");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.pop(ids[0], now).unwrap(),
        Some(Outgoing::Message(Bytes::from_static(b"0:pmessage:x")))
    );
    assert_eq!(h.outbox(ids[1]).unwrap().bytes, "1:message:x".len());
}

#[test]
fn messages_arrive_in_publish_order() {
    let now = Instant::now();
    let mut h = hub();
    let id = sub(&mut h);
    h.subscribe(id, b"a").unwrap();
    h.subscribe(id, b"b").unwrap();
    let mut want = Vec::new();
    for i in 0..1000 {
        let ch = if i % 3 == 0 { "a" } else { "b" };
        publish(&mut h, ch, &i.to_string(), now);
        want.push(msg(ch, &i.to_string()));
    }
    assert_eq!(drain(&mut h, id, now), want);
}

#[test]
fn ready_list_names_each_subscriber_once() {
    let now = Instant::now();
    let mut h = hub();
    let a = sub(&mut h);
    let b = sub(&mut h);
    let idle = sub(&mut h);
    h.subscribe(a, b"x").unwrap();
    h.subscribe(b, b"x").unwrap();
    h.subscribe(idle, b"y").unwrap();
    for _ in 0..10 {
        publish(&mut h, "x", "m", now);
    }
    let mut ready = Vec::new();
    h.take_ready(&mut ready);
    ready.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(ready, want);
    ready.clear();
    h.take_ready(&mut ready);
    assert!(ready.is_empty(), "nothing new");
    // Still undrained, a new message flags again (the host may have stopped halfway).
    publish(&mut h, "x", "m", now);
    h.remove_subscriber(b);
    h.take_ready(&mut ready);
    assert_eq!(ready, [a], "removed subscribers are not reported");
    assert_eq!(h.outbox(a).unwrap().messages, 11);
}

#[test]
fn subscriptions_and_introspection() {
    let mut h = hub();
    let a = sub(&mut h);
    let b = sub(&mut h);
    let c = sub(&mut h);
    let r = h.subscribe(a, b"news").unwrap();
    assert!(r.changed);
    assert_eq!(r.count, 1);
    assert!(
        !h.subscribe(a, b"news").unwrap().changed,
        "already subscribed"
    );
    assert_eq!(h.subscribe(a, b"sport").unwrap().count, 2);
    assert_eq!(h.psubscribe(a, b"n*").unwrap().count, 3);
    assert!(!h.psubscribe(a, b"n*").unwrap().changed);
    h.subscribe(b, b"news").unwrap();
    h.subscribe(c, b"news").unwrap();
    h.psubscribe(b, b"n*").unwrap();
    h.psubscribe(b, b"s*").unwrap();

    assert_eq!(h.numsub(b"news"), 3);
    assert_eq!(h.numsub(b"sport"), 1);
    assert_eq!(h.numsub(b"none"), 0);
    assert_eq!(h.numpat(), 2, "distinct patterns");
    let mut all = h.channels(None);
    all.sort();
    assert_eq!(all, [&b"news"[..], b"sport"]);
    assert_eq!(h.channels(Some(b"s*")), [&b"sport"[..]]);
    assert_eq!(h.subscription_count(a).unwrap(), 3);
    let mut chans = h.channels_of(a).unwrap();
    chans.sort();
    assert_eq!(chans, [&b"news"[..], b"sport"]);
    assert_eq!(h.patterns_of(a).unwrap(), [&b"n*"[..]]);

    // Swap-remove bookkeeping: remove the first subscriber of "news", then the one that moved.
    assert_eq!(h.unsubscribe(a, b"news").unwrap().count, 2);
    assert_eq!(h.unsubscribe(c, b"news").unwrap().count, 0);
    assert_eq!(h.numsub(b"news"), 1);
    let now = Instant::now();
    assert_eq!(
        publish(&mut h, "news", "m", now),
        3,
        "b by channel, a and b by n*"
    );
    assert_eq!(drain(&mut h, c, now), []);

    let mut left = h.unsubscribe_all(a).unwrap();
    left.sort();
    assert_eq!(left, [&b"sport"[..]]);
    assert_eq!(h.punsubscribe_all(a).unwrap(), [&b"n*"[..]]);
    assert_eq!(h.subscription_count(a).unwrap(), 0);
    assert!(!h.unsubscribe(a, b"news").unwrap().changed);
    assert!(!h.punsubscribe(a, b"zz").unwrap().changed);
    assert_eq!(h.numpat(), 2, "b still holds both");

    // Removing b leaves no trace: no channel, no pattern.
    assert!(h.remove_subscriber(b));
    assert!(!h.remove_subscriber(b));
    assert_eq!(h.numpat(), 0);
    assert!(h.channels(None).is_empty());
    let st = h.stats();
    assert_eq!((st.channels, st.patterns, st.subscribers), (0, 0, 2));
}

#[test]
fn stale_ids_never_match_new_subscribers() {
    let mut h = hub();
    let a = sub(&mut h);
    h.remove_subscriber(a);
    let b = sub(&mut h); // probably reuses the slot
    assert_ne!(a, b);
    assert_eq!(h.subscribe(a, b"x"), Err(PubSubError::UnknownSubscriber));
    assert_eq!(
        h.pop(a, Instant::now()),
        Err(PubSubError::UnknownSubscriber)
    );
    assert!(h.contains(b));
    assert!(!h.contains(a));
}

#[test]
fn disconnect_policy_hard_limit_evicts_only_the_slow_one() {
    let now = Instant::now();
    let mut h = hub();
    let policy = SlowPolicy::Disconnect {
        hard_limit: 100,
        soft_limit: 0,
        soft_time: Duration::ZERO,
    };
    let slow = sub_with(&mut h, policy);
    let fast = sub_with(&mut h, policy);
    h.subscribe(slow, b"c").unwrap();
    h.psubscribe(slow, b"*").unwrap();
    h.subscribe(fast, b"c").unwrap();
    let mut fast_got = 0;
    let mut evicted_at = None;
    for i in 0..20 {
        // Frame size: 1 (channel) + 9 (payload) = 10 bytes.
        let r = h.publish(b"c", Bytes::from_static(b"123456789"), now);
        fast_got += drain(&mut h, fast, now).len();
        if r.evicted > 0 && evicted_at.is_none() {
            evicted_at = Some(i);
            // slow's channel frame fit (94 bytes), its pattern frame hit the limit.
            assert_eq!((r.receivers, r.evicted, r.matched()), (2, 1, 3));
        }
        if evicted_at.is_some_and(|at| at < i) {
            assert_eq!((r.receivers, r.matched()), (1, 1), "slow is unsubscribed");
        }
    }
    // slow gets 2 frames per publish: 10 bytes by channel, 11 by pattern (the raw encoder counts
    // the pattern too). After 4 publishes it holds 84 bytes; the 5th brings 94, then 105.
    assert_eq!(evicted_at, Some(4));
    assert_eq!(fast_got, 20, "the fast subscriber got everything");
    assert_eq!(
        h.evicted(slow).unwrap(),
        Some(EvictReason::HardLimit {
            bytes: 105,
            limit: 100
        })
    );
    let mut ready = Vec::new();
    h.take_ready(&mut ready);
    assert!(
        ready.contains(&slow),
        "the host is told, to close the connection"
    );
    assert!(matches!(h.pop(slow, now), Err(PubSubError::Evicted(_))));
    assert!(matches!(
        h.subscribe(slow, b"c"),
        Err(PubSubError::Evicted(_))
    ));
    assert_eq!(h.numsub(b"c"), 1, "evicted subscriptions are gone");
    assert_eq!(h.numpat(), 0);
    assert_eq!(h.outbox(slow).unwrap().bytes, 0, "its outbox is freed");
    assert_eq!(h.stats().evicted, 1);
    assert!(h.remove_subscriber(slow));
}

#[test]
fn disconnect_policy_soft_limit_needs_to_last() {
    let t0 = Instant::now();
    let mut h = hub();
    let id = sub_with(
        &mut h,
        SlowPolicy::Disconnect {
            hard_limit: 0,
            soft_limit: 20,
            soft_time: Duration::from_secs(60),
        },
    );
    h.subscribe(id, b"c").unwrap();
    let at = |s| t0 + Duration::from_secs(s);
    for _ in 0..3 {
        h.publish(b"c", Bytes::from_static(b"123456789"), at(0)); // 30 bytes: over soft
    }
    assert_eq!(h.outbox(id).unwrap().over_soft_limit_since, Some(at(0)));
    h.publish(b"c", Bytes::from_static(b"123456789"), at(60));
    assert_eq!(h.evicted(id).unwrap(), None, "60 s is not *more* than 60 s");
    // Draining below the limit and growing again restarts the clock.
    drain(&mut h, id, at(60));
    h.publish(b"c", Bytes::from_static(b"123456789"), at(61));
    assert_eq!(h.outbox(id).unwrap().over_soft_limit_since, None);
    for _ in 0..2 {
        h.publish(b"c", Bytes::from_static(b"123456789"), at(62));
    }
    assert_eq!(h.outbox(id).unwrap().over_soft_limit_since, Some(at(62)));
    let r = h.publish(b"c", Bytes::from_static(b"123456789"), at(123));
    assert_eq!(r.evicted, 1);
    assert!(matches!(
        h.evicted(id).unwrap(),
        Some(EvictReason::SoftLimit { limit: 20, over_for, .. }) if over_for == Duration::from_secs(61)
    ));
}

#[test]
fn default_policy_is_redis_32mb_hard_limit() {
    let now = Instant::now();
    let mut h = hub();
    let id = sub(&mut h);
    h.subscribe(id, b"c").unwrap();
    let mib = Bytes::from(vec![0u8; 1 << 20]); // shared: 32 deliveries cost one MiB of memory
    let mut published = 0;
    while h.evicted(id).unwrap().is_none() {
        h.publish(b"c", mib.clone(), now);
        published += 1;
        assert!(published <= 40);
    }
    // 31 frames of 1 MiB + 1 byte fit; the 32nd would reach 32 MiB.
    assert_eq!(published, 32);
}

#[test]
fn drop_oldest_policy_tells_the_subscriber_what_it_missed() {
    let now = Instant::now();
    let mut h = hub();
    let slow = sub_with(&mut h, SlowPolicy::drop_oldest(3));
    let fast = sub(&mut h);
    h.subscribe(slow, b"c").unwrap();
    h.subscribe(fast, b"c").unwrap();
    let mut fast_got = Vec::new();
    for i in 0..10 {
        assert_eq!(publish(&mut h, "c", &i.to_string(), now), 2);
        fast_got.extend(drain(&mut h, fast, now));
    }
    assert_eq!(fast_got.len(), 10);
    assert_eq!(
        drain(&mut h, slow, now),
        [Got::Skipped(7), msg("c", "7"), msg("c", "8"), msg("c", "9")]
    );
    publish(&mut h, "c", "10", now);
    assert_eq!(
        drain(&mut h, slow, now),
        [msg("c", "10")],
        "no stale notice"
    );
    assert_eq!(h.outbox(slow).unwrap().skipped_total, 7);
    assert_eq!(h.stats().skipped, 7);
    assert_eq!(h.evicted(slow).unwrap(), None, "never disconnected");
}

#[test]
fn drop_oldest_by_bytes_and_oversized_messages() {
    let now = Instant::now();
    let mut h = hub();
    let id = sub_with(
        &mut h,
        SlowPolicy::DropOldest {
            max_messages: 100,
            max_bytes: 25,
        },
    );
    h.subscribe(id, b"c").unwrap();
    for p in ["aaaaaaaaa", "bbbbbbbbb", "ccccccccc"] {
        publish(&mut h, "c", p, now); // 10 bytes each: the third pushes out the first
    }
    assert_eq!(h.outbox(id).unwrap().bytes, 20);
    // Larger than the whole outbox: skipped itself, not counted as received.
    let r = h.publish(b"c", Bytes::from("x".repeat(40)), now);
    assert_eq!((r.receivers, r.skipped, r.matched()), (0, 1, 1));
    let mut ready = Vec::new();
    h.take_ready(&mut ready);
    assert_eq!(ready, [id]);
    assert_eq!(
        drain(&mut h, id, now),
        [
            Got::Skipped(2),
            msg("c", "bbbbbbbbb"),
            msg("c", "ccccccccc")
        ]
    );
}

fn history_ids(h: &Hub, ch: &[u8], after: u64) -> Result<Vec<u64>, HistoryError> {
    h.history_after(ch, after).map(|it| {
        it.map(|m| m.id.expect("retained messages have ids"))
            .collect()
    })
}

#[test]
fn history_resume_after_id() {
    let now = Instant::now();
    let mut h = hub();
    h.retain(b"feed", 3);
    assert_eq!(h.last_id(b"feed"), Some(0));
    for i in 1..=5u64 {
        let r = h.publish(b"feed", Bytes::from(format!("m{i}")), now);
        assert_eq!(r.id, Some(i), "ids are per channel, from 1");
        assert_eq!(r.receivers, 0, "no subscriber: retained anyway");
    }
    let after = |h: &Hub, x| history_ids(h, b"feed", x);
    assert_eq!(after(&h, 2), Ok(vec![3, 4, 5]));
    assert_eq!(after(&h, 4), Ok(vec![5]));
    assert_eq!(after(&h, 5), Ok(vec![]), "up to date");
    let too_old = after(&h, 1).unwrap_err();
    assert_eq!(
        too_old,
        HistoryError::TooOld {
            after: 1,
            oldest: Some(3),
            last: 5
        }
    );
    assert_eq!(too_old.missed(), 1, "id 2 is gone for good");
    assert_eq!(after(&h, 0).unwrap_err().missed(), 2);
    assert_eq!(after(&h, 9), Err(HistoryError::Ahead { after: 9, last: 5 }));
    assert!(matches!(
        h.history_after(b"other", 0),
        Err(HistoryError::NotRetained)
    ));
    assert_eq!(
        h.history(b"feed")
            .unwrap()
            .map(|m| s(&m.payload))
            .collect::<Vec<_>>(),
        ["m3", "m4", "m5"]
    );
    assert_eq!(h.retained_messages(), 3);

    // SSE reconnect with Last-Event-ID 3: replay then subscribe — no gap, no duplicate.
    let id = sub(&mut h);
    assert_eq!(h.replay(id, b"feed", Some(3), now), Ok(2));
    h.subscribe(id, b"feed").unwrap();
    h.publish(b"feed", Bytes::from_static(b"m6"), now);
    assert_eq!(
        drain(&mut h, id, now),
        [msg("feed", "m4"), msg("feed", "m5"), msg("feed", "m6")]
    );
    assert_eq!(
        h.latency().len(),
        1,
        "replayed frames are not latency samples"
    );

    // Too old: explicit, and nothing is queued.
    let late = sub(&mut h);
    assert_eq!(
        h.replay(late, b"feed", Some(1), now),
        Err(PubSubError::History(HistoryError::TooOld {
            after: 1,
            oldest: Some(4),
            last: 6
        }))
    );
    assert_eq!(h.outbox(late).unwrap().messages, 0);
    assert_eq!(
        h.replay(late, b"feed", None, now),
        Ok(3),
        "everything retained"
    );
}

#[test]
fn history_capacity_changes_and_forgetting() {
    let now = Instant::now();
    let mut h = PubSub::new(PubSubConfig { default_history: 2 });
    for i in 0..4 {
        h.publish(b"auto", Bytes::from(i.to_string()), now);
    }
    assert_eq!(
        h.last_id(b"auto"),
        Some(4),
        "default history on first publish"
    );
    assert_eq!(h.history(b"auto").unwrap().count(), 2);
    h.retain(b"auto", 1);
    assert_eq!(
        h.history(b"auto")
            .unwrap()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        [Some(4)]
    );
    h.retain(b"auto", 0);
    assert_eq!(h.last_id(b"auto"), None);
    assert!(h.history(b"auto").is_err());
    // Forgotten with no subscriber: ids start again.
    h.publish(b"auto", Bytes::new(), now);
    assert_eq!(h.last_id(b"auto"), Some(1));
    assert_eq!(h.stats().retaining_channels, 1);
}

#[test]
fn latency_is_measured_from_publish_to_hand_off() {
    let t0 = Instant::now();
    let mut h = hub();
    let id = sub(&mut h);
    h.subscribe(id, b"c").unwrap();
    for i in 0..100u64 {
        h.publish(b"c", Bytes::new(), t0 + Duration::from_micros(i));
    }
    let handed = t0 + Duration::from_millis(5);
    drain(&mut h, id, handed);
    let lat = h.latency();
    assert_eq!(lat.len(), 100);
    assert_eq!(lat.max(), Some(Duration::from_millis(5)));
    assert_eq!(lat.min(), Some(Duration::from_micros(4901)));
    let p50 = lat.quantile(0.5).unwrap();
    assert!(p50 >= Duration::from_micros(4950) && p50 <= Duration::from_millis(5));
    assert_eq!(h.stats().handed_off, 100);
    h.latency_mut().reset();
    assert!(h.latency().is_empty());
}
