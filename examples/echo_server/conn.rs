//! One echo connection's state machine, shared by the callback and polling styles.
//!
//! The styles differ only in *how* they learn that an op finished and *how* they start the next
//! one; *what* to do next is decided here, so the two files can be read side by side. The write
//! queue and the pause/resume rules come from the library (`ringloop::net::{Outbox, ReadGate}`).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use bytes::Bytes;
use ringloop::net::{Batch, Outbox, ReadGate};
use ringloop::PooledBuf;

use crate::Counters;

/// What the driver of a connection must do after an event.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reaction {
    /// Cancel the running recv (back-pressure kicks in).
    pub pause: bool,
    /// Start a new recv.
    pub resume: bool,
    /// Start a send if none is in flight.
    pub flush: bool,
    /// Close the connection.
    pub close: bool,
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

    /// One item of the multishot recv.
    pub fn on_recv(
        &mut self,
        item: io::Result<Option<PooledBuf>>,
        counters: &Counters,
    ) -> Reaction {
        match item {
            Ok(Some(buf)) => {
                counters.received(buf.len());
                // Copy out of the pool buffer so it goes straight back to the ring: a slow peer
                // must hold its own backlog, not the buffers every other connection needs.
                self.outbox.push(Bytes::copy_from_slice(&buf));
                let pause = self.read.should_pause(self.outbox.over_high_water());
                Reaction {
                    pause,
                    flush: true,
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

    /// A send completed.
    pub fn on_sent(
        &mut self,
        res: io::Result<usize>,
        batch: Batch,
        counters: &Counters,
    ) -> Reaction {
        let n = match res {
            Ok(n) => n,
            Err(e) => {
                log::debug!("send failed: {e}");
                return Reaction {
                    close: true,
                    ..Reaction::default()
                };
            }
        };
        counters.sent(n);
        self.outbox.sent(batch, n);
        let resume = self.outbox.under_low_water() && self.read.on_drained();
        let close = self.read.is_eof() && self.outbox.is_idle();
        Reaction {
            resume,
            flush: true,
            close,
            ..Reaction::default()
        }
    }
}
