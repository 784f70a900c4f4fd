//! Embedding: other threads reaching a loop through its `LoopHandle`, a host driving the loop from
//! its own poll(2) loop, and several loops in one process.

mod common;

use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::*;

fn post_runs_on_the_loop_thread(b: Backend) {
    let mut lp = new_loop(b);
    let (tx, rx) = mpsc::channel();
    let handle = lp.handle();
    let poster = thread::spawn(move || {
        let poster_id = thread::current().id();
        for i in 0..10 {
            let tx = tx.clone();
            handle
                .post(move |_lp| tx.send((i, thread::current().id())).unwrap())
                .unwrap();
        }
        poster_id
    });
    let mut got = Vec::new();
    turn_until(&mut lp, 5, |_| {
        got.extend(rx.try_iter());
        got.len() == 10
    });
    let poster_id = poster.join().unwrap();
    let me = thread::current().id();
    assert!(got.iter().all(|(_, id)| *id == me && *id != poster_id));
    let order: Vec<_> = got.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        order,
        (0..10).collect::<Vec<_>>(),
        "posted closures run in order"
    );
    assert_eq!(lp.stats().posted, 10);
}

fn wake_interrupts_a_blocked_run_once(b: Backend) {
    let mut lp = new_loop(b);
    let handle = lp.handle();
    // Nothing to do: without a wake-up, run_once(None) would sleep forever (the watchdog would
    // then fail the test after 10 s).
    assert!(!lp.has_work());
    let _dog = Watchdog::new(&lp, 10);
    for _ in 0..3 {
        let h = handle.clone();
        let start = Instant::now();
        let waker = thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            h.wake().unwrap();
        });
        lp.run_once(None).unwrap();
        let took = start.elapsed();
        waker.join().unwrap();
        assert!(
            took >= Duration::from_millis(20),
            "returned before the wake: {took:?}"
        );
        assert!(took < Duration::from_secs(3), "the wake took {took:?}");
    }
    // Wakes coalesce and leave nothing behind: the next zero-timeout turn is quiet.
    handle.wake().unwrap();
    handle.wake().unwrap();
    lp.run_once(Some(Duration::from_millis(100))).unwrap();
    assert!(!lp.has_work());
}

fn stop_from_another_thread_ends_run(b: Backend) {
    let mut lp = new_loop(b);
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    lp.timer(Duration::from_secs(20), move |_| f.set(true));
    let handle = lp.handle();
    let _dog = Watchdog::new(&lp, 10);
    let start = Instant::now();
    let stopper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        handle.stop().unwrap();
    });
    lp.run().unwrap();
    let took = start.elapsed();
    stopper.join().unwrap();
    assert!(
        took >= Duration::from_millis(40) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(!fired.get());
    assert_eq!(
        lp.stats().timers_pending,
        1,
        "the long timer is still pending"
    );
    // The loop is usable after a stop.
    let t = lp.submit(op::Nop);
    wait(&mut lp, t).unwrap();
}

fn post_after_drop_is_an_error(b: Backend) {
    let lp = new_loop(b);
    let handle = lp.handle();
    assert!(handle.is_alive());
    let h2 = handle.clone();
    drop(lp);
    assert!(!handle.is_alive());
    let res = thread::spawn(move || h2.post(|_| unreachable!()))
        .join()
        .unwrap();
    assert!(res.is_err(), "posting to a dropped loop fails");
    assert!(handle.post(|_| unreachable!()).is_err());
}

/// The host's own loop: poll(2) on the loop's fd with the loop's next deadline as timeout, then a
/// non-blocking turn.
fn host_poll_once(lp: &mut EventLoop, cap: Duration) -> bool {
    let timeout = match lp.next_deadline() {
        Some(d) => d.saturating_duration_since(Instant::now()).min(cap),
        None => cap,
    };
    let mut pfd = libc::pollfd {
        fd: lp.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // Round up, so the host never wakes just before the deadline and spins.
    let ms = timeout.as_micros().div_ceil(1000) as libc::c_int;
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
    lp.run_once(Some(Duration::ZERO)).unwrap();
    n > 0
}

fn host_loop_with_poll_drives_io_and_timers(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let start = Instant::now();
    let received = slot();
    let r = received.clone();
    lp.submit_with(
        op::Recv::new(fd(&server), BytesMut::with_capacity(64)),
        move |_, (res, buf)| *r.borrow_mut() = Some((res.unwrap(), buf, start.elapsed())),
    );
    let timer_at = slot();
    let t = timer_at.clone();
    lp.timer(Duration::from_millis(400), move |_| {
        *t.borrow_mut() = Some(start.elapsed())
    });
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        write_all(&mut client, b"from the peer");
        client
    });
    // Each poll waits until the loop's deadline (the timer), or at most 2 s.
    while received.borrow().is_none() || timer_at.borrow().is_none() {
        assert!(start.elapsed() < Duration::from_secs(5), "host loop stuck");
        host_poll_once(&mut lp, Duration::from_secs(2));
    }
    let _client = writer.join().unwrap();
    let (n, buf, recv_at) = received.borrow_mut().take().unwrap();
    assert_eq!((n, &buf[..]), (13, &b"from the peer"[..]));
    // The fd signalled the completion: the recv did not have to wait for the timer's wake-up.
    assert!(
        recv_at < Duration::from_millis(300),
        "recv completed at {recv_at:?}"
    );
    let fired = timer_at.borrow().unwrap();
    assert!(
        fired >= Duration::from_millis(400),
        "timer early: {fired:?}"
    );
    assert!(fired < Duration::from_millis(1500), "timer late: {fired:?}");
}

fn host_loop_sees_ops_submitted_outside_a_turn(b: Backend) {
    // A host submits an op between turns and then sleeps on the loop's fd: the op must still run
    // (io_uring: its SQE must reach the kernel; the deadline says "now" until it has).
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    write_all(&mut client, b"ready");
    let t = lp.submit(op::Recv::new(fd(&server), BytesMut::with_capacity(64)));
    let n = lp.submit(op::Nop);
    let start = Instant::now();
    let mut out = None;
    let mut nop = None;
    while out.is_none() || nop.is_none() {
        assert!(start.elapsed() < Duration::from_secs(3), "host loop stuck");
        host_poll_once(&mut lp, Duration::from_secs(5));
        out = out.or_else(|| lp.poll(&t));
        nop = nop.or_else(|| lp.poll(&n));
    }
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "host loop slept on unsubmitted ops"
    );
    let (res, buf) = out.unwrap();
    assert_eq!(res.unwrap(), 5);
    assert_eq!(&buf[..], b"ready");
    nop.unwrap().unwrap();
}

fn one_loop_per_thread(b: Backend) {
    const THREADS: usize = 4;
    const CONNS: usize = 8;
    const ROUNDS: usize = 20;
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            thread::spawn(move || {
                let mut lp = new_loop(b);
                let pairs: Vec<_> = (0..CONNS).map(|_| tcp_pair()).collect();
                let mut clients: Vec<_> =
                    pairs.iter().map(|(_, c)| c.try_clone().unwrap()).collect();
                // Each thread's loop echoes on its own sockets, in callback style.
                let echoed = Rc::new(Cell::new(0usize));
                for (server, _) in &pairs {
                    echo(&mut lp, server.as_raw_fd(), echoed.clone());
                }
                for round in 0..ROUNDS {
                    for (c, client) in clients.iter_mut().enumerate() {
                        let msg = format!("t{t} c{c} r{round};");
                        write_all(client, msg.as_bytes());
                    }
                    let want = (round + 1) * CONNS;
                    turn_until(&mut lp, 10, |_| echoed.get() >= want);
                    for (c, client) in clients.iter_mut().enumerate() {
                        let msg = format!("t{t} c{c} r{round};");
                        assert_eq!(read_exact(client, msg.len()), msg.as_bytes());
                    }
                }
                assert!(lp.stats().total_completed() >= (2 * ROUNDS * CONNS) as u64);
                drop(pairs);
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker thread");
    }
}

/// Callback-style echo: recv, send it all back, repeat; counts echoed messages.
fn echo(lp: &mut EventLoop, fd: std::os::fd::RawFd, echoed: Rc<Cell<usize>>) {
    lp.submit_with(
        op::Recv::new(fd, BytesMut::with_capacity(256)),
        move |lp, (res, buf)| {
            let n = match res {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let messages = buf.iter().filter(|&&c| c == b';').count();
            lp.submit_with(op::Send::new(fd, buf.freeze()), move |lp, (res, sent)| {
                assert_eq!(res.unwrap(), sent.len(), "short send on an idle loopback");
                assert_eq!(sent.len(), n);
                echoed.set(echoed.get() + messages);
                echo(lp, fd, echoed);
            });
        },
    );
}

fn stop_interrupts_a_blocking_wait(b: Backend) {
    let mut lp = new_loop(b);
    let (server, _client) = tcp_pair();
    let t = lp.submit(op::Recv::new(fd(&server), BytesMut::with_capacity(8)));
    let handle = lp.handle();
    let stopper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        handle.stop().unwrap();
    });
    let _dog = Watchdog::new(&lp, 10);
    let err = lp.wait(t).expect_err("stopped while waiting");
    stopper.join().unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::Interrupted);
    // The abandoned recv is cancelled; the loop ends up idle.
    turn_until(&mut lp, 5, |lp| lp.stats().in_flight == 0);
    assert!(!lp.has_work());
}

fn run_returns_when_no_work_is_left(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let got = slot();
    let g = got.clone();
    lp.submit_with(
        op::Recv::new(fd(&server), BytesMut::with_capacity(8)),
        move |lp, (res, buf)| {
            *g.borrow_mut() = Some(buf);
            res.unwrap();
            // Work queued from a callback keeps run() going.
            lp.submit_with(op::Nop, |_, r| r.unwrap());
        },
    );
    write_all(&mut client, b"bye");
    let _dog = Watchdog::new(&lp, 10);
    lp.run().unwrap();
    assert_eq!(&got.borrow().as_ref().unwrap()[..], b"bye");
    assert_eq!(lp.stats().completed(op::OpKind::Nop), 1);
    assert!(!lp.has_work());
}

fn stop_from_a_callback_ends_run(b: Backend) {
    let mut lp = new_loop(b);
    lp.timer(Duration::from_secs(20), |_| panic!("the long timer fired"));
    lp.timer(Duration::from_millis(10), |lp| lp.stop());
    let _dog = Watchdog::new(&lp, 10);
    let start = Instant::now();
    lp.run().unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(lp.stats().timers_pending, 1);
    assert!(lp.has_work());
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<ringloop::LoopHandle>();
}

both_backends!(
    post_runs_on_the_loop_thread,
    wake_interrupts_a_blocked_run_once,
    stop_from_another_thread_ends_run,
    post_after_drop_is_an_error,
    host_loop_with_poll_drives_io_and_timers,
    host_loop_sees_ops_submitted_outside_a_turn,
    one_loop_per_thread,
    stop_interrupts_a_blocking_wait,
    run_returns_when_no_work_is_left,
    stop_from_a_callback_ends_run,
);
