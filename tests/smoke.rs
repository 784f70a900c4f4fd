mod common;
use bytes::{Bytes, BytesMut};
use common::*;
use std::cell::RefCell;
use std::rc::Rc;

fn nop_three_styles(b: Backend) {
    let mut lp = new_loop(b);
    let hit = Rc::new(RefCell::new(false));
    let h = hit.clone();
    lp.submit_with(op::Nop, move |_, r| {
        r.unwrap();
        *h.borrow_mut() = true;
    });
    let t = lp.submit(op::Nop);
    turn_until(&mut lp, 5, |lp| {
        *hit.borrow() && lp.finished().len() == 1 || lp.poll(&t).is_some()
    });
    let t = lp.submit(op::Nop);
    lp.wait(t).unwrap().unwrap();
}

fn recv_send(b: Backend) {
    let mut lp = new_loop(b);
    let (server, mut client) = tcp_pair();
    let t = lp.submit(op::Recv::new(fd(&server), BytesMut::with_capacity(64)));
    write_all(&mut client, b"hello");
    let (res, buf) = lp.wait(t).unwrap();
    assert_eq!(res.unwrap(), 5);
    assert_eq!(&buf[..], b"hello");
    let t = lp.submit(op::Send::new(fd(&server), Bytes::from_static(b"world")));
    let (res, _) = lp.wait(t).unwrap();
    assert_eq!(res.unwrap(), 5);
    assert_eq!(read_exact(&mut client, 5), b"world");
}

both_backends!(nop_three_styles, recv_send);
