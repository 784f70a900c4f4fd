//! Every op kind, on both backends: what it does, what it returns, and its error cases.

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::*;

fn accept_returns_stream_and_peer_address(b: Backend) {
    let mut lp = new_loop(b);
    let (l, addr) = listener();
    let t = lp.submit(op::Accept::new(fd(&l)));
    lp.run_once(Some(Duration::ZERO)).unwrap();
    let mut client = connect(addr);
    let (stream, peer) = poll_until(&mut lp, &t, 5).expect("accept");
    assert_eq!(peer, Some(client.local_addr().unwrap()));
    // The accepted fd is the server end of this very connection.
    let stream = std::net::TcpStream::from(stream);
    assert_eq!(stream.peer_addr().unwrap(), client.local_addr().unwrap());
    let t = lp.submit(op::Send::new(fd(&stream), Bytes::from_static(b"hi")));
    assert_eq!(wait(&mut lp, t).0.unwrap(), 2);
    assert_eq!(read_exact(&mut client, 2), b"hi");
}

fn connect_succeeds(b: Backend) {
    let mut lp = new_loop(b);
    let (l, addr) = listener();
    let sock = tcp_socket();
    let t = lp.submit(op::Connect::new(sock.as_raw_fd(), addr));
    wait(&mut lp, t).expect("connect");
    let (_server, peer) = l.accept().unwrap();
    assert_eq!(
        peer,
        sock.local_addr().unwrap().as_socket().unwrap(),
        "the listener accepted our socket"
    );
}

fn connect_refused_is_econnrefused(b: Backend) {
    let mut lp = new_loop(b);
    let sock = tcp_socket();
    let t = lp.submit(op::Connect::new(sock.as_raw_fd(), closed_port()));
    let err = wait(&mut lp, t).expect_err("nobody listens there");
    assert_eq!(errno(&err), libc::ECONNREFUSED, "{err:?}");
}

fn recv_data_then_zero_at_eof(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let t = lp.submit(op::Recv::new(fd(&server), BytesMut::with_capacity(64)));
    write_all(&mut client, b"hello");
    let (res, buf) = wait(&mut lp, t);
    assert_eq!(res.unwrap(), 5);
    assert_eq!(&buf[..], b"hello");

    // Appends after what the buffer already holds.
    let t = lp.submit(op::Recv::new(fd(&server), buf));
    write_all(&mut client, b" world");
    let (res, buf) = wait(&mut lp, t);
    assert_eq!(res.unwrap(), 6);
    assert_eq!(&buf[..], b"hello world");

    client.shutdown(std::net::Shutdown::Write).unwrap();
    let t = lp.submit(op::Recv::new(fd(&server), BytesMut::with_capacity(64)));
    let (res, buf) = wait(&mut lp, t);
    assert_eq!(res.unwrap(), 0, "peer closed its side");
    assert!(buf.is_empty());
}

fn recv_without_spare_capacity_is_enobufs(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let mut full = BytesMut::with_capacity(8);
    full.extend_from_slice(b"12345678");
    assert_eq!(full.len(), full.capacity(), "test precondition");
    write_all(&mut client, b"pending");
    let t = lp.submit(op::Recv::new(fd(&server), full));
    let (res, buf) = wait(&mut lp, t);
    assert_eq!(errno(&res.unwrap_err()), libc::ENOBUFS);
    assert_eq!(&buf[..], b"12345678", "buffer returned untouched");
    // Nothing was consumed from the socket.
    let t = lp.submit(op::Recv::new(fd(&server), BytesMut::with_capacity(64)));
    let (res, buf) = wait(&mut lp, t);
    assert_eq!(res.unwrap(), 7);
    assert_eq!(&buf[..], b"pending");
}

fn send_delivers_bytes(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let data = Bytes::from(pattern(1, 10_000));
    let t = lp.submit(op::Send::new(fd(&server), data.clone()));
    let (res, back) = wait(&mut lp, t);
    assert_eq!(
        res.unwrap(),
        data.len(),
        "10 kB fit a loopback socket buffer"
    );
    assert_eq!(back, data, "buffer returned");
    assert_eq!(read_exact(&mut client, data.len()), &data[..]);
}

fn send_vectored_sends_all_in_order(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let parts: Vec<Bytes> = vec![
        Bytes::from_static(b"GET / HTTP/1.1\r\n"),
        Bytes::from_static(b"Host: x\r\n"),
        Bytes::new(),
        Bytes::from(pattern(2, 3000)),
        Bytes::from_static(b"\r\n"),
    ];
    let expected: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let t = lp.submit(op::SendVectored::new(fd(&server), parts.clone()));
    let (res, back) = wait(&mut lp, t);
    assert_eq!(res.unwrap(), expected.len());
    assert_eq!(back, parts, "buffers returned in order");
    assert_eq!(read_exact(&mut client, expected.len()), expected);
}

fn send_vectored_too_many_buffers_is_emsgsize(b: Backend) {
    let mut lp = new_loop(b);
    let (server, _client) = tcp_pair();
    let parts = vec![Bytes::from_static(b"x"); 1025];
    let t = lp.submit(op::SendVectored::new(fd(&server), parts));
    let (res, back) = wait(&mut lp, t);
    assert_eq!(errno(&res.unwrap_err()), libc::EMSGSIZE);
    assert_eq!(back.len(), 1025);
}

fn write_at_and_read_at_offsets(b: Backend) {
    let mut lp = new_loop(b);
    let file = temp_file();
    let f = fd(&file);
    let t = lp.submit(op::WriteAt::new(f, Bytes::from_static(b"hello"), 0));
    assert_eq!(wait(&mut lp, t).0.unwrap(), 5);
    let t = lp.submit(op::WriteAt::new(f, Bytes::from_static(b"world"), 10));
    let (res, back) = wait(&mut lp, t);
    assert_eq!(res.unwrap(), 5);
    assert_eq!(&back[..], b"world");

    let t = lp.submit(op::ReadAt::new(f, BytesMut::with_capacity(5), 10));
    let (res, buf) = wait(&mut lp, t);
    assert_eq!(res.unwrap(), 5);
    assert_eq!(&buf[..], b"world");

    // The whole file, hole included; appended after existing contents.
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(b">");
    let t = lp.submit(op::ReadAt::new(f, buf, 0));
    let (res, buf) = wait(&mut lp, t);
    assert_eq!(res.unwrap(), 15);
    assert_eq!(&buf[..], b">hello\0\0\0\0\0world");

    let t = lp.submit(op::ReadAt::new(f, BytesMut::with_capacity(8), 100));
    let (res, buf) = wait(&mut lp, t);
    assert_eq!(res.unwrap(), 0, "past end of file");
    assert!(buf.is_empty());

    // What the loop wrote is what the file holds.
    let mut contents = Vec::new();
    (&file).read_to_end(&mut contents).unwrap();
    assert_eq!(contents, b"hello\0\0\0\0\0world");
}

fn fsync_and_data_only(b: Backend) {
    let mut lp = new_loop(b);
    let file = temp_file();
    let t = lp.submit(op::WriteAt::new(fd(&file), Bytes::from_static(b"x"), 0));
    wait(&mut lp, t).0.unwrap();
    let t = lp.submit(op::Fsync::new(fd(&file)));
    wait(&mut lp, t).expect("fsync");
    let t = lp.submit(op::Fsync::new(fd(&file)).data_only());
    wait(&mut lp, t).expect("fdatasync");
    let t = lp.submit(op::Fsync::new(BAD_FD));
    assert_eq!(errno(&wait(&mut lp, t).unwrap_err()), libc::EBADF);
}

fn close_really_closes(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let raw = fd(&server);
    let t = lp.submit(op::Close::new(OwnedFd::from(server)));
    wait(&mut lp, t).expect("close");
    // The peer sees end-of-stream: the socket is gone, not just shut down by us.
    assert!(read_to_eof(&mut client).is_empty());
    // The number is no longer open (unless another test's thread reused it meanwhile: then it
    // is a different socket, which the peer check above already rules in our favour).
    // SAFETY: F_GETFD on a number has no memory effects.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFD) };
    if flags < 0 {
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EBADF)
        );
    }
}

fn nop_completes_ok(b: Backend) {
    let mut lp = new_loop(b);
    let t = lp.submit(op::Nop);
    wait(&mut lp, t).expect("nop");
    let done = slot();
    let d = done.clone();
    lp.submit_with(op::Nop, move |_, r| *d.borrow_mut() = Some(r.is_ok()));
    turn_until(&mut lp, 5, |_| done.borrow().is_some());
    assert_eq!(*done.borrow(), Some(true));
}

fn timeout_fires_after_not_before(b: Backend) {
    let mut lp = new_loop(b);
    let start = Instant::now();
    let t = lp.submit(op::Timeout::new(Duration::from_millis(40)));
    // Not before: turning the loop for 20 ms leaves it pending.
    turn_for(&mut lp, Duration::from_millis(20));
    assert!(lp.poll(&t).is_none(), "timeout fired early");
    wait(&mut lp, t).expect("a timeout that expires is Ok");
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(40), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

fn bad_fd_is_ebadf_and_buffers_come_back(b: Backend) {
    let mut lp = new_loop(b);
    let mut buf = BytesMut::with_capacity(32);
    buf.extend_from_slice(b"keep");
    let t = lp.submit(op::Recv::new(BAD_FD, buf));
    let (res, buf) = wait(&mut lp, t);
    assert_eq!(errno(&res.unwrap_err()), libc::EBADF);
    assert_eq!(&buf[..], b"keep");
    assert_eq!(buf.capacity(), 32);

    let t = lp.submit(op::Send::new(BAD_FD, Bytes::from_static(b"data")));
    let (res, back) = wait(&mut lp, t);
    assert_eq!(errno(&res.unwrap_err()), libc::EBADF);
    assert_eq!(&back[..], b"data");

    let t = lp.submit(op::SendVectored::new(
        BAD_FD,
        vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
    ));
    let (res, back) = wait(&mut lp, t);
    assert_eq!(errno(&res.unwrap_err()), libc::EBADF);
    assert_eq!(back.len(), 2);

    let t = lp.submit(op::ReadAt::new(BAD_FD, buf, 0));
    let (res, buf) = wait(&mut lp, t);
    assert_eq!(errno(&res.unwrap_err()), libc::EBADF);
    assert_eq!(&buf[..], b"keep");

    let t = lp.submit(op::WriteAt::new(BAD_FD, Bytes::from_static(b"w"), 0));
    let (res, back) = wait(&mut lp, t);
    assert_eq!(errno(&res.unwrap_err()), libc::EBADF);
    assert_eq!(&back[..], b"w");

    let t = lp.submit(op::Accept::new(BAD_FD));
    assert_eq!(errno(&wait(&mut lp, t).unwrap_err()), libc::EBADF);
    assert_eq!(lp.stats().in_flight, 0);
}

fn send_to_a_vanished_peer_is_an_error_not_sigpipe(b: Backend) {
    let mut lp = new_loop(b);
    let (server, client) = tcp_pair();
    drop(client);
    // The first sends may still succeed (the RST comes back asynchronously); keep sending until
    // the error shows. Without MSG_NOSIGNAL the process would die of SIGPIPE here.
    let mut last = None;
    for _ in 0..100 {
        let t = lp.submit(op::Send::new(fd(&server), Bytes::from_static(b"anyone?")));
        if let Err(e) = wait(&mut lp, t).0 {
            last = Some(e);
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let e = last.expect("sending to a closed peer fails eventually");
    assert!(
        [libc::EPIPE, libc::ECONNRESET].contains(&errno(&e)),
        "unexpected error {e:?}"
    );
    let t = lp.submit(op::SendVectored::new(
        fd(&server),
        vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
    ));
    let e = wait(&mut lp, t).0.unwrap_err();
    assert!(
        [libc::EPIPE, libc::ECONNRESET].contains(&errno(&e)),
        "{e:?}"
    );
}

fn forget_fd_lets_a_reused_number_work(b: Backend) {
    // An fd closed behind the loop's back (not with op::Close) and its number reused: after
    // forget_fd, ops on the new file work (epoll keeps per-number state; io_uring has none).
    let mut lp = new_loop(b);
    let (first, mut first_peer) = tcp_pair();
    let t = lp.submit(op::Recv::new(fd(&first), BytesMut::with_capacity(8)));
    turn_for(&mut lp, Duration::from_millis(5));
    write_all(&mut first_peer, b"one");
    assert_eq!(poll_until(&mut lp, &t, 5).0.unwrap(), 3);
    let number = fd(&first);
    let (second, mut second_peer) = tcp_pair();
    // Put the second socket under the first one's number (dup2 closes the first file).
    // SAFETY: both are open fds we own; `number` is then owned by `reused`.
    let reused = unsafe {
        assert_eq!(libc::dup2(fd(&second), number), number);
        std::os::fd::FromRawFd::from_raw_fd(number)
    };
    std::mem::forget(first);
    let reused: std::net::TcpStream = reused;
    lp.forget_fd(number);
    let t = lp.submit(op::Recv::new(fd(&reused), BytesMut::with_capacity(8)));
    turn_for(&mut lp, Duration::from_millis(5));
    write_all(&mut second_peer, b"two");
    let (res, buf) = poll_until(&mut lp, &t, 5);
    assert_eq!(res.unwrap(), 3);
    assert_eq!(&buf[..], b"two");
}

fn parked_recv_sees_eof_when_the_peer_closes(b: Backend) {
    let mut lp = new_loop(b);
    let (server, client) = tcp_pair();
    let t = lp.submit(op::Recv::new(fd(&server), BytesMut::with_capacity(8)));
    turn_for(&mut lp, Duration::from_millis(10));
    assert!(lp.poll(&t).is_none(), "waiting for data");
    drop(client);
    let (res, buf) = poll_until(&mut lp, &t, 5);
    assert_eq!(res.unwrap(), 0, "a waiting recv completes with 0 at EOF");
    assert!(buf.is_empty());
}

fn large_send_waits_for_room(b: Backend) {
    // 4 MB is far more than a loopback socket buffer: sends come back short and, on epoll, have
    // to wait for writability, while a slow reader drains the other end.
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let data = Bytes::from(pattern(5, 4 << 20));
    let reader = std::thread::spawn(move || {
        // Start late, so the socket buffer fills and a send has to wait.
        std::thread::sleep(Duration::from_millis(50));
        let mut got = Vec::new();
        let mut chunk = vec![0u8; 64 << 10];
        while got.len() < 4 << 20 {
            let n = client.read(&mut chunk).unwrap();
            assert!(n > 0, "unexpected EOF");
            got.extend_from_slice(&chunk[..n]);
            std::thread::sleep(Duration::from_micros(200));
        }
        got
    });
    let mut rest = data.clone();
    let mut sends = 0;
    while !rest.is_empty() {
        let t = lp.submit(op::Send::new(fd(&server), rest.clone()));
        let (res, _) = poll_until(&mut lp, &t, 20);
        let n = res.unwrap();
        assert!(n > 0 && n <= rest.len());
        rest = rest.slice(n..);
        sends += 1;
    }
    let got = reader.join().unwrap();
    assert!(got == data, "bytes differ");
    assert!(sends >= 1);
    if b == Backend::Epoll {
        assert!(lp.stats().parked > 0, "some send waited for writability");
    }
}

both_backends!(
    accept_returns_stream_and_peer_address,
    connect_succeeds,
    connect_refused_is_econnrefused,
    recv_data_then_zero_at_eof,
    recv_without_spare_capacity_is_enobufs,
    send_delivers_bytes,
    send_vectored_sends_all_in_order,
    send_vectored_too_many_buffers_is_emsgsize,
    write_at_and_read_at_offsets,
    fsync_and_data_only,
    close_really_closes,
    nop_completes_ok,
    timeout_fires_after_not_before,
    bad_fd_is_ebadf_and_buffers_come_back,
    send_to_a_vanished_peer_is_an_error_not_sigpipe,
    forget_fd_lets_a_reused_number_work,
    parked_recv_sees_eof_when_the_peer_closes,
    large_send_waits_for_room,
);
