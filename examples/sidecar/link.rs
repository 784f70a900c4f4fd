//! [`Link`]: one socket driven with raw ops — a multishot recv, a write queue with one send in
//! flight, a read gate for back-pressure, and the bookkeeping that says when no op of ours is
//! left on the fd.
//!
//! `net::Server` does all of this for the connections it accepts, but its reading pauses only
//! when *that connection's own* output piles up. A proxy must pause one socket because *another*
//! socket's output piles up (TCP mode), and it drives upstream sockets it did not accept
//! (pooled connections). So both modes build on this small piece, which uses the same
//! [`Outbox`] and [`ReadGate`] the server does.
//!
//! The owner wires the completions: it passes the closures that route a recv item or a send
//! completion back to itself, then calls [`Link::on_recv`] / [`Link::on_sent`].
//!
//! A pooled upstream connection is closed by the pool with a plain `close(2)`, which would leave
//! an io_uring op in flight on the socket; so before a connection goes back (or is dropped), the
//! owner waits for [`Link::is_quiet`]: no recv stream and no send left.
//!
//! Sockets stay non-blocking on both backends: when io_uring hands back `EAGAIN` for a send on
//! an `O_NONBLOCK` socket, the loop resubmits the op itself (`Stats::eagain_resubmits`), so a
//! full socket buffer means waiting, never a failed send.

use std::io;
use std::os::fd::RawFd;

use bytes::Bytes;
use ringloop::net::{Batch, Outbox, ReadGate};
use ringloop::op::{self, RecvMulti};
use ringloop::{EventLoop, OpId, PooledBuf};

/// What one recv item means to the owner.
pub enum Recv {
    /// Bytes arrived.
    Data(PooledBuf),
    /// The peer closed its side.
    Eof,
    /// The stream ended because we paused it; start a new one if `resume`.
    Paused { resume: bool },
    /// The stream ended because we stopped it (releasing or closing the socket).
    Stopped,
    /// The socket failed.
    Error(io::Error),
}

/// One socket on the loop.
pub struct Link {
    fd: RawFd,
    pub outbox: Outbox,
    pub gate: ReadGate,
    recv: Option<OpId>,
    stopping: bool,
    shut_write: bool,
    /// A send failed: nothing more will be sent.
    broken: bool,
    high_water: usize,
}

impl Link {
    /// A link for `fd`, not yet reading; its outbox has the high-water mark `high_water`.
    pub fn new(fd: RawFd, high_water: usize) -> Link {
        Link {
            fd,
            outbox: Outbox::new(high_water),
            gate: ReadGate::new(),
            recv: None,
            stopping: false,
            shut_write: false,
            broken: false,
            high_water,
        }
    }

    /// Starts a multishot recv whose items go to `f`.
    pub fn start_recv(
        &mut self,
        lp: &mut EventLoop,
        f: impl FnMut(&mut EventLoop, io::Result<Option<PooledBuf>>) + 'static,
    ) {
        if self.recv.is_some() || self.stopping {
            return;
        }
        self.recv = Some(lp.submit_multi_with(RecvMulti::new(self.fd), f));
    }

    /// Classifies a recv item, and notes when the stream ended.
    pub fn on_recv(&mut self, item: io::Result<Option<PooledBuf>>) -> Recv {
        match item {
            Ok(Some(buf)) => Recv::Data(buf),
            Ok(None) => {
                self.recv = None;
                self.gate.on_eof();
                Recv::Eof
            }
            Err(e) => {
                self.recv = None;
                let cancelled = e.raw_os_error() == Some(libc::ECANCELED);
                if cancelled && self.stopping {
                    Recv::Stopped
                } else if cancelled && self.gate.is_pausing() {
                    Recv::Paused {
                        resume: self.gate.on_cancelled(),
                    }
                } else {
                    Recv::Error(e)
                }
            }
        }
    }

    /// The *other* side's output is over its high-water mark: stop reading this one (the recv is
    /// cancelled; items already on their way still arrive and must be used).
    pub fn pause(&mut self, lp: &mut EventLoop) {
        if self.gate.should_pause(true) {
            if let Some(op) = self.recv {
                lp.cancel(op);
            }
        }
    }

    /// The other side drained: returns true if the owner must start a new recv now.
    pub fn drained(&mut self) -> bool {
        !self.stopping && self.gate.on_drained()
    }

    /// Queues bytes for sending (call [`Link::flush`] afterwards).
    pub fn queue(&mut self, data: Bytes) {
        if !self.broken {
            self.outbox.push(data);
        }
    }

    /// Starts a send if something is queued and none is in flight; `done` gets its completion.
    pub fn flush(
        &mut self,
        lp: &mut EventLoop,
        done: impl FnOnce(&mut EventLoop, io::Result<usize>, Batch) + 'static,
    ) {
        let Some(batch) = self.outbox.next_batch() else {
            return;
        };
        match batch {
            Batch::One(buf) => {
                lp.submit_with(op::Send::new(self.fd, buf), move |lp, (res, buf)| {
                    done(lp, res, Batch::One(buf))
                });
            }
            Batch::Many(bufs) => {
                lp.submit_with(
                    op::SendVectored::new(self.fd, bufs),
                    move |lp, (res, bufs)| done(lp, res, Batch::Many(bufs)),
                );
            }
        }
    }

    /// A send completed: requeues what was not written. `Ok(true)` when the queue just fell
    /// under its low-water mark having been above the high one (time to resume the reader that
    /// feeds it).
    pub fn on_sent(&mut self, res: io::Result<usize>, batch: Batch) -> io::Result<bool> {
        match res {
            Ok(n) => {
                let was_backed_up = !self.outbox.under_low_water();
                self.outbox.sent(batch, n);
                Ok(was_backed_up && self.outbox.under_low_water())
            }
            Err(e) => {
                // Nothing more will be sent: forget the rest, so the queue reads as empty.
                drop(batch);
                self.outbox = Outbox::new(self.high_water);
                self.broken = true;
                Err(e)
            }
        }
    }

    /// Stops reading for good (the socket is being released or closed).
    pub fn stop(&mut self, lp: &mut EventLoop) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        if let Some(op) = self.recv {
            lp.cancel(op);
        }
    }

    /// No recv stream and no send of ours is left on the fd: it may be closed or handed back.
    pub fn is_quiet(&self) -> bool {
        self.recv.is_none() && !self.outbox.is_sending()
    }

    /// True while a recv stream runs.
    pub fn is_reading(&self) -> bool {
        self.recv.is_some()
    }

    /// Half-close: tells the peer we will send nothing more (TCP FIN), once.
    pub fn shutdown_write(&mut self) {
        if !self.shut_write {
            self.shut_write = true;
            // SAFETY: shutdown(2) on a socket we hold open; no memory is passed.
            unsafe { libc::shutdown(self.fd, libc::SHUT_WR) };
        }
    }

    /// Ends both directions now: a recv or a send stuck on the socket completes at once (EOF or
    /// EPIPE) on either backend, so the fd becomes quiet soon even if the peer is hung.
    pub fn abort(&mut self, lp: &mut EventLoop) {
        self.stop(lp);
        self.shut_write = true;
        // SAFETY: shutdown(2) on a socket we hold open; no memory is passed.
        unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
    }
}
