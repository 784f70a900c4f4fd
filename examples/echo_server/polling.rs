//! The echo server in the **polling** style: we ask the loop what finished.
//!
//! Every op returns a ticket, and the server keeps its own table from op id to connection. One
//! turn of the loop (`run_once`) reaps completions; `finished()` then lists the tickets with
//! something to collect, and we `poll` each one. This is what reading an io_uring completion queue
//! yourself looks like: nothing calls us, and all the bookkeeping is ours — compare the size of
//! this file with `callback.rs`.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use bytes::Bytes;
use ringloop::net::Batch;
use ringloop::op::{self, AcceptMulti, RecvMulti};
use ringloop::{EventLoop, OpId, OpIdMap, PooledBuf, StreamTicket, Ticket};
use slab::Slab;

use crate::conn::{pool_has_room, Conn, Direct, Reaction, Sent, Spares};
use crate::{set_nodelay, Counters};

type RecvStream = StreamTicket<RecvMulti>;

enum SendTicket {
    One(Ticket<(io::Result<usize>, Bytes)>),
    Many(Ticket<(io::Result<usize>, Vec<Bytes>)>),
    /// Straight from a pool buffer (see `Conn::on_recv`).
    Direct(Ticket<(io::Result<usize>, PooledBuf)>),
}

impl SendTicket {
    fn id(&self) -> OpId {
        match self {
            SendTicket::One(t) => t.id(),
            SendTicket::Many(t) => t.id(),
            SendTicket::Direct(t) => t.id(),
        }
    }
}

struct Entry {
    conn: Conn,
    recv: Option<RecvStream>,
    send: Option<SendTicket>,
}

/// Who is waiting for a given op.
#[derive(Clone, Copy)]
enum Owner {
    Recv(usize),
    Send(usize),
    Close,
}

struct Server {
    conns: Slab<Entry>,
    owners: OpIdMap<Owner>,
    closing: OpIdMap<Ticket<io::Result<()>>>,
    high_water: usize,
    counters: Counters,
    spares: Spares,
}

pub fn run(
    lp: &mut EventLoop,
    listener: RawFd,
    high_water: usize,
    counters: Counters,
) -> io::Result<()> {
    let mut s = Server {
        conns: Slab::new(),
        owners: OpIdMap::default(),
        closing: OpIdMap::default(),
        high_water,
        counters,
        spares: Spares::default(),
    };
    let accept = lp.submit_multi(AcceptMulti::new(listener));
    // One vector for the finished ids, traded with the loop's every turn: no allocation.
    let mut finished = Vec::new();
    while !lp.is_stopped() {
        lp.run_once(None)?;
        lp.collect_finished(&mut finished);
        for &id in &finished {
            if id == accept.id() {
                while let Some(accepted) = lp.poll_next(&accept) {
                    match accepted {
                        Ok(fd) => s.on_accept(lp, fd),
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            match s.owners.get(&id).copied() {
                Some(Owner::Recv(key)) => s.collect_recv(lp, id, key),
                Some(Owner::Send(key)) => s.collect_send(lp, id, key),
                Some(Owner::Close) => {
                    if let Some(ticket) = s.closing.remove(&id) {
                        let _ = lp.poll(&ticket);
                    }
                    s.owners.remove(&id);
                }
                None => {}
            }
        }
    }
    Ok(())
}

impl Server {
    fn on_accept(&mut self, lp: &mut EventLoop, fd: OwnedFd) {
        set_nodelay(&fd);
        self.counters.accepted();
        let conn = Conn::new(fd, self.high_water);
        let key = self.conns.insert(Entry {
            conn,
            recv: None,
            send: None,
        });
        self.start_reading(lp, key);
    }

    fn start_reading(&mut self, lp: &mut EventLoop, key: usize) {
        let Some(fd) = self.conns[key].conn.raw_fd() else {
            return;
        };
        let ticket = lp.submit_multi(RecvMulti::new(fd));
        self.owners.insert(ticket.id(), Owner::Recv(key));
        self.conns[key].recv = Some(ticket);
    }

    fn collect_recv(&mut self, lp: &mut EventLoop, id: OpId, key: usize) {
        loop {
            let Some(entry) = self.conns.get_mut(key) else {
                return;
            };
            let Some(ticket) = entry.recv.as_ref().filter(|t| t.id() == id) else {
                return;
            };
            let Some(item) = lp.poll_next(ticket) else {
                return;
            };
            let last = !matches!(item, Ok(Some(_)));
            if last {
                // The stream is over: forget its ticket before reacting (which may start another).
                self.owners.remove(&id);
                entry.recv = None;
            }
            let may_lend = pool_has_room(lp);
            let reaction = entry
                .conn
                .on_recv(item, may_lend, &self.counters, &mut self.spares);
            self.react(lp, key, reaction);
            if last {
                return;
            }
        }
    }

    fn collect_send(&mut self, lp: &mut EventLoop, id: OpId, key: usize) {
        let Some(entry) = self.conns.get_mut(key) else {
            return;
        };
        let outcome = match &entry.send {
            Some(t) if t.id() != id => None,
            Some(SendTicket::One(t)) => lp
                .poll(t)
                .map(|(res, b)| (res, Sent::Queued(Batch::One(b)))),
            Some(SendTicket::Many(t)) => lp
                .poll(t)
                .map(|(res, b)| (res, Sent::Queued(Batch::Many(b)))),
            Some(SendTicket::Direct(t)) => lp.poll(t).map(|(res, b)| (res, Sent::Direct(b))),
            None => None,
        };
        let Some((res, sent)) = outcome else { return };
        self.owners.remove(&id);
        entry.send = None;
        let reaction = entry
            .conn
            .on_sent(res, sent, &self.counters, &mut self.spares);
        self.react(lp, key, reaction);
    }

    fn flush(&mut self, lp: &mut EventLoop, key: usize) {
        let entry = &mut self.conns[key];
        let Some(fd) = entry.conn.raw_fd() else {
            return;
        };
        let Some(batch) = entry.conn.outbox.next_batch() else {
            return;
        };
        let ticket = match batch {
            Batch::One(buf) => SendTicket::One(lp.submit(op::Send::new(fd, buf))),
            Batch::Many(bufs) => SendTicket::Many(lp.submit(op::SendVectored::new(fd, bufs))),
        };
        self.track_send(key, ticket);
    }

    /// Sends a pool buffer as it is (the outbox already counts it as the send in flight).
    fn send_direct(&mut self, lp: &mut EventLoop, key: usize, Direct { fd, buf }: Direct) {
        let ticket = SendTicket::Direct(lp.submit(op::Send::new(fd, buf)));
        self.track_send(key, ticket);
    }

    fn track_send(&mut self, key: usize, ticket: SendTicket) {
        self.owners.insert(ticket.id(), Owner::Send(key));
        self.conns[key].send = Some(ticket);
    }

    fn react(&mut self, lp: &mut EventLoop, key: usize, r: Reaction) {
        if r.close {
            return self.close(lp, key);
        }
        if r.pause {
            if let Some(ticket) = &self.conns[key].recv {
                lp.cancel(ticket.id());
            }
        }
        if r.resume {
            self.start_reading(lp, key);
        }
        if let Some(direct) = r.direct {
            self.send_direct(lp, key, direct);
        }
        if r.flush {
            self.flush(lp, key);
        }
    }

    fn close(&mut self, lp: &mut EventLoop, key: usize) {
        let Some(mut entry) = self.conns.try_remove(key) else {
            return;
        };
        self.counters.closed();
        if let Some(t) = entry.recv.take() {
            self.owners.remove(&t.id());
        }
        if let Some(t) = entry.send.take() {
            self.owners.remove(&t.id());
        }
        // Dropped tickets cancel their ops; Close then cancels anything left on the fd. The close
        // itself must be collected (a dropped ticket would cancel it).
        if let Some(fd) = entry.conn.fd.take() {
            let ticket = lp.submit(op::Close::new(fd));
            self.owners.insert(ticket.id(), Owner::Close);
            self.closing.insert(ticket.id(), ticket);
        }
    }
}
