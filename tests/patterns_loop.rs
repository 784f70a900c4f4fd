//! The patterns on a real `EventLoop`: one loop timer per structure, armed for its nearest
//! deadline, firing on time, moved when the deadline moves, gone when nothing is pending.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringloop::patterns::pushpull::{
    ConsumerOptions, Event, PullRequest, Pulled, PushOptions, Queues, QueuesConfig, Wait,
};
use ringloop::patterns::{DeadlineTimer, Timed, Waiters};
use ringloop::EventLoop;

fn lp() -> EventLoop {
    EventLoop::new().expect("event loop")
}

/// Generous: CI machines are slow, but a timer must never fire early.
const SLACK: Duration = Duration::from_millis(250);

#[test]
fn waiter_timeouts_fire_on_time_and_leave_nothing() {
    let mut lp = lp();
    let fired: Rc<RefCell<Vec<(u32, Instant)>>> = Rc::default();
    let log = fired.clone();
    let w = Timed::new(Waiters::<&str, u32>::new(), move |_lp, w, now| {
        while let Some((_, client)) = w.pop_expired(now) {
            log.borrow_mut().push((client, now));
        }
    });
    let start = Instant::now();
    let d1 = start + Duration::from_millis(40);
    let d2 = start + Duration::from_millis(20);
    w.with(&mut lp, |w| w.add("ch", 1, Some(d1)));
    assert_eq!(w.armed(), Some(d1));
    w.with(&mut lp, |w| w.add("ch", 2, Some(d2)));
    assert_eq!(w.armed(), Some(d2), "an earlier deadline moves the timer");
    w.with(&mut lp, |w| w.add("ch", 3, None));
    lp.run_once(Some(Duration::from_millis(500))).unwrap();
    while fired.borrow().len() < 2 {
        lp.run_once(Some(Duration::from_millis(500))).unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timeouts never fired"
        );
    }
    let fired = fired.borrow();
    assert_eq!(fired.iter().map(|f| f.0).collect::<Vec<_>>(), [2, 1]);
    assert!(fired[0].1 >= d2 && fired[0].1 < d2 + SLACK, "on time");
    assert!(fired[1].1 >= d1 && fired[1].1 < d1 + SLACK, "on time");
    assert_eq!(
        w.borrow().len(),
        1,
        "only the waiter without deadline is left"
    );
    assert_eq!(w.armed(), None, "nothing left to time: no timer");
    assert_eq!(lp.stats().timers_pending, 0);
}

#[test]
fn later_deadlines_keep_the_armed_timer_and_none_disarms() {
    let mut lp = lp();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let w = Timed::new(Waiters::<u8, ()>::new(), move |_lp, w, now| {
        c.set(c.get() + 1);
        while w.pop_expired(now).is_some() {}
    });
    let t = Instant::now();
    let early = w.with(&mut lp, |w| {
        w.add(0, (), Some(t + Duration::from_millis(30)))
    });
    w.with(&mut lp, |w| w.add(0, (), Some(t + Duration::from_secs(60))));
    assert_eq!(w.armed(), Some(t + Duration::from_millis(30)));
    // The early one is served: the nearest deadline moves later, the timer stays (it will fire
    // early, find nothing, and re-arm) — cheaper than a cancel and an insert per change.
    w.with(&mut lp, |w| w.remove(early));
    assert_eq!(w.armed(), Some(t + Duration::from_millis(30)));
    let deadline = Instant::now() + Duration::from_secs(5);
    while calls.get() == 0 && Instant::now() < deadline {
        lp.run_once(Some(Duration::from_millis(100))).unwrap();
    }
    assert_eq!(calls.get(), 1, "the spurious wake-up happened once");
    assert_eq!(w.armed(), Some(t + Duration::from_secs(60)), "re-armed");
    w.with(&mut lp, |w| w.drain());
    assert_eq!(w.armed(), None, "nothing pending: disarmed");
    assert_eq!(lp.stats().timers_pending, 0);
    lp.run().unwrap(); // returns at once: no timer keeps the loop alive
}

#[test]
fn queue_leases_and_pull_timeouts_run_on_the_loop() {
    let mut lp = lp();
    let events: Rc<RefCell<Vec<Event>>> = Rc::default();
    let sink = events.clone();
    let q = Timed::new(Queues::new(QueuesConfig::default()), move |_lp, q, now| {
        q.process(now);
        q.take_events(&mut sink.borrow_mut());
    });
    let t = Instant::now();
    let (worker, other) = q.with(&mut lp, |q| {
        (
            q.add_consumer(ConsumerOptions::default()),
            q.add_consumer(ConsumerOptions::default()),
        )
    });
    q.with(&mut lp, |q| {
        q.push(b"jobs", Bytes::from_static(b"j"), PushOptions::default(), t)
            .unwrap();
        let got = q
            .pull(
                worker,
                &[b"jobs"],
                PullRequest::reserve(1, Duration::from_millis(30)),
                t,
            )
            .unwrap();
        assert!(matches!(got, Pulled::Jobs { .. }));
    });
    // The other consumer long-polls; it is served when the worker's lease expires.
    let w = q.with(&mut lp, |q| {
        let req = PullRequest::pop(1).wait(Wait::timeout(Duration::from_secs(2), t));
        match q.pull(other, &[b"jobs"], req, t).unwrap() {
            Pulled::Waiting(w) => w,
            other => panic!("{other:?}"),
        }
    });
    assert_eq!(q.armed(), Some(t + Duration::from_millis(30)), "the lease");
    while events.borrow().is_empty() {
        lp.run_once(Some(Duration::from_millis(500))).unwrap();
        assert!(t.elapsed() < Duration::from_secs(5));
    }
    let served_at = Instant::now();
    assert!(served_at >= t + Duration::from_millis(30));
    match &events.borrow()[..] {
        [Event::Served {
            waiter, deliveries, ..
        }] => {
            assert_eq!(*waiter, w);
            assert_eq!(
                deliveries[0].attempt, 2,
                "redelivered after the expired lease"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(q.borrow().stats(b"jobs").unwrap().expired, 1);

    // A long poll nobody answers times out on time.
    events.borrow_mut().clear();
    let t2 = Instant::now();
    q.with(&mut lp, |q| {
        let req = PullRequest::pop(1).wait(Wait::timeout(Duration::from_millis(25), t2));
        q.pull(other, &[b"empty"], req, t2).unwrap();
    });
    lp.run().unwrap(); // runs until no timer is left: the timeout fired and nothing re-armed
    assert!(matches!(&events.borrow()[..], [Event::TimedOut { .. }]));
    assert!(Instant::now() >= t2 + Duration::from_millis(25));
    assert_eq!(q.borrow().waiting(), 0);
    assert_eq!(q.armed(), None);
}

#[test]
fn deadline_timer_low_level() {
    let mut lp = lp();
    let hits = Rc::new(Cell::new(0));
    let timer = Rc::new(RefCell::new(DeadlineTimer::new()));
    let t = Instant::now() + Duration::from_millis(10);
    let (h, tm) = (hits.clone(), timer.clone());
    assert!(timer.borrow_mut().sync(&mut lp, Some(t), move |_| {
        tm.borrow_mut().fired();
        h.set(h.get() + 1);
    }));
    assert!(
        !timer.borrow_mut().sync(
            &mut lp,
            Some(t + Duration::from_secs(1)),
            |_| unreachable!()
        ),
        "a later deadline keeps the armed timer"
    );
    lp.run().unwrap();
    assert_eq!(hits.get(), 1);
    assert_eq!(timer.borrow().armed(), None);
    // Disarm cancels.
    timer.borrow_mut().sync(
        &mut lp,
        Some(Instant::now() + Duration::from_secs(60)),
        |_| unreachable!(),
    );
    timer.borrow_mut().disarm(&mut lp);
    assert_eq!(lp.stats().timers_pending, 0);
}
