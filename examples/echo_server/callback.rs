//! The echo server in the **callback** style: the loop calls us.
//!
//! Every step is a closure handed to the loop together with its op: "when a connection arrives,
//! do this", "when bytes arrive, do that". Our code never waits; it only reacts. The callbacks
//! share one `Rc<RefCell<Server>>` and each carries the id of its connection (slab key + serial
//! number, so a late callback of a closed connection cannot touch a newer one with the same key).

use std::cell::RefCell;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use ringloop::net::Batch;
use ringloop::op::{self, AcceptMulti, RecvMulti};
use ringloop::{EventLoop, OpId};
use slab::Slab;

use crate::conn::{pool_has_room, Conn, Direct, Reaction, Sent, Spares};
use crate::{set_nodelay, Counters};

struct Entry {
    serial: u64,
    conn: Conn,
    recv_op: Option<OpId>,
}

struct Server {
    conns: Slab<Entry>,
    next_serial: u64,
    high_water: usize,
    counters: Counters,
    spares: Spares,
}

type Shared = Rc<RefCell<Server>>;

#[derive(Clone, Copy)]
struct ConnId {
    key: usize,
    serial: u64,
}

pub fn run(
    lp: &mut EventLoop,
    listener: RawFd,
    high_water: usize,
    counters: Counters,
) -> io::Result<()> {
    let server = Server {
        conns: Slab::new(),
        next_serial: 0,
        high_water,
        counters,
        spares: Spares::default(),
    };
    accept_loop(lp, listener, Rc::new(RefCell::new(server)));
    lp.run()
}

fn accept_loop(lp: &mut EventLoop, listener: RawFd, server: Shared) {
    lp.submit_multi_with(
        AcceptMulti::new(listener),
        move |lp, accepted| match accepted {
            Ok(fd) => on_accept(lp, &server, fd),
            Err(e) => {
                // The stream ended (EMFILE, ENFILE, ...): try again shortly instead of giving up.
                log::warn!("accept failed: {e}; retrying in 100 ms");
                let server = server.clone();
                lp.timer(Duration::from_millis(100), move |lp| {
                    accept_loop(lp, listener, server)
                });
            }
        },
    );
}

fn on_accept(lp: &mut EventLoop, server: &Shared, fd: OwnedFd) {
    set_nodelay(&fd);
    let id = {
        let mut s = server.borrow_mut();
        let serial = s.next_serial;
        s.next_serial += 1;
        s.counters.accepted();
        let conn = Conn::new(fd, s.high_water);
        ConnId {
            key: s.conns.insert(Entry {
                serial,
                conn,
                recv_op: None,
            }),
            serial,
        }
    };
    start_reading(lp, server, id);
}

/// Runs `f` on the connection if it still exists.
fn with_conn<R>(
    server: &Shared,
    id: ConnId,
    f: impl FnOnce(&mut Entry, &Counters, &mut Spares) -> R,
) -> Option<R> {
    let mut s = server.borrow_mut();
    let s = &mut *s;
    let entry = s.conns.get_mut(id.key).filter(|e| e.serial == id.serial)?;
    Some(f(entry, &s.counters, &mut s.spares))
}

fn start_reading(lp: &mut EventLoop, server: &Shared, id: ConnId) {
    let Some(Some(fd)) = with_conn(server, id, |e, _, _| e.conn.raw_fd()) else {
        return;
    };
    let s = server.clone();
    let op = lp.submit_multi_with(RecvMulti::new(fd), move |lp, item| {
        let may_lend = pool_has_room(lp);
        let reaction = with_conn(&s, id, |e, counters, spares| {
            e.conn.on_recv(item, may_lend, counters, spares)
        });
        react(lp, &s, id, reaction);
    });
    with_conn(server, id, |e, _, _| e.recv_op = Some(op));
}

fn flush(lp: &mut EventLoop, server: &Shared, id: ConnId) {
    let Some(Some((fd, batch))) = with_conn(server, id, |e, _, _| {
        Some((e.conn.raw_fd()?, e.conn.outbox.next_batch()?))
    }) else {
        return;
    };
    let s = server.clone();
    let on_sent = move |lp: &mut EventLoop, res: io::Result<usize>, batch: Batch| {
        let reaction = with_conn(&s, id, |e, counters, spares| {
            e.conn.on_sent(res, Sent::Queued(batch), counters, spares)
        });
        react(lp, &s, id, reaction);
    };
    match batch {
        Batch::One(buf) => {
            lp.submit_with(op::Send::new(fd, buf), move |lp, (res, buf)| {
                on_sent(lp, res, Batch::One(buf))
            });
        }
        Batch::Many(bufs) => {
            lp.submit_with(op::SendVectored::new(fd, bufs), move |lp, (res, bufs)| {
                on_sent(lp, res, Batch::Many(bufs))
            });
        }
    }
}

/// Sends a pool buffer as it is; the connection gets it back with the count.
fn send_direct(lp: &mut EventLoop, server: &Shared, id: ConnId, Direct { fd, buf }: Direct) {
    let s = server.clone();
    lp.submit_with(op::Send::new(fd, buf), move |lp, (res, buf)| {
        let reaction = with_conn(&s, id, |e, counters, spares| {
            e.conn.on_sent(res, Sent::Direct(buf), counters, spares)
        });
        react(lp, &s, id, reaction);
    });
}

/// Carries out what the connection's state machine decided.
fn react(lp: &mut EventLoop, server: &Shared, id: ConnId, reaction: Option<Reaction>) {
    let Some(r) = reaction else { return };
    if r.close {
        return close(lp, server, id);
    }
    if r.pause {
        if let Some(Some(op)) = with_conn(server, id, |e, _, _| e.recv_op) {
            lp.cancel(op);
        }
    }
    if r.resume {
        start_reading(lp, server, id);
    }
    if let Some(direct) = r.direct {
        send_direct(lp, server, id, direct);
    }
    if r.flush {
        flush(lp, server, id);
    }
}

fn close(lp: &mut EventLoop, server: &Shared, id: ConnId) {
    let mut s = server.borrow_mut();
    if s.conns.get(id.key).is_some_and(|e| e.serial == id.serial) {
        let entry = s.conns.remove(id.key);
        s.counters.closed();
        // Close cancels whatever is still pending on the fd; those callbacks find no connection.
        if let Some(fd) = entry.conn.fd {
            lp.submit_with(op::Close::new(fd), |_, _| {});
        }
    }
}
