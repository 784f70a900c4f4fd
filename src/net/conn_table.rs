//! The connection table of a [`Server`](super::Server): one slot per open connection.
//!
//! A slot holds what the server needs to drive a socket (fd, input buffer, [`Outbox`], [`ReadGate`],
//! the running recv) plus the service's own per-connection state. Ids carry a serial number so a
//! late completion for a closed connection never reaches a newer one that reused the slot.

use std::fmt;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use bytes::BytesMut;
use slab::Slab;

use super::{Outbox, ReadGate};
use crate::OpId;

/// Identifies a connection of a [`Server`](super::Server) for as long as it is open.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    key: u32,
    serial: u32,
}

impl ConnId {
    /// A number unique among the server's connections so far (for logs and `CLIENT ID`).
    pub fn serial(self) -> u32 {
        self.serial
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.serial)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Which of a [`Server`](super::Server)'s listening sockets accepted a connection: a server
/// can serve several ports (say RESP and HTTP) over one connection table, so one service can
/// reach all its connections (a publish on one port fans out to subscribers on the other).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(pub(crate) u16);

impl ListenerId {
    /// The first listener: the one given to [`Server::start`](super::Server::start).
    pub const FIRST: ListenerId = ListenerId(0);

    /// Its position in the order the listeners were added (0 for the first).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Why a connection was closed (logged, and passed to [`Service::closed`](super::Service::closed)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed its side.
    PeerClosed,
    /// A recv or send failed (reset, broken pipe, ...).
    IoError(String),
    /// The unparsed input exceeded the server's limit (a query buffer limit).
    InputLimit(usize),
    /// The unsent output exceeded the hard limit (a peer that does not read).
    OutputLimit(usize),
    /// The service asked for it (a protocol error, `QUIT`, a kill).
    Service(String),
    /// The server is shutting down.
    Shutdown,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::PeerClosed => write!(f, "peer closed the connection"),
            CloseReason::IoError(e) => write!(f, "I/O error: {e}"),
            CloseReason::InputLimit(n) => {
                write!(f, "input buffer limit exceeded ({n} bytes unparsed)")
            }
            CloseReason::OutputLimit(n) => {
                write!(f, "output buffer limit exceeded ({n} bytes unsent)")
            }
            CloseReason::Service(why) => write!(f, "{why}"),
            CloseReason::Shutdown => write!(f, "server shutting down"),
        }
    }
}

/// What to do once the output is flushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Closing {
    /// Close now, dropping unsent output.
    Now(CloseReason),
    /// Send what is queued, then close.
    AfterFlush(CloseReason),
}

pub(crate) struct Slot<C> {
    pub serial: u32,
    pub listener: ListenerId,
    pub fd: Option<OwnedFd>,
    pub peer: Option<SocketAddr>,
    pub input: BytesMut,
    pub outbox: Outbox,
    pub gate: ReadGate,
    pub recv_op: Option<OpId>,
    pub closing: Option<Closing>,
    /// Already in the server's `touched` list (so a burst of sends queues one settle, not one
    /// per send).
    pub touched: bool,
    /// The service's state; `None` while the service is working on it.
    pub state: Option<C>,
}

impl<C> Slot<C> {
    pub(crate) fn raw_fd(&self) -> Option<RawFd> {
        self.fd.as_ref().map(|f| f.as_raw_fd())
    }
}

pub(crate) struct Table<C> {
    slots: Slab<Slot<C>>,
    next_serial: u32,
}

impl<C> Default for Table<C> {
    fn default() -> Self {
        Table {
            slots: Slab::new(),
            next_serial: 1,
        }
    }
}

impl<C> Table<C> {
    pub(crate) fn insert(
        &mut self,
        fd: OwnedFd,
        peer: Option<SocketAddr>,
        listener: ListenerId,
        high_water: usize,
    ) -> ConnId {
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1).max(1);
        let key = self.slots.insert(Slot {
            serial,
            listener,
            fd: Some(fd),
            peer,
            input: BytesMut::new(),
            outbox: Outbox::new(high_water),
            gate: ReadGate::new(),
            recv_op: None,
            closing: None,
            touched: false,
            state: None,
        });
        ConnId {
            key: key as u32,
            serial,
        }
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<&Slot<C>> {
        self.slots
            .get(id.key as usize)
            .filter(|s| s.serial == id.serial)
    }

    pub(crate) fn get_mut(&mut self, id: ConnId) -> Option<&mut Slot<C>> {
        self.slots
            .get_mut(id.key as usize)
            .filter(|s| s.serial == id.serial)
    }

    pub(crate) fn remove(&mut self, id: ConnId) -> Option<Slot<C>> {
        self.get(id)?;
        Some(self.slots.remove(id.key as usize))
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn ids(&self) -> Vec<ConnId> {
        self.slots
            .iter()
            .map(|(k, s)| ConnId {
                key: k as u32,
                serial: s.serial,
            })
            .collect()
    }
}
