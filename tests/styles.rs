//! The three completion styles (callback, polling ticket, blocking wait) are three ways to receive
//! the same completion: the same op sequence gives the same results in each.

mod common;

use std::os::fd::AsRawFd;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::*;
use ringloop::op::Op;

#[derive(Clone, Copy, Debug)]
enum Style {
    Callback,
    Poll,
    Wait,
}

/// Runs one op to completion in `style` and returns its output.
fn run<O: Op>(lp: &mut EventLoop, style: Style, op: O) -> O::Output {
    match style {
        Style::Callback => {
            let out = slot();
            let o = out.clone();
            lp.submit_with(op, move |_, output| *o.borrow_mut() = Some(output));
            turn_until(lp, 5, |_| out.borrow().is_some());
            let v = out.borrow_mut().take().unwrap();
            v
        }
        Style::Poll => {
            let t = lp.submit(op);
            let id = t.id();
            let mut seen_finished = false;
            let mut out = None;
            turn_until(lp, 5, |lp| {
                seen_finished |= lp.finished().contains(&id);
                out = lp.poll(&t);
                out.is_some()
            });
            assert!(seen_finished, "a completed ticket is listed by finished()");
            assert!(lp.poll(&t).is_none(), "a ticket gives its output once");
            out.unwrap()
        }
        Style::Wait => {
            let t = lp.submit(op);
            wait(lp, t)
        }
    }
}

fn describe<T: std::fmt::Debug>(r: &std::io::Result<T>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => format!("err {:?}", e.raw_os_error()),
    }
}

/// The same sequence of ops, with every observable result written down.
fn sequence(b: Backend, style: Style) -> Vec<String> {
    let mut lp = new_loop(b);
    let mut out = Vec::new();
    let (server, mut client) = tcp_pair();
    let s = server.as_raw_fd();

    out.push(describe(&run(&mut lp, style, op::Nop)));

    let (r, buf) = run(
        &mut lp,
        style,
        op::Send::new(s, Bytes::from_static(b"ping")),
    );
    out.push(format!("send {} {:?}", describe(&r), buf));
    assert_eq!(read_exact(&mut client, 4), b"ping");

    write_all(&mut client, b"pong");
    let (r, buf) = run(
        &mut lp,
        style,
        op::Recv::new(s, BytesMut::with_capacity(16)),
    );
    out.push(format!("recv {} {:?}", describe(&r), buf));

    let parts = vec![Bytes::from_static(b"a"), Bytes::from_static(b"bc")];
    let (r, bufs) = run(&mut lp, style, op::SendVectored::new(s, parts));
    out.push(format!("sendv {} {:?}", describe(&r), bufs));
    assert_eq!(read_exact(&mut client, 3), b"abc");

    let (r, buf) = run(
        &mut lp,
        style,
        op::Recv::new(-1, BytesMut::with_capacity(4)),
    );
    out.push(format!("recv-bad {} {:?}", describe(&r), buf));

    let file = temp_file();
    let f = file.as_raw_fd();
    let (r, _) = run(
        &mut lp,
        style,
        op::WriteAt::new(f, Bytes::from_static(b"0123456789"), 0),
    );
    out.push(format!("write {}", describe(&r)));
    let (r, buf) = run(
        &mut lp,
        style,
        op::ReadAt::new(f, BytesMut::with_capacity(4), 3),
    );
    out.push(format!("read {} {:?}", describe(&r), buf));
    out.push(describe(&run(&mut lp, style, op::Fsync::new(f))));

    let sock = tcp_socket();
    let r = run(
        &mut lp,
        style,
        op::Connect::new(sock.as_raw_fd(), closed_port()),
    );
    out.push(format!("connect-refused {}", describe(&r)));

    out.push(describe(&run(
        &mut lp,
        style,
        op::Timeout::new(Duration::from_millis(5)),
    )));

    client.shutdown(std::net::Shutdown::Write).unwrap();
    let (r, buf) = run(
        &mut lp,
        style,
        op::Recv::new(s, BytesMut::with_capacity(16)),
    );
    out.push(format!("recv-eof {} {:?}", describe(&r), buf));

    let r = run(&mut lp, style, op::Close::new(server.into()));
    out.push(format!("close {}", describe(&r)));
    assert_eq!(lp.stats().in_flight, 0);
    out
}

fn three_styles_give_identical_results(b: Backend) {
    let callback = sequence(b, Style::Callback);
    let poll = sequence(b, Style::Poll);
    let wait = sequence(b, Style::Wait);
    assert_eq!(callback, poll, "callback vs poll");
    assert_eq!(callback, wait, "callback vs wait");
    // And the results are the right ones, not merely the same.
    let expected = [
        "ok ()",
        "send ok 4 b\"ping\"",
        "recv ok 4 b\"pong\"",
        "sendv ok 3 [b\"a\", b\"bc\"]",
        "recv-bad err Some(9) b\"\"",
        "write ok 10",
        "read ok 4 b\"3456\"",
        "ok ()",
        "connect-refused err Some(111)",
        "ok ()",
        "recv-eof ok 0 b\"\"",
        "close ok ()",
    ];
    assert_eq!(callback, expected);
}

fn finished_lists_completed_tickets_once(b: Backend) {
    let mut lp = new_loop(b);
    let (server, _client) = tcp_pair();
    let nops: Vec<_> = (0..3).map(|_| lp.submit(op::Nop)).collect();
    let pending = lp.submit(op::Recv::new(fd(&server), BytesMut::with_capacity(8)));
    let mut done = Vec::new();
    turn_until(&mut lp, 5, |lp| {
        done.extend(lp.finished());
        done.len() >= 3
    });
    turn_for(&mut lp, Duration::from_millis(20));
    done.extend(lp.finished());
    let mut want: Vec<_> = nops.iter().map(|t| t.id()).collect();
    want.sort_by_key(|id| format!("{id:?}"));
    done.sort_by_key(|id| format!("{id:?}"));
    assert_eq!(done, want, "exactly the completed tickets, each once");
    assert!(lp.finished().is_empty(), "finished() drains");
    assert!(lp.poll(&pending).is_none(), "the recv is still pending");
    for t in &nops {
        lp.poll(t)
            .expect("listed as finished, so pollable")
            .unwrap();
        assert!(lp.poll(t).is_none(), "second poll gives nothing");
    }
    assert!(lp.cancel(pending.id()));
    let (res, _) = poll_until(&mut lp, &pending, 5);
    assert_eq!(errno(&res.unwrap_err()), libc::ECANCELED);
}

fn collect_finished_fills_the_callers_vector_and_keeps_allocations(b: Backend) {
    let mut lp = new_loop(b);
    let mut ids = Vec::with_capacity(16);
    let mut allocations = std::collections::HashSet::new();
    for round in 0..4 {
        let tickets: Vec<_> = (0..3).map(|_| lp.submit(op::Nop)).collect();
        turn_until(&mut lp, 5, |lp| {
            tickets.iter().all(|t| lp.poll(t).is_some())
        });
        lp.collect_finished(&mut ids);
        let mut want: Vec<_> = tickets.iter().map(|t| t.id()).collect();
        want.sort_by_key(|id| format!("{id:?}"));
        ids.sort_by_key(|id| format!("{id:?}"));
        assert_eq!(ids, want, "round {round}: exactly this round's tickets");
        allocations.insert(ids.as_ptr());
    }
    // The loop and the caller trade two vectors back and forth: no new ones after the first.
    assert!(allocations.len() <= 2, "{} vectors", allocations.len());
    lp.collect_finished(&mut ids);
    assert!(
        ids.is_empty(),
        "nothing finished since: the vector is cleared"
    );
}

fn callbacks_can_chain_ops(b: Backend) {
    // A callback submitting the next op is the callback style's normal shape; the loop runs the
    // chain to the end without recursion or starvation.
    let mut lp = new_loop(b);
    let count = std::rc::Rc::new(std::cell::Cell::new(0u32));
    fn step(lp: &mut EventLoop, count: std::rc::Rc<std::cell::Cell<u32>>) {
        lp.submit_with(op::Nop, move |lp, r| {
            r.unwrap();
            count.set(count.get() + 1);
            if count.get() < 100 {
                step(lp, count);
            }
        });
    }
    step(&mut lp, count.clone());
    turn_until(&mut lp, 5, |_| count.get() == 100);
    assert_eq!(lp.stats().completed(ringloop::op::OpKind::Nop), 100);
    assert_eq!(lp.stats().in_flight, 0);
}

fn blocking_wait_inside_a_multishot_callback(b: Backend) {
    // The synchronous style used from inside a callback: the nested wait turns the loop while
    // the stream's own callback is running. Items that arrive meanwhile must wait their turn,
    // not be dropped (each is an accepted connection here).
    let mut lp = new_loop(b);
    let (l, addr) = listener();
    let accepted = log();
    let acc = accepted.clone();
    lp.submit_multi_with(op::AcceptMulti::new(fd(&l)), move |lp, item| {
        let conn = item.expect("accept");
        // Hold this callback for a while, in a blocking wait.
        let t = lp.submit(op::Timeout::new(Duration::from_millis(20)));
        lp.wait(t).unwrap().unwrap();
        let t = lp.submit(op::Send::new(fd(&conn), Bytes::from_static(b"hi")));
        assert_eq!(lp.wait(t).unwrap().0.unwrap(), 2);
        acc.borrow_mut().push(conn);
    });
    lp.run_once(Some(Duration::ZERO)).unwrap();
    // Staggered, so that connections arrive while a callback is blocked in its wait.
    let connector = std::thread::spawn(move || {
        (0..5)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(5));
                connect(addr)
            })
            .collect::<Vec<_>>()
    });
    turn_until(&mut lp, 10, |_| accepted.borrow().len() == 5);
    let mut clients = connector.join().unwrap();
    for c in &mut clients {
        assert_eq!(read_exact(c, 2), b"hi");
    }
}

both_backends!(
    three_styles_give_identical_results,
    finished_lists_completed_tickets_once,
    collect_finished_fills_the_callers_vector_and_keeps_allocations,
    callbacks_can_chain_ops,
    blocking_wait_inside_a_multishot_callback,
);
