//! Push-pull job queues, behaviour by behaviour: order, limits, priority, delay, long polling,
//! leases, redelivery, dead-lettering, prefetch, consumer loss, stats. (The model-based property
//! test is `patterns_pushpull_model.rs`.)

use std::time::{Duration, Instant};

use bytes::Bytes;
use ringloop::patterns::pushpull::{
    ConsumerId, ConsumerOptions, Delivery, Event, JobId, PullRequest, Pulled, PushOptions,
    QueueConfig, QueueError, Queues, QueuesConfig, Returned, Wait,
};

fn queues() -> Queues {
    Queues::new(QueuesConfig::default())
}

fn at(t: Instant, millis: u64) -> Instant {
    t + Duration::from_millis(millis)
}

fn push(q: &mut Queues, name: &str, payload: &str, now: Instant) -> JobId {
    q.push(
        name.as_bytes(),
        Bytes::copy_from_slice(payload.as_bytes()),
        PushOptions::default(),
        now,
    )
    .expect("push")
}

fn texts(ds: &[Delivery]) -> Vec<String> {
    ds.iter()
        .map(|d| String::from_utf8_lossy(&d.payload).into_owned())
        .collect()
}

fn pull(
    q: &mut Queues,
    c: ConsumerId,
    name: &str,
    req: PullRequest,
    now: Instant,
) -> Vec<Delivery> {
    match q.pull(c, &[name.as_bytes()], req, now).expect("pull") {
        Pulled::Jobs { deliveries, .. } => deliveries,
        Pulled::Empty => Vec::new(),
        Pulled::Waiting(w) => panic!("unexpectedly parked as {w}"),
    }
}

fn pop_all(q: &mut Queues, c: ConsumerId, name: &str, now: Instant) -> Vec<String> {
    texts(&pull(q, c, name, PullRequest::pop(usize::MAX), now))
}

fn events(q: &mut Queues) -> Vec<Event> {
    let mut ev = Vec::new();
    q.take_events(&mut ev);
    ev
}

#[test]
fn fifo_with_both_ends() {
    let t = Instant::now();
    let mut q = queues();
    let c = q.add_consumer(ConsumerOptions::default());
    for p in ["a", "b", "c"] {
        push(&mut q, "q", p, t);
    }
    q.push(
        b"q",
        Bytes::from_static(b"z"),
        PushOptions::default().front(),
        t,
    )
    .unwrap();
    assert_eq!(q.len(b"q"), 4);
    assert_eq!(
        q.ready_jobs(b"q")
            .map(|(_, p)| p.clone())
            .collect::<Vec<_>>(),
        ["z", "a", "b", "c"]
    );
    assert_eq!(
        texts(&pull(&mut q, c, "q", PullRequest::pop(1).from_back(), t)),
        ["c"],
        "RPOP"
    );
    assert_eq!(pop_all(&mut q, c, "q", t), ["z", "a", "b"]);
    // LPUSH q 1 2 3 leaves 3 2 1, as in Redis.
    let ps = [
        Bytes::from_static(b"1"),
        Bytes::from_static(b"2"),
        Bytes::from_static(b"3"),
    ];
    let first = q
        .push_all(b"q", ps, PushOptions::default().front(), t)
        .unwrap();
    assert_eq!(pop_all(&mut q, c, "q", t), ["3", "2", "1"]);
    assert_eq!(first, JobId(5), "ids are consecutive and global");
    assert!(q.is_empty(b"q"));
}

#[test]
fn pop_is_at_most_once() {
    let t = Instant::now();
    let mut q = queues();
    let c = q.add_consumer(ConsumerOptions::default());
    push(&mut q, "q", "once", t);
    let got = pull(&mut q, c, "q", PullRequest::pop(5), t);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].lease, None);
    assert_eq!(got[0].attempt, 1);
    let st = q.stats(b"q").unwrap();
    assert_eq!(
        (st.ready, st.reserved, st.bytes, st.delivered),
        (0, 0, 0, 1)
    );
    assert_eq!(pull(&mut q, c, "q", PullRequest::pop(5), t), []);
}

#[test]
fn bounded_by_jobs_and_bytes() {
    let t = Instant::now();
    let mut q = queues();
    let c = q.add_consumer(ConsumerOptions::default());
    q.declare(
        b"small",
        QueueConfig {
            max_jobs: 2,
            max_bytes: 10,
            ..QueueConfig::default()
        },
    )
    .unwrap();
    push(&mut q, "small", "1234", t);
    push(&mut q, "small", "5678", t);
    let err = q
        .push(
            b"small",
            Bytes::from_static(b"x"),
            PushOptions::default(),
            t,
        )
        .unwrap_err();
    assert_eq!(
        err,
        QueueError::Full {
            queue: Bytes::from_static(b"small"),
            jobs: 2,
            bytes: 8,
            max_jobs: 2,
            max_bytes: 10
        }
    );
    assert!(err.to_string().contains("is full"), "{err}");
    // A reserved job still counts: the queue is not a way around its own limit.
    let held = pull(
        &mut q,
        c,
        "small",
        PullRequest::reserve(1, Duration::from_secs(9)),
        t,
    );
    assert!(q
        .push(
            b"small",
            Bytes::from_static(b"x"),
            PushOptions::default(),
            t
        )
        .is_err());
    q.ack(held[0].lease.unwrap()).unwrap();
    // Bytes: 4 held, 7 more would make 11 > 10. All-or-nothing for a batch.
    let batch = [Bytes::from_static(b"abc"), Bytes::from_static(b"defg")];
    assert!(matches!(
        q.push_all(b"small", batch.clone(), PushOptions::default(), t),
        Err(QueueError::Full { .. })
    ));
    assert_eq!(q.len(b"small"), 1, "nothing of the batch was pushed");
    push(&mut q, "small", "123456", t);
    let st = q.stats(b"small").unwrap();
    assert_eq!((st.pushed, st.refused, st.bytes), (3, 4, 10));
}

#[test]
fn priority_lower_first_fifo_within() {
    let t = Instant::now();
    let mut q = queues();
    let c = q.add_consumer(ConsumerOptions::default());
    for (p, prio) in [("low1", 5), ("hi1", 0), ("low2", 5), ("mid", 2), ("hi2", 0)] {
        q.push(
            b"q",
            Bytes::from_static(p.as_bytes()),
            PushOptions::default().priority(prio),
            t,
        )
        .unwrap();
    }
    let got = pull(&mut q, c, "q", PullRequest::pop(10), t);
    assert_eq!(texts(&got), ["hi1", "hi2", "mid", "low1", "low2"]);
    assert_eq!(got[2].priority, 2);
}

#[test]
fn delayed_jobs_become_ready_on_time_at_the_back() {
    let t = Instant::now();
    let mut q = queues();
    let c = q.add_consumer(ConsumerOptions::default());
    q.push(
        b"q",
        Bytes::from_static(b"later"),
        PushOptions::default().ready_at(at(t, 10)),
        t,
    )
    .unwrap();
    q.push(
        b"q",
        Bytes::from_static(b"past"),
        PushOptions::default().ready_at(t),
        t,
    )
    .unwrap();
    assert_eq!(q.stats(b"q").unwrap().delayed, 1);
    assert_eq!(q.next_deadline(), Some(at(t, 10)));
    push(&mut q, "q", "now", t);
    assert_eq!(pop_all(&mut q, c, "q", at(t, 9)), ["past", "now"]);
    push(&mut q, "q", "newer", at(t, 9));
    assert_eq!(
        pop_all(&mut q, c, "q", at(t, 10)),
        ["newer", "later"],
        "due jobs join the back when they become ready"
    );
    assert_eq!(q.next_deadline(), None);
}

#[test]
fn parked_pulls_are_served_fifo_after_the_command() {
    let t = Instant::now();
    let mut q = queues();
    let c1 = q.add_consumer(ConsumerOptions::default());
    let c2 = q.add_consumer(ConsumerOptions::default());
    let w1 = q
        .pull(c1, &[b"q"], PullRequest::pop(1).wait(Wait::Forever), t)
        .unwrap();
    let w2 = q
        .pull(c2, &[b"q"], PullRequest::pop(5).wait(Wait::Forever), t)
        .unwrap();
    let (Pulled::Waiting(w1), Pulled::Waiting(w2)) = (w1, w2) else {
        panic!("both park");
    };
    assert_eq!(q.stats(b"q").unwrap().waiting, 2);
    let batch = [
        Bytes::from_static(b"j1"),
        Bytes::from_static(b"j2"),
        Bytes::from_static(b"j3"),
    ];
    q.push_all(b"q", batch, PushOptions::default(), t).unwrap();
    assert!(!q.has_events(), "nobody is served inside the push");
    assert_eq!(
        q.len(b"q"),
        3,
        "the whole batch landed first (LPUSH reply = 3)"
    );
    q.process(t);
    let ev = events(&mut q);
    assert_eq!(ev.len(), 2);
    match (&ev[0], &ev[1]) {
        (
            Event::Served {
                waiter: a,
                consumer: ca,
                queue,
                deliveries: da,
            },
            Event::Served {
                waiter: b,
                consumer: cb,
                deliveries: db,
                ..
            },
        ) => {
            assert_eq!(
                (*a, *ca, *b, *cb),
                (w1, c1, w2, c2),
                "first come, first served"
            );
            assert_eq!(queue, "q");
            assert_eq!(texts(da), ["j1"], "w1 asked for one");
            assert_eq!(texts(db), ["j2", "j3"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(q.waiting(), 0);
}

#[test]
fn timeouts_fire_on_time_and_leave_no_waiter() {
    let t = Instant::now();
    let mut q = queues();
    let c = q.add_consumer(ConsumerOptions::default());
    let req = PullRequest::pop(1).wait(Wait::timeout(Duration::from_millis(100), t));
    let Pulled::Waiting(w) = q.pull(c, &[b"q"], req, t).unwrap() else {
        panic!("parks");
    };
    assert_eq!(q.next_deadline(), Some(at(t, 100)));
    q.process(at(t, 99));
    assert!(events(&mut q).is_empty());
    q.process(at(t, 100));
    assert_eq!(
        events(&mut q),
        [Event::TimedOut {
            waiter: w,
            consumer: c
        }]
    );
    assert_eq!(q.waiting(), 0);
    assert_eq!(q.next_deadline(), None);
    assert!(!q.cancel_wait(w), "already gone");
    push(&mut q, "q", "late", at(t, 101));
    q.process(at(t, 101));
    assert!(events(&mut q).is_empty(), "nobody left to serve");
    assert_eq!(q.len(b"q"), 1);
    // A timeout of 0 means forever; a deadline already past does not park.
    assert_eq!(Wait::timeout(Duration::ZERO, t), Wait::Forever);
    let req = PullRequest::pop(1).wait(Wait::Until(t));
    assert_eq!(
        q.pull(c, &[b"empty"], req, at(t, 1)).unwrap(),
        Pulled::Empty
    );
}

#[test]
fn one_pull_may_wait_on_several_queues() {
    let t = Instant::now();
    let mut q = queues();
    let c = q.add_consumer(ConsumerOptions::default());
    push(&mut q, "b", "from-b", t);
    push(&mut q, "c", "from-c", t);
    // Immediate: the first queue with jobs, in argument order.
    let got = q
        .pull(c, &[b"a", b"c", b"b"], PullRequest::pop(9), t)
        .unwrap();
    assert_eq!(
        got,
        Pulled::Jobs {
            queue: Bytes::from_static(b"c"),
            deliveries: vec![Delivery {
                job: JobId(2),
                payload: Bytes::from_static(b"from-c"),
                priority: 0,
                attempt: 1,
                lease: None,
                lease_deadline: None
            }]
        }
    );
    pop_all(&mut q, c, "b", t);
    let Pulled::Waiting(w) = q
        .pull(c, &[b"a", b"b"], PullRequest::pop(1).wait(Wait::Forever), t)
        .unwrap()
    else {
        panic!("parks on both");
    };
    push(&mut q, "b", "x", t);
    q.process(t);
    match &events(&mut q)[..] {
        [Event::Served { waiter, queue, .. }] => {
            assert_eq!(*waiter, w);
            assert_eq!(queue, "b");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(q.waiting(), 0, "served once, gone from both queues");
    push(&mut q, "a", "y", t);
    q.process(t);
    assert!(events(&mut q).is_empty());
}

#[test]
fn cancelled_and_disconnected_waiters_leave_no_trace() {
    let t = Instant::now();
    let mut q = queues();
    let c1 = q.add_consumer(ConsumerOptions::default());
    let c2 = q.add_consumer(ConsumerOptions::default());
    let wait = PullRequest::pop(1).wait(Wait::Until(at(t, 50)));
    let Pulled::Waiting(w1) = q.pull(c1, &[b"q"], wait, t).unwrap() else {
        panic!()
    };
    q.pull(c2, &[b"q", b"r"], wait, t).unwrap();
    assert!(q.cancel_wait(w1));
    q.remove_consumer(c2, t).unwrap();
    assert_eq!(q.waiting(), 0);
    assert_eq!(q.next_deadline(), None, "their deadlines are gone too");
    push(&mut q, "q", "j", t);
    q.process(at(t, 60));
    assert!(events(&mut q).is_empty());
    assert_eq!(
        q.pull(c2, &[b"q"], wait, t),
        Err(QueueError::UnknownConsumer)
    );
}

#[test]
fn reserve_ack_nack_touch() {
    let t = Instant::now();
    let mut q = queues();
    let c = q.add_consumer(ConsumerOptions::default());
    for p in ["j1", "j2", "j3"] {
        push(&mut q, "q", p, t);
    }
    let lease = Duration::from_secs(30);
    let d = pull(&mut q, c, "q", PullRequest::reserve(1, lease), t);
    assert_eq!(texts(&d), ["j1"]);
    let l1 = d[0].lease.unwrap();
    assert_eq!(d[0].lease_deadline, Some(t + lease));
    assert_eq!(q.lease(l1), Some((d[0].job, t + lease)));
    assert_eq!(q.held_by(c).unwrap(), 1);
    assert_eq!(q.stats(b"q").unwrap().reserved, 1);

    // Nack without delay: back at the front, before newer jobs; the next delivery is attempt 2.
    assert_eq!(q.nack(l1, None, t), Ok(Returned::Ready));
    assert_eq!(q.nack(l1, None, t), Err(QueueError::UnknownLease(l1)));
    let d = pull(&mut q, c, "q", PullRequest::reserve(1, lease), t);
    assert_eq!((texts(&d), d[0].attempt), (vec!["j1".to_string()], 2));
    assert_ne!(d[0].lease, Some(l1), "a new lease per delivery");

    // Touch moves the deadline; the old one passes harmlessly.
    let l = d[0].lease.unwrap();
    assert_eq!(q.touch(l, None, at(t, 20_000)), Ok(at(t, 50_000)));
    q.process(at(t, 30_000));
    assert_eq!(
        q.held_by(c).unwrap(),
        1,
        "still held after the original deadline"
    );
    assert_eq!(
        q.touch(l, Some(Duration::from_secs(1)), at(t, 30_000)),
        Ok(at(t, 31_000))
    );

    // Nack with delay: ready again after it, at the back.
    assert_eq!(
        q.nack(l, Some(Duration::from_secs(5)), at(t, 30_000)),
        Ok(Returned::Delayed(at(t, 35_000)))
    );
    assert_eq!(q.stats(b"q").unwrap().delayed, 1);
    assert_eq!(pop_all(&mut q, c, "q", at(t, 34_999)), ["j2", "j3"]);
    assert_eq!(pop_all(&mut q, c, "q", at(t, 35_000)), ["j1"]);

    // Ack ends it.
    push(&mut q, "q", "j4", t);
    let d = pull(&mut q, c, "q", PullRequest::reserve(1, lease), t);
    let l4 = d[0].lease.unwrap();
    assert_eq!(q.ack(l4), Ok(d[0].job));
    assert_eq!(q.ack(l4), Err(QueueError::UnknownLease(l4)));
    assert_eq!(q.touch(l4, None, t), Err(QueueError::UnknownLease(l4)));
    let st = q.stats(b"q").unwrap();
    assert_eq!(
        (st.acked, st.nacked, st.redelivered, st.reserved, st.bytes),
        (1, 2, 2, 0, 0)
    );
}

#[test]
fn expired_lease_returns_the_job_to_its_place() {
    let t = Instant::now();
    let mut q = queues();
    let slow = q.add_consumer(ConsumerOptions::default());
    let other = q.add_consumer(ConsumerOptions::default());
    for p in ["j1", "j2", "j3"] {
        push(&mut q, "q", p, t);
    }
    let d = pull(
        &mut q,
        slow,
        "q",
        PullRequest::reserve(2, Duration::from_millis(10)),
        t,
    );
    assert_eq!(texts(&d), ["j1", "j2"]);
    assert_eq!(q.next_deadline(), Some(at(t, 10)));
    q.process(at(t, 10));
    assert_eq!(q.held_by(slow).unwrap(), 0);
    let st = q.stats(b"q").unwrap();
    assert_eq!((st.expired, st.ready, st.reserved), (2, 3, 0));
    let again = pull(&mut q, other, "q", PullRequest::pop(9), at(t, 10));
    assert_eq!(
        texts(&again),
        ["j1", "j2", "j3"],
        "FIFO survives redelivery"
    );
    assert_eq!(
        again.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        [2, 2, 1]
    );
    // The slow consumer's late ack is refused: someone else has the job now.
    let late = d[0].lease.unwrap();
    assert_eq!(q.ack(late), Err(QueueError::UnknownLease(late)));
}

#[test]
fn a_pull_sees_expired_leases_even_before_the_timer() {
    let t = Instant::now();
    let mut q = queues();
    let c = q.add_consumer(ConsumerOptions::default());
    push(&mut q, "q", "j", t);
    pull(
        &mut q,
        c,
        "q",
        PullRequest::reserve(1, Duration::from_millis(5)),
        t,
    );
    // No process() call: the pull itself settles what is due at its `now`.
    assert_eq!(pop_all(&mut q, c, "q", at(t, 5)), ["j"]);
}

#[test]
fn lost_consumer_returns_its_jobs_to_parked_pulls() {
    let t = Instant::now();
    let mut q = queues();
    let crashy = q.add_consumer(ConsumerOptions::default());
    let waiting = q.add_consumer(ConsumerOptions::default());
    push(&mut q, "q", "j1", t);
    push(&mut q, "q", "j2", t);
    pull(
        &mut q,
        crashy,
        "q",
        PullRequest::reserve(2, Duration::from_secs(60)),
        t,
    );
    let Pulled::Waiting(w) = q
        .pull(
            waiting,
            &[b"q"],
            PullRequest::reserve(5, Duration::from_secs(60)).wait(Wait::Forever),
            t,
        )
        .unwrap()
    else {
        panic!("nothing ready: parks");
    };
    assert_eq!(q.remove_consumer(crashy, t), Ok(2));
    q.process(t);
    match &events(&mut q)[..] {
        [Event::Served {
            waiter, deliveries, ..
        }] => {
            assert_eq!(*waiter, w);
            assert_eq!(texts(deliveries), ["j1", "j2"]);
            assert!(deliveries.iter().all(|d| d.attempt == 2));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(q.stats(b"q").unwrap().orphaned, 2);
    assert_eq!(q.held_by(crashy), Err(QueueError::UnknownConsumer));
}

#[test]
fn dead_letter_after_max_deliveries() {
    let t = Instant::now();
    let mut q = queues();
    let c = q.add_consumer(ConsumerOptions::default());
    q.declare(
        b"work",
        QueueConfig {
            max_deliveries: Some(2),
            dead_letter: Some(Bytes::from_static(b"dead")),
            ..QueueConfig::default()
        },
    )
    .unwrap();
    let id = push(&mut q, "work", "poison", t);
    let lease = Duration::from_millis(10);
    let d = pull(&mut q, c, "work", PullRequest::reserve(1, lease), t);
    assert_eq!(q.nack(d[0].lease.unwrap(), None, t), Ok(Returned::Ready));
    pull(&mut q, c, "work", PullRequest::reserve(1, lease), t);
    // Second delivery's lease expires: that was the last chance.
    q.process(at(t, 10));
    let st = q.stats(b"work").unwrap();
    assert_eq!(
        (
            st.ready,
            st.reserved,
            st.bytes,
            st.dead_lettered,
            st.expired
        ),
        (0, 0, 0, 1, 1)
    );
    let dead = pull(&mut q, c, "dead", PullRequest::pop(9), t);
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].job, dead[0].attempt),
        (id, 1),
        "same job id, fresh delivery count"
    );

    // No dead-letter queue: dropped, and counted as such.
    q.declare(
        b"nodlq",
        QueueConfig {
            max_deliveries: Some(1),
            ..QueueConfig::default()
        },
    )
    .unwrap();
    push(&mut q, "nodlq", "x", t);
    let d = pull(&mut q, c, "nodlq", PullRequest::reserve(1, lease), t);
    assert_eq!(
        q.nack(d[0].lease.unwrap(), None, t),
        Ok(Returned::DeadLettered)
    );
    let st = q.stats(b"nodlq").unwrap();
    assert_eq!(
        (st.dead_lettered, st.dead_letter_dropped, st.ready),
        (1, 1, 0)
    );

    // A full dead-letter queue: dropped too, never over its limit.
    q.declare(
        b"tinydlq",
        QueueConfig {
            max_jobs: 0,
            ..QueueConfig::default()
        },
    )
    .unwrap();
    q.declare(
        b"w2",
        QueueConfig {
            max_deliveries: Some(1),
            dead_letter: Some(Bytes::from_static(b"tinydlq")),
            ..QueueConfig::default()
        },
    )
    .unwrap();
    push(&mut q, "w2", "x", t);
    let d = pull(&mut q, c, "w2", PullRequest::reserve(1, lease), t);
    q.remove_consumer(c, t).unwrap();
    let _ = d;
    let st = q.stats(b"w2").unwrap();
    assert_eq!((st.dead_lettered, st.dead_letter_dropped), (1, 1));
    assert_eq!(q.len(b"tinydlq"), 0);
}

#[test]
fn prefetch_caps_unacked_jobs() {
    let t = Instant::now();
    let mut q = queues();
    let c = q.add_consumer(ConsumerOptions { prefetch: Some(2) });
    for i in 0..5 {
        push(&mut q, "q", &format!("j{i}"), t);
    }
    let lease = Duration::from_secs(60);
    let d = pull(&mut q, c, "q", PullRequest::reserve(5, lease), t);
    assert_eq!(d.len(), 2, "capped by credit");
    assert_eq!(
        q.pull(c, &[b"q"], PullRequest::reserve(1, lease), t),
        Err(QueueError::PrefetchLimit { limit: 2 })
    );
    // Pops are not capped: nothing stays unacked.
    assert_eq!(pull(&mut q, c, "q", PullRequest::pop(1), t).len(), 1);
    q.ack(d[0].lease.unwrap()).unwrap();
    assert_eq!(
        pull(&mut q, c, "q", PullRequest::reserve(5, lease), t).len(),
        1
    );
    q.set_prefetch(c, None).unwrap();
    assert_eq!(
        pull(&mut q, c, "q", PullRequest::reserve(5, lease), t).len(),
        1
    );
    assert_eq!(q.held_by(c).unwrap(), 3);
}

#[test]
fn a_parked_pull_at_its_prefetch_limit_keeps_its_place() {
    let t = Instant::now();
    let mut q = queues();
    let lease = Duration::from_secs(60);
    let full = q.add_consumer(ConsumerOptions { prefetch: Some(1) });
    let other = q.add_consumer(ConsumerOptions::default());
    // `full` parks on "b" while holding nothing, then reserves its one job from "a".
    let Pulled::Waiting(wf) = q
        .pull(
            full,
            &[b"b"],
            PullRequest::reserve(1, lease).wait(Wait::Forever),
            t,
        )
        .unwrap()
    else {
        panic!()
    };
    push(&mut q, "a", "a1", t);
    let held = pull(&mut q, full, "a", PullRequest::reserve(1, lease), t);
    let Pulled::Waiting(wo) = q
        .pull(
            other,
            &[b"b"],
            PullRequest::reserve(1, lease).wait(Wait::Forever),
            t,
        )
        .unwrap()
    else {
        panic!()
    };
    push(&mut q, "b", "b1", t);
    q.process(t);
    match &events(&mut q)[..] {
        [Event::Served { waiter, .. }] => assert_eq!(*waiter, wo, "full is skipped, not dropped"),
        other => panic!("{other:?}"),
    }
    push(&mut q, "b", "b2", t);
    q.process(t);
    assert!(events(&mut q).is_empty(), "full still has no credit");
    q.ack(held[0].lease.unwrap()).unwrap();
    q.process(t);
    match &events(&mut q)[..] {
        [Event::Served {
            waiter, deliveries, ..
        }] => {
            assert_eq!(*waiter, wf);
            assert_eq!(texts(deliveries), ["b2"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn declared_queues_only_when_auto_create_is_off() {
    let t = Instant::now();
    let mut q = Queues::new(QueuesConfig {
        auto_create: false,
        ..QueuesConfig::default()
    });
    let c = q.add_consumer(ConsumerOptions::default());
    assert_eq!(
        q.push(b"nope", Bytes::new(), PushOptions::default(), t),
        Err(QueueError::NoSuchQueue(Bytes::from_static(b"nope")))
    );
    assert!(matches!(
        q.pull(c, &[b"nope"], PullRequest::pop(1).wait(Wait::Forever), t),
        Err(QueueError::NoSuchQueue(_))
    ));
    q.declare(b"yes", QueueConfig::default()).unwrap();
    push(&mut q, "yes", "j", t);
    assert_eq!(q.names().collect::<Vec<_>>(), [&Bytes::from_static(b"yes")]);
}

#[test]
fn delete_drops_everything_it_held() {
    let t = Instant::now();
    let mut q = queues();
    let c = q.add_consumer(ConsumerOptions::default());
    push(&mut q, "q", "ready", t);
    push(&mut q, "q", "reserved", t);
    q.push(
        b"q",
        Bytes::from_static(b"delayed"),
        PushOptions::default().ready_at(at(t, 10)),
        t,
    )
    .unwrap();
    let d = pull(
        &mut q,
        c,
        "q",
        PullRequest::reserve(1, Duration::from_secs(1)).from_back(),
        t,
    );
    assert_eq!(texts(&d), ["reserved"]);
    assert_eq!(q.delete(b"q"), Some(3));
    assert_eq!(q.delete(b"q"), None);
    assert_eq!(q.held_by(c).unwrap(), 0);
    let l = d[0].lease.unwrap();
    assert_eq!(q.ack(l), Err(QueueError::UnknownLease(l)));
    assert_eq!(q.next_deadline(), None, "no lease, no delayed job left");
    q.process(at(t, 2000));
    assert!(q.stats(b"q").is_none());
}

#[test]
fn invalid_requests_are_errors_not_panics() {
    let t = Instant::now();
    let mut q = queues();
    let c = q.add_consumer(ConsumerOptions::default());
    assert!(matches!(
        q.pull(c, &[b"q"], PullRequest::pop(0), t),
        Err(QueueError::Invalid(_))
    ));
    assert!(matches!(
        q.pull(c, &[], PullRequest::pop(1), t),
        Err(QueueError::Invalid(_))
    ));
    assert!(matches!(
        q.push_all(b"q", Vec::<Bytes>::new(), PushOptions::default(), t),
        Err(QueueError::Invalid(_))
    ));
    assert!(matches!(
        q.declare(
            b"q",
            QueueConfig {
                max_deliveries: Some(0),
                ..QueueConfig::default()
            }
        ),
        Err(QueueError::Invalid(_))
    ));
    // A lease of Duration::MAX saturates instead of overflowing.
    push(&mut q, "q", "j", t);
    let d = pull(&mut q, c, "q", PullRequest::reserve(1, Duration::MAX), t);
    assert!(d[0].lease_deadline.unwrap() > at(t, 1_000_000));
    for e in [
        QueueError::UnknownConsumer,
        QueueError::PrefetchLimit { limit: 3 },
        QueueError::NoSuchQueue(Bytes::from_static(b"x")),
        QueueError::Invalid("why"),
    ] {
        let _: &dyn std::error::Error = &e;
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn payloads_are_shared_with_the_consumer() {
    let t = Instant::now();
    let mut q = queues();
    let c = q.add_consumer(ConsumerOptions::default());
    let payload = Bytes::from(vec![1u8; 1000]);
    let ptr = payload.as_ptr();
    q.push(b"q", payload, PushOptions::default(), t).unwrap();
    let d = pull(
        &mut q,
        c,
        "q",
        PullRequest::reserve(1, Duration::from_secs(1)),
        t,
    );
    assert_eq!(d[0].payload.as_ptr(), ptr, "no copy on the way out");
}
