//! Multishot ops: one submission, a stream of completions (AcceptMulti, RecvMulti), in callback
//! and stream-ticket style; cancel; and a starved receive pool that must stall, not lose data.

mod common;

use std::cell::Cell;
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use ringloop::PooledBuf;

type AcceptItem = std::io::Result<OwnedFd>;
type RecvItem = std::io::Result<Option<PooledBuf>>;

/// Proves `accepted` is the server end of `client`: bytes sent on one arrive on the other.
fn assert_connected(lp: &mut EventLoop, accepted: &OwnedFd, client: &mut TcpStream, tag: u8) {
    let t = lp.submit(op::Send::new(fd(accepted), Bytes::copy_from_slice(&[tag])));
    assert_eq!(wait(lp, t).0.unwrap(), 1);
    assert_eq!(read_exact(client, 1), [tag]);
}

fn accept_multi_callback_yields_every_connection(b: Backend) {
    let mut lp = new_loop(b);
    let (l, addr) = listener();
    let items: Log<AcceptItem> = log();
    let it = items.clone();
    let id = lp.submit_multi_with(op::AcceptMulti::new(fd(&l)), move |_, item| {
        it.borrow_mut().push(item)
    });
    lp.run_once(Some(Duration::ZERO)).unwrap();
    let mut clients: Vec<_> = (0..5).map(|_| connect(addr)).collect();
    turn_until(&mut lp, 5, |_| items.borrow().len() == 5);
    let accepted: Vec<OwnedFd> = items.borrow_mut().drain(..).map(|r| r.unwrap()).collect();
    // Match accepted sockets to clients by address, then prove each pair is connected.
    for (i, a) in accepted.iter().enumerate() {
        let peer = socket2::SockRef::from(a)
            .peer_addr()
            .unwrap()
            .as_socket()
            .unwrap();
        let c = clients
            .iter_mut()
            .find(|c| c.local_addr().unwrap() == peer)
            .expect("accepted a connection of ours");
        assert_connected(&mut lp, a, c, i as u8);
    }
    assert_eq!(lp.stats().in_flight, 1, "the stream stays armed");
    assert!(lp.cancel(id));
    turn_until(&mut lp, 5, |_| !items.borrow().is_empty());
    let last = items.borrow_mut().pop().unwrap();
    assert_eq!(errno(&last.unwrap_err()), libc::ECANCELED);
    turn_for(&mut lp, Duration::from_millis(20));
    assert!(items.borrow().is_empty(), "nothing after the final item");
    assert_eq!(lp.stats().in_flight, 0);
    assert_eq!(lp.stats().completed(op::OpKind::AcceptMulti), 1);
    // After the cancel, connections are left for whoever accepts next.
    let _late = connect(addr);
    let t = lp.submit(op::Accept::new(fd(&l)));
    poll_until(&mut lp, &t, 5).expect("plain accept after the stream ended");
}

fn accept_multi_stream_ticket_poll_and_wait(b: Backend) {
    let mut lp = new_loop(b);
    let (l, addr) = listener();
    let t = lp.submit_multi(op::AcceptMulti::new(fd(&l)));
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert!(lp.poll_next(&t).is_none(), "nothing yet");
    let mut c1 = connect(addr);
    let _dog = Watchdog::new(&lp, 10);
    let a1 = lp.wait_next(&t).unwrap().unwrap().unwrap();
    assert_connected(&mut lp, &a1, &mut c1, 1);
    let mut c2 = connect(addr);
    let mut c3 = connect(addr);
    let mut got = Vec::new();
    turn_until(&mut lp, 5, |lp| {
        got.extend(lp.poll_next(&t));
        got.len() == 2
    });
    let got: Vec<OwnedFd> = got.into_iter().map(|r| r.unwrap()).collect();
    for a in &got {
        let peer = socket2::SockRef::from(a)
            .peer_addr()
            .unwrap()
            .as_socket()
            .unwrap();
        let c = if peer == c2.local_addr().unwrap() {
            &mut c2
        } else {
            &mut c3
        };
        assert_connected(&mut lp, a, c, 2);
    }
    assert!(lp.cancel(t.id()));
    let end = lp.wait_next(&t).unwrap().unwrap();
    assert_eq!(errno(&end.unwrap_err()), libc::ECANCELED);
    assert!(lp.wait_next(&t).unwrap().is_none(), "stream over");
    assert!(lp.poll_next(&t).is_none());
    assert_eq!(lp.stats().in_flight, 0);
}

fn recv_multi_stream_ticket_until_eof(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let t = lp.submit_multi(op::RecvMulti::new(fd(&server)));
    let data = pattern(3, 20_000);
    let writer = std::thread::spawn(move || {
        for chunk in data.chunks(1000) {
            client.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        client.shutdown(Shutdown::Write).unwrap();
        client
    });
    let _dog = Watchdog::new(&lp, 10);
    let mut got = Vec::new();
    let mut items = 0;
    loop {
        match lp.wait_next(&t).unwrap() {
            Some(Ok(Some(buf))) => {
                assert!(!buf.is_empty());
                got.extend_from_slice(&buf);
                items += 1;
            }
            Some(Ok(None)) => break,
            Some(Err(e)) => panic!("stream error {e}"),
            None => panic!("stream ended without EOF item"),
        }
    }
    let _client = writer.join().unwrap();
    assert_eq!(
        got,
        pattern(3, 20_000),
        "concatenation equals what the peer sent"
    );
    assert!(items >= 2, "several chunks, got {items}");
    assert!(lp.wait_next(&t).unwrap().is_none(), "nothing after EOF");
    assert_eq!(lp.stats().in_flight, 0);
    assert_eq!(lp.stats().completed(op::OpKind::RecvMulti), 1);
}

/// Without `recv_buffers`, pool buffers have the backend's default size: 4 KiB on io_uring (the
/// ring touches every buffer in turn), 16 KiB on epoll (so that one short read drains a socket
/// holding a 10 KB message, instead of a full read plus one that meets `EAGAIN`).
fn default_pool_buffer_size_follows_the_backend(b: Backend) {
    let _ = env_logger::builder().is_test(true).try_init();
    let mut lp = EventLoop::builder().backend(b).build().unwrap();
    let expected = match b {
        Backend::Epoll => ringloop::RECV_BUFFER_SIZE_EPOLL,
        _ => ringloop::RECV_BUFFER_SIZE_URING,
    };
    let (server, mut client) = tcp_pair();
    let t = lp.submit_multi(op::RecvMulti::new(fd(&server)));
    let data = pattern(7, 10_000);
    write_all(&mut client, &data);
    let _dog = Watchdog::new(&lp, 10);
    let mut sizes = Vec::new();
    let mut got = Vec::new();
    while got.len() < data.len() {
        let buf = lp.wait_next(&t).unwrap().unwrap().unwrap().unwrap();
        sizes.push(buf.len());
        got.extend_from_slice(&buf);
    }
    assert_eq!(got, data);
    assert!(sizes.iter().all(|&n| n <= expected), "items {sizes:?}");
    match b {
        // One write of 10,000 bytes on loopback is one segment: one read takes it all.
        Backend::Epoll => assert_eq!(sizes, [10_000], "one short read"),
        _ => assert!(sizes.contains(&expected), "full 4 KiB buffers: {sizes:?}"),
    }
    drop(client);
}

fn recv_multi_callback_until_eof(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let items: Log<Option<Vec<u8>>> = log();
    let it = items.clone();
    lp.submit_multi_with(op::RecvMulti::new(fd(&server)), move |_, item: RecvItem| {
        // Copy out and drop the PooledBuf at once: the buffer goes back to the pool.
        it.borrow_mut().push(item.unwrap().map(|b| b.to_vec()))
    });
    let mut sent = Vec::new();
    for i in 0..5 {
        let chunk = pattern(i, 300 + i * 100);
        write_all(&mut client, &chunk);
        sent.extend_from_slice(&chunk);
        let want = sent.len();
        turn_until(&mut lp, 5, |_| {
            items.borrow().iter().flatten().map(Vec::len).sum::<usize>() == want
        });
    }
    client.shutdown(Shutdown::Write).unwrap();
    turn_until(&mut lp, 5, |_| items.borrow().last() == Some(&None));
    let items = items.borrow();
    let got: Vec<u8> = items.iter().flatten().flatten().copied().collect();
    assert_eq!(got, sent);
    assert_eq!(
        items.iter().filter(|i| i.is_none()).count(),
        1,
        "one EOF, last"
    );
    assert_eq!(lp.stats().in_flight, 0);
}

fn cancel_ends_a_recv_stream(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let t = lp.submit_multi(op::RecvMulti::new(fd(&server)));
    write_all(&mut client, b"first");
    let _dog = Watchdog::new(&lp, 10);
    let first = lp.wait_next(&t).unwrap().unwrap();
    assert_eq!(&first.unwrap().unwrap()[..], b"first");
    assert!(lp.cancel(t.id()));
    assert!(!lp.cancel(t.id()), "second cancel refused");
    let end = lp.wait_next(&t).unwrap().unwrap();
    assert_eq!(errno(&end.unwrap_err()), libc::ECANCELED);
    assert!(lp.wait_next(&t).unwrap().is_none());
    assert_eq!(lp.stats().in_flight, 0);
    // Data sent after the cancel stays in the socket for the next reader.
    write_all(&mut client, b"second");
    let t = lp.submit(op::Recv::new(
        fd(&server),
        bytes::BytesMut::with_capacity(16),
    ));
    let (res, buf) = poll_until(&mut lp, &t, 5);
    assert_eq!(res.unwrap(), 6);
    assert_eq!(&buf[..], b"second");
}

fn dropping_a_stream_ticket_cancels_it(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let t = lp.submit_multi(op::RecvMulti::new(fd(&server)));
    write_all(&mut client, b"queued");
    turn_until(&mut lp, 5, |lp| lp.finished().contains(&t.id()));
    drop(t); // with an unread item in its queue
    turn_until(&mut lp, 5, |lp| lp.stats().in_flight == 0);
    turn_for(&mut lp, Duration::from_millis(10));
    write_all(&mut client, b"later");
    let t = lp.submit(op::Recv::new(
        fd(&server),
        bytes::BytesMut::with_capacity(16),
    ));
    let (res, buf) = poll_until(&mut lp, &t, 5);
    assert_eq!(res.unwrap(), 5);
    assert_eq!(&buf[..], b"later", "the dropped stream no longer reads");
}

/// A pool of two 64-byte buffers, all held by the test: the stream must stall (not error, not
/// drop data) and resume, in order, once buffers come back — io_uring re-arms after ENOBUFS,
/// epoll waits for a free buffer.
fn starved_pool_stalls_then_resumes(b: Backend) {
    let mut lp = new_loop_with(b, |builder| builder.recv_buffers(2, 64));
    assert_eq!(
        lp.recv_buffers_free(),
        (0, 0),
        "no pool before the first recv"
    );
    let (server, mut client) = tcp_pair();
    let t = lp.submit_multi(op::RecvMulti::new(fd(&server)));
    assert_eq!(lp.recv_buffers_free(), (2, 2));
    let data = pattern(9, 1000);
    write_all(&mut client, &data);
    let mut got = Vec::new();
    let mut held: Vec<PooledBuf> = Vec::new();
    let mut stalls = 0;
    while got.len() + held.iter().map(|b| b.len()).sum::<usize>() < data.len() {
        // Take items until both buffers are in our hands and nothing more can arrive.
        turn_until(&mut lp, 5, |lp| {
            while let Some(item) = lp.poll_next(&t) {
                held.push(item.expect("no error while starved").expect("no EOF yet"));
            }
            held.len() == 2 || got.len() + held.iter().map(|b| b.len()).sum::<usize>() == 1000
        });
        if held.len() == 2 {
            assert_eq!(lp.recv_buffers_free(), (0, 2), "both buffers in our hands");
            turn_for(&mut lp, Duration::from_millis(20));
            assert!(
                lp.poll_next(&t).is_none(),
                "an item arrived with no free buffer"
            );
            stalls += 1;
        }
        let in_hand = held.len();
        for buf in held.drain(..) {
            assert!(buf.len() <= 64);
            got.extend_from_slice(&buf);
        }
        assert_eq!(lp.recv_buffers_free().0, 2, "dropped {in_hand}: all back");
        // The buffers are back: one turn, with nothing else to wake the loop, must resume the
        // stream (the data is already in the socket, so no new readiness or completion comes).
        if got.len() < data.len() {
            let start = Instant::now();
            lp.run_once(Some(Duration::from_secs(3))).unwrap();
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "returned buffers did not wake the starved stream"
            );
        }
    }
    assert_eq!(got, data, "no data lost or reordered while starved");
    assert!(
        stalls >= 5,
        "1000 bytes through 2×64 bytes must stall repeatedly: {stalls}"
    );
    client.shutdown(Shutdown::Write).unwrap();
    let mut end = None;
    turn_until(&mut lp, 5, |lp| {
        end = lp.poll_next(&t);
        end.is_some()
    });
    assert!(end.unwrap().unwrap().is_none(), "EOF after all data");
    if b == Backend::Uring {
        assert!(lp.stats().multishot_rearms > 0, "ENOBUFS was re-armed");
    }
    assert_eq!(lp.stats().in_flight, 0);
}

/// A received `PooledBuf` is itself a `SendBuf`: sent on as it is, it holds its pool buffer until
/// the send completes, and the buffer goes back with the op's output. Other owning buffers send
/// the same way.
fn pooled_buf_is_sent_as_it_is(b: Backend) {
    let mut lp = new_loop_with(b, |builder| builder.recv_buffers(4, 64));
    let (server, mut client) = tcp_pair();
    let t = lp.submit_multi(op::RecvMulti::new(fd(&server)));
    write_all(&mut client, b"ping");
    let _dog = Watchdog::new(&lp, 10);
    let buf = lp.wait_next(&t).unwrap().unwrap().unwrap().unwrap();
    assert_eq!(&buf[..], b"ping");
    assert_eq!(
        lp.recv_buffers_free(),
        (3, 4),
        "the received buffer is ours"
    );
    let sent = lp.submit(op::Send::new(fd(&server), buf));
    let (res, buf) = wait(&mut lp, sent);
    assert_eq!(res.unwrap(), 4);
    assert_eq!(read_exact(&mut client, 4), b"ping");
    assert_eq!(
        lp.recv_buffers_free(),
        (3, 4),
        "held by the op's output until dropped"
    );
    drop(buf);
    assert_eq!(lp.recv_buffers_free(), (4, 4));
    let v = lp.submit(op::Send::new(fd(&server), b"vec".to_vec()));
    assert_eq!(wait(&mut lp, v).0.unwrap(), 3);
    let st = lp.submit(op::Send::new(fd(&server), &b"static"[..]));
    assert_eq!(wait(&mut lp, st).0.unwrap(), 6);
    assert_eq!(read_exact(&mut client, 9), b"vecstatic");
}

fn pooled_buf_outlives_its_loop(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let t = lp.submit_multi(op::RecvMulti::new(fd(&server)));
    write_all(&mut client, b"keep me");
    let _dog = Watchdog::new(&lp, 10);
    let buf = lp.wait_next(&t).unwrap().unwrap().unwrap().unwrap();
    drop(_dog);
    drop(t);
    drop(lp);
    assert_eq!(
        &buf[..],
        b"keep me",
        "the bytes stay valid after the loop is gone"
    );
    drop(buf);
}

/// Cancel is how a server pauses reading (back-pressure): under a continuous flood, a cancelled
/// stream must end promptly, delivering at most what the kernel had already put into pool
/// buffers (io_uring) — a bound set by the pool, not by the flood.
fn cancel_stops_a_flooded_stream(b: Backend) {
    let mut lp = new_loop(b); // pool: 64 × 4 KiB
    let (server, mut client) = tcp_pair();
    client
        .set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_writer = stop.clone();
    let writer = std::thread::spawn(move || {
        let chunk = vec![7u8; 256 * 1024];
        let end = Instant::now() + Duration::from_secs(10);
        while !stop_writer.load(Ordering::Acquire) && Instant::now() < end {
            if let Err(e) = client.write(&chunk) {
                if e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut
                {
                    break;
                }
            }
        }
    });
    let total = Rc::new(Cell::new(0usize));
    let after_cancel = Rc::new(Cell::new(0usize));
    let cancelled = Rc::new(Cell::new(false));
    let ended = Rc::new(Cell::new(false));
    let me: Rc<Cell<Option<ringloop::OpId>>> = Rc::new(Cell::new(None));
    let (t, a, c, e, m) = (
        total.clone(),
        after_cancel.clone(),
        cancelled.clone(),
        ended.clone(),
        me.clone(),
    );
    let id = lp.submit_multi_with(
        op::RecvMulti::new(fd(&server)),
        move |lp, item: RecvItem| match item {
            Ok(Some(buf)) => {
                t.set(t.get() + buf.len());
                if c.get() {
                    a.set(a.get() + buf.len());
                } else if t.get() > 4 << 20 {
                    c.set(true);
                    assert!(lp.cancel(m.get().unwrap()));
                }
            }
            Ok(None) => panic!("unexpected EOF"),
            Err(err) => {
                assert_eq!(errno(&err), libc::ECANCELED);
                e.set(true);
            }
        },
    );
    me.set(Some(id));
    turn_until(&mut lp, 10, |_| ended.get());
    stop.store(true, Ordering::Release);
    writer.join().unwrap();
    assert!(total.get() > 4 << 20);
    let pool_bytes = 64 * 4096;
    assert!(
        after_cancel.get() <= 2 * pool_bytes,
        "{} bytes delivered after cancel",
        after_cancel.get()
    );
    assert_eq!(lp.stats().in_flight, 0);
}

/// Fills the tiny pool (2 × 64 bytes) and returns the two held buffers: the stream is starved.
fn starve(lp: &mut EventLoop, t: &ringloop::StreamTicket<op::RecvMulti>) -> Vec<PooledBuf> {
    let mut held = Vec::new();
    turn_until(lp, 5, |lp| {
        held.extend(lp.poll_next(t).map(|i| i.unwrap().unwrap()));
        held.len() == 2
    });
    turn_for(lp, Duration::from_millis(10));
    assert!(lp.poll_next(t).is_none(), "starved");
    held
}

fn cancel_a_starved_stream(b: Backend) {
    let mut lp = new_loop_with(b, |builder| builder.recv_buffers(2, 64));
    let (server, mut client) = tcp_pair();
    let t = lp.submit_multi(op::RecvMulti::new(fd(&server)));
    let data = pattern(4, 500);
    write_all(&mut client, &data);
    let held = starve(&mut lp, &t);
    assert!(lp.cancel(t.id()));
    let mut end = None;
    turn_until(&mut lp, 5, |lp| {
        end = lp.poll_next(&t);
        end.is_some()
    });
    assert_eq!(errno(&end.unwrap().unwrap_err()), libc::ECANCELED);
    assert_eq!(lp.stats().in_flight, 0);
    // What the stream did not take is still in the socket.
    let mut got: Vec<u8> = held.iter().flat_map(|b| b.iter().copied()).collect();
    drop(held);
    while got.len() < data.len() {
        let r = lp.submit(op::Recv::new(
            fd(&server),
            bytes::BytesMut::with_capacity(1024),
        ));
        let (res, buf) = poll_until(&mut lp, &r, 5);
        assert!(res.unwrap() > 0);
        got.extend_from_slice(&buf);
    }
    assert_eq!(got, data);
}

fn close_a_starved_stream(b: Backend) {
    let mut lp = new_loop_with(b, |builder| builder.recv_buffers(2, 64));
    let (server, mut client) = tcp_pair();
    let t = lp.submit_multi(op::RecvMulti::new(fd(&server)));
    write_all(&mut client, &pattern(4, 500));
    let held = starve(&mut lp, &t);
    let c = lp.submit(op::Close::new(OwnedFd::from(server)));
    let mut end = None;
    turn_until(&mut lp, 5, |lp| {
        end = lp.poll_next(&t);
        end.is_some()
    });
    assert_eq!(errno(&end.unwrap().unwrap_err()), libc::ECANCELED);
    poll_until(&mut lp, &c, 5).expect("close");
    drop(held);
    turn_for(&mut lp, Duration::from_millis(10));
    assert_eq!(lp.stats().in_flight, 0);
}

both_backends!(
    accept_multi_callback_yields_every_connection,
    accept_multi_stream_ticket_poll_and_wait,
    recv_multi_stream_ticket_until_eof,
    recv_multi_callback_until_eof,
    default_pool_buffer_size_follows_the_backend,
    cancel_ends_a_recv_stream,
    dropping_a_stream_ticket_cancels_it,
    starved_pool_stalls_then_resumes,
    pooled_buf_outlives_its_loop,
    pooled_buf_is_sent_as_it_is,
    cancel_stops_a_flooded_stream,
    cancel_a_starved_stream,
    close_a_starved_stream,
);
