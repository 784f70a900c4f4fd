//! One echo connection's state machine, shared by the callback and polling styles.
//!
//! The styles differ only in *how* they learn that an op finished and *how* they start the next
//! one; *what* to do next is decided here, so the two files can be read side by side. The write
//! queue and the pause/resume rules come from the library (`ringloop::net::{Outbox, ReadGate}`).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use bytes::{Bytes, BytesMut};
use ringloop::net::{Batch, Outbox, ReadGate};
use ringloop::{EventLoop, PooledBuf};

use crate::Counters;

/// What the driver of a connection must do after an event.
#[derive(Debug, Default)]
pub struct Reaction {
    /// Send this pool buffer as it is (the outbox has counted it as the send in flight); its
    /// completion goes to [`Conn::on_sent`] as [`Sent::Direct`].
    pub direct: Option<Direct>,
    /// Cancel the running recv (back-pressure kicks in).
    pub pause: bool,
    /// Start a new recv.
    pub resume: bool,
    /// Start a send if none is in flight.
    pub flush: bool,
    /// Close the connection.
    pub close: bool,
}

/// A received pool buffer to send back as it is, and the fd to send it on (carried here so
/// that the driver does not look the connection up a second time for it).
#[derive(Debug)]
pub struct Direct {
    pub fd: RawFd,
    pub buf: PooledBuf,
}

/// Echo buffers whose send completed whole, kept for the next messages so that a message costs
/// no allocation (a pool buffer must go straight back to the pool, so the bytes are copied out —
/// into a recycled buffer). Server-wide and bounded: at most [`MAX_SPARES`] buffers of at most
/// [`SPARE_MAX`] bytes, and an idle connection holds none.
#[derive(Default)]
pub struct Spares(Vec<BytesMut>);

/// Enough for one message in flight on each of ~1,000 busy connections.
const MAX_SPARES: usize = 1024;
/// A pool buffer's default size; larger (joined) buffers are freed, not kept.
const SPARE_MAX: usize = 4096;

impl Spares {
    /// `data` in a buffer of our own, recycled if one is spare.
    pub fn copy(&mut self, data: &[u8]) -> Bytes {
        let mut buf = self.0.pop().unwrap_or_default();
        buf.extend_from_slice(data);
        buf.freeze()
    }

    /// Keeps `buf` for reuse if nothing else refers to it and there is room.
    pub fn recycle(&mut self, buf: Bytes) {
        if self.0.len() >= MAX_SPARES {
            return;
        }
        if let Ok(mut buf) = buf.try_into_mut() {
            if buf.capacity() <= SPARE_MAX {
                buf.clear();
                self.0.push(buf);
            }
        }
    }
}

/// Whether a received pool buffer may be kept for a send: only while more than half the pool is
/// free, so that connections whose sends are stuck behind slow peers (one lent buffer each at
/// most) can never starve the receive side of every other connection.
pub fn pool_has_room(lp: &EventLoop) -> bool {
    let (free, total) = lp.recv_buffers_free();
    free * 2 > total
}

/// What a finished send had sent.
pub enum Sent {
    /// A batch from the outbox.
    Queued(Batch),
    /// A pool buffer, sent as it was received ([`Reaction::direct`]).
    Direct(PooledBuf),
}

pub struct Conn {
    pub fd: Option<OwnedFd>,
    pub outbox: Outbox,
    pub read: ReadGate,
}

impl Conn {
    pub fn new(fd: OwnedFd, high_water: usize) -> Self {
        Conn {
            fd: Some(fd),
            outbox: Outbox::new(high_water),
            read: ReadGate::new(),
        }
    }

    pub fn raw_fd(&self) -> Option<RawFd> {
        self.fd.as_ref().map(|f| f.as_raw_fd())
    }

    /// One item of the multishot recv. `may_lend`: the receive pool has buffers to spare, so
    /// this one may be sent on as it is.
    pub fn on_recv(
        &mut self,
        item: io::Result<Option<PooledBuf>>,
        may_lend: bool,
        counters: &Counters,
        spares: &mut Spares,
    ) -> Reaction {
        match item {
            Ok(Some(buf)) => {
                counters.received(buf.len());
                // The common case — nothing else waiting to go out — echoes straight from the
                // pool buffer, as the liburing floor does: no copy. Otherwise (or when the pool
                // runs low) copy out, so the buffer goes straight back: a slow peer must hold
                // its own backlog, not the buffers every other connection needs.
                let direct = match self.raw_fd() {
                    Some(fd) if may_lend && self.outbox.begin_direct(buf.len()) => {
                        counters.direct();
                        Some(Direct { fd, buf })
                    }
                    _ => {
                        self.outbox.push(spares.copy(&buf));
                        None
                    }
                };
                let pause = self.read.should_pause(self.outbox.over_high_water());
                Reaction {
                    pause,
                    flush: direct.is_none(),
                    direct,
                    ..Reaction::default()
                }
            }
            Ok(None) => {
                self.read.on_eof();
                Reaction {
                    close: self.outbox.is_idle(),
                    ..Reaction::default()
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) && self.read.is_pausing() => {
                Reaction {
                    resume: self.read.on_cancelled(),
                    ..Reaction::default()
                }
            }
            Err(e) => {
                log::debug!("recv failed: {e}");
                Reaction {
                    close: true,
                    ..Reaction::default()
                }
            }
        }
    }

    /// A send completed. What a direct send did not write is copied into the outbox (ahead of
    /// anything queued since), and its pool buffer goes back.
    pub fn on_sent(
        &mut self,
        res: io::Result<usize>,
        sent: Sent,
        counters: &Counters,
        spares: &mut Spares,
    ) -> Reaction {
        let n = match Self::sent_count(res, counters) {
            Ok(n) => n,
            Err(close) => return close,
        };
        match sent {
            Sent::Queued(batch) => {
                if let Some(buf) = self.outbox.sent_reclaim(batch, n) {
                    spares.recycle(buf);
                }
            }
            Sent::Direct(buf) => {
                let rest = (n < buf.len()).then(|| spares.copy(&buf[n..]));
                drop(buf);
                self.outbox.direct_sent(n, rest);
            }
        }
        self.after_send()
    }

    /// The count of a finished send (counted), or what its failure means: close.
    fn sent_count(res: io::Result<usize>, counters: &Counters) -> Result<usize, Reaction> {
        match res {
            Ok(n) => {
                counters.sent(n);
                Ok(n)
            }
            Err(e) => {
                log::debug!("send failed: {e}");
                Err(Reaction {
                    close: true,
                    ..Reaction::default()
                })
            }
        }
    }

    /// After any send: resume a paused read once the backlog has drained, send what is queued,
    /// close once the peer has finished and everything is out.
    fn after_send(&mut self) -> Reaction {
        let resume = self.outbox.under_low_water() && self.read.on_drained();
        // The send in flight has just finished: anything not idle is queued and must go out.
        let idle = self.outbox.is_idle();
        Reaction {
            resume,
            flush: !idle,
            close: idle && self.read.is_eof(),
            ..Reaction::default()
        }
    }
}
