//! Stats: the counters move as documented, on both backends.

mod common;

use std::cell::Cell;
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::*;
use ringloop::op::OpKind;

fn fresh_loop_counts_nothing(b: Backend) {
    let lp = new_loop(b);
    let s = lp.stats();
    assert_eq!(
        s.backend,
        if b == Backend::Uring {
            "io_uring"
        } else {
            "epoll"
        }
    );
    assert_eq!(s.total_submitted(), 0);
    assert_eq!(s.total_completed(), 0);
    assert_eq!(
        (s.in_flight, s.completions, s.turns, s.timers_pending),
        (0, 0, 0, 0)
    );
    assert_eq!(s.completions_per_wakeup(), 0.0);
}

fn once_ops_are_counted_by_kind(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let nops: Vec<_> = (0..3).map(|_| lp.submit(op::Nop)).collect();
    let send = lp.submit(op::Send::new(fd(&server), Bytes::from_static(b"abc")));
    let s = lp.stats();
    assert_eq!(s.submitted(OpKind::Nop), 3);
    assert_eq!(s.submitted(OpKind::Send), 1);
    assert_eq!(s.in_flight, 4, "submitted, not yet completed");
    for t in nops {
        wait(&mut lp, t).unwrap();
    }
    wait(&mut lp, send).0.unwrap();
    assert_eq!(read_exact(&mut client, 3), b"abc");

    // A recv that has to wait for its data.
    let recv = lp.submit(op::Recv::new(fd(&server), BytesMut::with_capacity(8)));
    turn_for(&mut lp, Duration::from_millis(10));
    assert_eq!(lp.stats().in_flight, 1);
    write_all(&mut client, b"xyz");
    wait(&mut lp, recv).0.unwrap();

    let s = lp.stats();
    assert_eq!(s.completed(OpKind::Nop), 3);
    assert_eq!(s.completed(OpKind::Send), 1);
    assert_eq!(
        (s.submitted(OpKind::Recv), s.completed(OpKind::Recv)),
        (1, 1)
    );
    assert_eq!(s.total_submitted(), 5);
    assert_eq!(s.total_completed(), 5);
    assert_eq!(s.completions, 5, "one completion handed out per once-op");
    assert_eq!(s.in_flight, 0);
    assert!(s.turns >= 2);
    assert!(s.kernel_waits >= 1);
    assert!(s.syscalls >= s.kernel_waits);
    assert!(s.wakeups >= 1 && s.wakeups <= s.turns);
    match b {
        Backend::Epoll => {
            assert_eq!(s.parked, 1, "only the recv had to wait for readiness");
            assert_eq!(s.immediate, 4, "the nops and the send completed at once");
        }
        _ => assert_eq!((s.parked, s.immediate), (0, 0), "epoll-only counters"),
    }
    // Display gives one greppable line with per-kind counts.
    let line = s.to_string();
    assert!(
        line.contains("nop=3/3") && line.contains("recv=1/1"),
        "{line}"
    );
    assert!(!line.contains('\n'));
}

fn cancelled_and_failed_ops_count_as_completed(b: Backend) {
    let mut lp = new_loop(b);
    let (server, _client) = tcp_pair();
    let t = lp.submit(op::Recv::new(fd(&server), BytesMut::with_capacity(8)));
    lp.run_once(Some(Duration::ZERO)).unwrap();
    lp.cancel(t.id());
    assert!(wait(&mut lp, t).0.is_err());
    let t = lp.submit(op::Send::new(BAD_FD, Bytes::from_static(b"x")));
    assert!(wait(&mut lp, t).0.is_err());
    let s = lp.stats();
    assert_eq!(s.completed(OpKind::Recv), 1);
    assert_eq!(s.completed(OpKind::Send), 1);
    assert_eq!(s.in_flight, 0);
}

fn uring_ops_cost_no_syscall_each(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    let before = lp.stats();
    let sends: Vec<_> = (0..100)
        .map(|_| lp.submit(op::Send::new(fd(&server), Bytes::from_static(b"."))))
        .collect();
    for t in sends {
        wait(&mut lp, t).0.unwrap();
    }
    assert_eq!(read_exact(&mut client, 100).len(), 100);
    let after = lp.stats();
    let syscalls = after.syscalls - before.syscalls;
    let waits = after.kernel_waits - before.kernel_waits;
    assert!(waits >= 1);
    match b {
        // 100 sends batched into a few io_uring_enter calls.
        Backend::Uring => assert!(syscalls < 20, "{syscalls} syscalls for 100 sends"),
        // One send(2) each, plus the waits.
        _ => assert!(syscalls >= 100, "{syscalls} syscalls for 100 sends"),
    }
    assert_eq!(after.completions - before.completions, 100);
    assert!(
        after.completions_per_wakeup() > 1.0,
        "completions were batched"
    );
}

fn timers_and_posts_are_counted(b: Backend) {
    let mut lp = new_loop(b);
    lp.timer(Duration::from_millis(1), |_| {});
    let t = lp.submit(op::Timeout::new(Duration::from_millis(1)));
    let long = lp.timer(Duration::from_secs(60), |_| {});
    assert_eq!(lp.stats().timers_pending, 3);
    lp.handle().post(|_| {}).unwrap();
    lp.handle().post(|_| {}).unwrap();
    wait(&mut lp, t).unwrap();
    turn_until(&mut lp, 5, |lp| {
        let s = lp.stats();
        s.timers_fired == 2 && s.posted == 2
    });
    assert_eq!(lp.stats().timers_pending, 1);
    assert!(lp.cancel_timer(long));
    let s = lp.stats();
    assert_eq!(s.timers_pending, 0);
    assert_eq!(s.completed(OpKind::Timeout), 1);
    assert_eq!(s.timers_fired, 2, "a cancelled timer did not fire");
}

fn multishot_items_are_counted(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let t = lp.submit_multi(op::RecvMulti::new(fd(&server)));
    for chunk in [&b"one"[..], b"two", b"three"] {
        write_all(&mut client, chunk);
        let mut item = None;
        turn_until(&mut lp, 5, |lp| {
            item = lp.poll_next(&t);
            item.is_some()
        });
        assert_eq!(&item.unwrap().unwrap().unwrap()[..], chunk);
    }
    assert_eq!(lp.stats().in_flight, 1);
    client.shutdown(Shutdown::Write).unwrap();
    let mut end = None;
    turn_until(&mut lp, 5, |lp| {
        end = lp.poll_next(&t);
        end.is_some()
    });
    assert!(end.unwrap().unwrap().is_none());
    let s = lp.stats();
    assert_eq!(s.submitted(OpKind::RecvMulti), 1);
    assert_eq!(
        s.completed(OpKind::RecvMulti),
        1,
        "a stream completes once, at its end"
    );
    assert_eq!(s.multishot_items, 4, "three chunks and the EOF");
    // Every item was one completion handed to its owner; attempts that found nothing were not.
    assert_eq!(s.completions, 4, "{s}");
    assert!(s.wakeups >= 4, "each chunk came in its own turn: {s}");
    assert_eq!(s.in_flight, 0);
}

fn small_rings_lose_no_completion(b: Backend) {
    // 8 SQ entries and 32 CQ entries (on io_uring) for 2,000 ops queued between two turns: the
    // full SQ is flushed, the full CQ overflows into the kernel's list, and nothing is lost.
    let mut lp = new_loop_with(b, |b| b.entries(8));
    let done = Rc::new(Cell::new(0usize));
    for _ in 0..2000 {
        let d = done.clone();
        lp.submit_with(op::Nop, move |_, r| {
            r.unwrap();
            d.set(d.get() + 1)
        });
    }
    let tickets: Vec<_> = (0..500).map(|_| lp.submit(op::Nop)).collect();
    turn_until(&mut lp, 10, |_| done.get() == 2000);
    for t in &tickets {
        poll_until(&mut lp, t, 5).unwrap();
    }
    let s = lp.stats();
    assert_eq!(s.completed(OpKind::Nop), 2500);
    assert_eq!(s.completions, 2500);
    assert_eq!(s.in_flight, 0);
    if b == Backend::Uring {
        assert!(s.sq_full_flushes > 0, "{s}");
        assert!(s.cq_overflows > 0, "the CQ overflowed and was drained: {s}");
    }
}

both_backends!(
    fresh_loop_counts_nothing,
    once_ops_are_counted_by_kind,
    cancelled_and_failed_ops_count_as_completed,
    uring_ops_cost_no_syscall_each,
    timers_and_posts_are_counted,
    multishot_items_are_counted,
    small_rings_lose_no_completion,
);
