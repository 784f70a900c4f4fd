//! Timers: ordering, cancel, repeating timers, sleeping until the next deadline, and scale.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::*;
use ringloop::TimerId;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn timers_fire_in_deadline_order(b: Backend) {
    let mut lp = new_loop(b);
    let order = log();
    for delay in [30u64, 5, 20, 0, 10, 25, 15] {
        let o = order.clone();
        lp.timer(ms(delay), move |_| o.borrow_mut().push(delay));
    }
    assert_eq!(lp.stats().timers_pending, 7);
    turn_until(&mut lp, 5, |_| order.borrow().len() == 7);
    assert_eq!(*order.borrow(), [0, 5, 10, 15, 20, 25, 30]);
    assert_eq!(lp.stats().timers_pending, 0);
    assert_eq!(lp.stats().timers_fired, 7);
}

fn cancelled_timer_never_fires(b: Backend) {
    let mut lp = new_loop(b);
    let fired = Rc::new(Cell::new(0));
    let f = fired.clone();
    let doomed = lp.timer(ms(10), move |_| f.set(f.get() + 100));
    let f = fired.clone();
    let kept = lp.timer(ms(20), move |_| f.set(f.get() + 1));
    assert!(lp.cancel_timer(doomed));
    assert!(!lp.cancel_timer(doomed), "already cancelled");
    turn_until(&mut lp, 5, |_| fired.get() > 0);
    turn_for(&mut lp, ms(20));
    assert_eq!(fired.get(), 1, "only the kept timer fired");
    assert!(!lp.cancel_timer(kept), "cancel after firing is refused");
    assert!(!lp.has_work());
}

fn repeating_timer_cancels_itself(b: Backend) {
    let mut lp = new_loop(b);
    let count = Rc::new(Cell::new(0u32));
    let me: Rc<Cell<Option<TimerId>>> = Rc::new(Cell::new(None));
    let cancelled = Rc::new(Cell::new(false));
    let (c, m, x) = (count.clone(), me.clone(), cancelled.clone());
    let start = Instant::now();
    let id = lp.timer_repeat(ms(3), move |lp| {
        c.set(c.get() + 1);
        if c.get() == 5 {
            x.set(lp.cancel_timer(m.get().unwrap()));
        }
    });
    me.set(Some(id));
    turn_until(&mut lp, 5, |_| count.get() == 5);
    assert!(start.elapsed() >= ms(15), "5 periods of 3 ms");
    assert!(cancelled.get(), "cancel from its own callback succeeds");
    turn_for(&mut lp, ms(30));
    assert_eq!(count.get(), 5, "no tick after the cancel");
    assert!(!lp.cancel_timer(id));
    assert_eq!(lp.stats().timers_pending, 0);
}

fn run_once_sleeps_until_the_timer(b: Backend) {
    let mut lp = new_loop(b);
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    let _dog = Watchdog::new(&lp, 10);
    let start = Instant::now();
    lp.timer(ms(60), move |_| f.set(true));
    lp.run_once(None).unwrap();
    let first = start.elapsed();
    // A loop that returned immediately would busy-spin; one that overslept would be late.
    assert!(first >= ms(50), "run_once(None) returned after {first:?}");
    let mut turns = 1;
    while !fired.get() {
        lp.run_once(None).unwrap();
        turns += 1;
        assert!(turns < 5, "too many turns to fire one timer");
    }
    let total = start.elapsed();
    assert!(total >= ms(60) && total < ms(600), "fired after {total:?}");
}

fn run_returns_when_the_last_timer_fired(b: Backend) {
    let mut lp = new_loop(b);
    let fired = Rc::new(Cell::new(0));
    let _dog = Watchdog::new(&lp, 10);
    let start = Instant::now();
    for d in [5u64, 15, 25] {
        let f = fired.clone();
        lp.timer(ms(d), move |_| f.set(f.get() + 1));
    }
    lp.run().unwrap();
    assert_eq!(fired.get(), 3);
    assert!(start.elapsed() >= ms(25));
    assert!(!lp.has_work());
}

fn next_deadline_reflects_nearest_timer(b: Backend) {
    let mut lp = new_loop(b);
    assert_eq!(lp.next_deadline(), None, "an idle loop has no deadline");
    let before = Instant::now();
    let far = lp.timer(ms(500), |_| {});
    let near = lp.timer(ms(100), |_| {});
    let after = Instant::now();
    let d = lp.next_deadline().expect("a timer is pending");
    assert!(
        d >= before + ms(100) && d <= after + ms(100),
        "nearest timer"
    );
    assert!(lp.cancel_timer(near));
    let d = lp.next_deadline().expect("a timer is pending");
    assert!(
        d >= before + ms(500) && d <= after + ms(500),
        "the far one now"
    );
    assert!(lp.cancel_timer(far));
    assert_eq!(lp.next_deadline(), None);
    // A Timeout op is a timer too.
    let t = lp.submit(op::Timeout::new(ms(200)));
    let d = lp.next_deadline().expect("the timeout is pending");
    assert!(d > Instant::now() + ms(100));
    assert!(lp.cancel(t.id()));
    let _ = poll_until(&mut lp, &t, 2);
    assert_eq!(lp.next_deadline(), None);
}

fn hundred_thousand_timers_insert_and_cancel(b: Backend) {
    let mut lp = new_loop(b);
    let fired = Rc::new(Cell::new(0u32));
    let mut ids = Vec::with_capacity(100_000);
    for i in 0..100_000u64 {
        let f = fired.clone();
        // Spread over 1..=100 ms, so the heap holds many equal and interleaved deadlines.
        ids.push(lp.timer(ms(1 + i % 100), move |_| f.set(f.get() + 1)));
    }
    assert_eq!(lp.stats().timers_pending, 100_000);
    // Cancel every odd one, in reverse order.
    let mut cancelled = 0;
    for (i, id) in ids.iter().enumerate().rev() {
        if i % 2 == 1 {
            assert!(lp.cancel_timer(*id));
            cancelled += 1;
        }
    }
    assert_eq!(cancelled, 50_000);
    assert_eq!(lp.stats().timers_pending, 50_000);
    turn_until(&mut lp, 20, |_| fired.get() == 50_000);
    turn_for(&mut lp, ms(10));
    assert_eq!(fired.get(), 50_000, "exactly the live timers fired");
    assert_eq!(lp.stats().timers_pending, 0);
    // All cancelled ids stay dead; a fresh timer still works after all that churn.
    for id in ids.iter().take(100) {
        assert!(!lp.cancel_timer(*id));
    }
    for _ in 0..100_000 {
        let id = lp.timer(Duration::from_secs(3600), |_| {
            panic!("cancelled timer fired")
        });
        assert!(lp.cancel_timer(id));
    }
    assert_eq!(lp.next_deadline(), None);
    let f = fired.clone();
    lp.timer(ms(1), move |_| f.set(0));
    turn_until(&mut lp, 5, |_| fired.get() == 0);
}

fn timer_callbacks_can_schedule_timers(b: Backend) {
    let mut lp = new_loop(b);
    let hops = Rc::new(Cell::new(0u32));
    fn hop(lp: &mut EventLoop, hops: Rc<Cell<u32>>) {
        lp.timer(Duration::ZERO, move |lp| {
            hops.set(hops.get() + 1);
            if hops.get() < 10 {
                hop(lp, hops);
            }
        });
    }
    hop(&mut lp, hops.clone());
    turn_until(&mut lp, 5, |_| hops.get() == 10);
    assert!(!lp.has_work());
}

fn a_timer_for_ever_is_allowed(b: Backend) {
    // Duration::MAX is a natural way to say "never" (an idle timeout that is off): it must not
    // overflow, fire, or make the loop spin.
    let mut lp = new_loop(b);
    let never = lp.timer(Duration::MAX, |_| panic!("fired"));
    let never_again = lp.timer_repeat(Duration::MAX, |_| panic!("fired"));
    let t = lp.submit(op::Timeout::new(Duration::MAX));
    let start = Instant::now();
    lp.run_once(Some(ms(30))).unwrap();
    assert!(start.elapsed() >= ms(25), "the loop slept");
    assert!(lp.next_deadline().unwrap() > Instant::now() + Duration::from_secs(86_400));
    assert!(lp.cancel_timer(never));
    assert!(lp.cancel_timer(never_again));
    assert!(lp.cancel(t.id()));
    let res = poll_until(&mut lp, &t, 2);
    assert_eq!(errno(&res.unwrap_err()), libc::ECANCELED);
    assert!(!lp.has_work());
}

both_backends!(
    timers_fire_in_deadline_order,
    cancelled_timer_never_fires,
    repeating_timer_cancels_itself,
    run_once_sleeps_until_the_timer,
    run_returns_when_the_last_timer_fired,
    next_deadline_reflects_nearest_timer,
    hundred_thousand_timers_insert_and_cancel,
    timer_callbacks_can_schedule_timers,
    a_timer_for_ever_is_allowed,
);
