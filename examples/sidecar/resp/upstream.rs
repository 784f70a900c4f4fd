//! One upstream connection in RESP mode: its socket ([`Link`]), its reply decoder, and the queue
//! of requests sent on it and not yet answered, in order — RESP answers in order, so the n-th
//! reply on a connection belongs to the n-th request still pending on it.
//!
//! A connection is either shared by a lane or dedicated to one client; it tracks the state the
//! upstream keeps for it (protocol, db, transaction, subscriptions) so it can go back to the pool
//! clean, or be closed when that state is unknown.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ringloop::net::ConnId;
use ringloop::patterns::pool::PooledConn;
use ringloop::proto::resp::{ProtocolError, ReplyDecoder};
use slab::Slab;

use super::lane::Lane;
use super::stream::Subscriptions;
use crate::link::Link;

/// A connection's slab key plus a serial, so late completions never reach a newer connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpId {
    key: usize,
    serial: u64,
}

/// A state-changing command on a dedicated connection, applied when its reply succeeds.
#[derive(Debug)]
pub enum Track {
    Select(Option<i64>),
    Hello(Lane, Option<Bytes>),
    Multi,
    /// `EXEC` or `DISCARD`: the transaction and any `WATCH` end, whatever the reply.
    EndMulti,
    Watch,
    Unwatch,
    Reset,
}

/// What a pending request's reply is for.
#[derive(Debug)]
pub enum Kind {
    /// A client's request: the reply goes to its slot.
    Reply,
    /// `SELECT` / `HELLO` of a client on a shared connection: on success the client moves to
    /// `lane` (`None`: it cannot succeed) and takes `name`. It is sent followed by the command
    /// that undoes it, so the shared connection stays in its lane.
    Switch {
        lane: Option<Lane>,
        name: Option<Bytes>,
    },
    /// A state change on a dedicated connection.
    Track(Track),
    /// Sent by the sidecar itself (lane setup, teardown, undoing a switch): the reply is
    /// dropped, and an error means the connection is not in the state we think.
    Internal,
}

/// A request sent (or to be sent) upstream.
#[derive(Debug)]
pub struct Pending {
    /// The client and its reply slot (`None` for internal commands).
    pub to: Option<(ConnId, u64)>,
    pub kind: Kind,
    /// When it times out (`None`: never, e.g. a blocking command).
    pub deadline: Option<Instant>,
    /// Counted against `--max-pending`.
    pub counted: bool,
    /// Sent on a shared connection (counted in the client's `outstanding`).
    pub on_lane: bool,
}

impl Pending {
    /// A command of the sidecar's own.
    pub fn internal() -> Pending {
        Pending {
            to: None,
            kind: Kind::Internal,
            deadline: None,
            counted: false,
            on_lane: false,
        }
    }
}

/// Who uses a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Lane(Lane),
    Dedicated(ConnId),
}

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Life {
    /// Taking requests.
    Open,
    /// Finishing what is pending (and the teardown commands), then back to the pool.
    Releasing,
    /// Failed or abandoned: waiting for our ops to end, then closed.
    Dead,
}

/// One upstream connection.
pub struct Upstream {
    serial: u64,
    pub conn: Option<PooledConn>,
    pub link: Link,
    decoder: ReplyDecoder,
    input: BytesMut,
    pub pending: VecDeque<Pending>,
    pub role: Role,
    /// The protocol and db the upstream has for this connection.
    pub state: Lane,
    pub in_multi: bool,
    pub watching: bool,
    /// Subscribed (or monitoring): every frame goes to the client as it comes.
    pub passthrough: bool,
    /// While subscribed: what is left, and the barrier to leaving (see `stream.rs`).
    pub subs: Subscriptions,
    /// Its state is unknown (an internal command failed): never reuse it.
    pub dirty: bool,
    /// It failed (EOF, reset, timeout): returned to the pool as broken.
    pub failed: bool,
    pub life: Life,
    /// When its last pending request was answered.
    pub idle_since: Instant,
}

impl Upstream {
    /// A connection fresh from the pool (RESP2, db 0).
    pub fn new(conn: PooledConn, role: Role, high_water: usize) -> Upstream {
        let link = Link::new(conn.fd(), high_water);
        Upstream {
            serial: 0,
            conn: Some(conn),
            link,
            decoder: ReplyDecoder::new(),
            input: BytesMut::new(),
            pending: VecDeque::new(),
            role,
            state: Lane::default(),
            in_multi: false,
            watching: false,
            passthrough: false,
            subs: Subscriptions::default(),
            dirty: false,
            failed: false,
            life: Life::Open,
            idle_since: Instant::now(),
        }
    }

    /// Queues `bytes`, whose reply `pending` describes (flush the link afterwards).
    pub fn send(&mut self, bytes: Bytes, pending: Pending) {
        self.link.queue(bytes);
        self.pending.push_back(pending);
    }

    /// Appends received bytes and returns every complete reply frame now buffered.
    pub fn frames(&mut self, data: &[u8]) -> Result<Vec<Bytes>, ProtocolError> {
        self.input.extend_from_slice(data);
        let mut frames = Vec::new();
        while let Some(frame) = self.decoder.decode_frame(&mut self.input)? {
            frames.push(frame);
        }
        Ok(frames)
    }

    /// Can go back to the pool as it is once nothing is pending (after its teardown commands).
    pub fn reusable(&self) -> bool {
        !self.dirty && !self.in_multi && !self.watching && !self.passthrough
    }

    /// Nothing pending, not in a transaction, not subscribed: a dedicated connection the client
    /// no longer needs.
    pub fn unneeded(&self) -> bool {
        self.pending.is_empty() && !self.in_multi && !self.watching && !self.passthrough
    }
}

/// Every upstream connection the sidecar holds.
#[derive(Default)]
pub struct Upstreams {
    slab: Slab<Upstream>,
    next_serial: u64,
}

impl Upstreams {
    pub fn insert(&mut self, mut up: Upstream) -> UpId {
        self.next_serial += 1;
        up.serial = self.next_serial;
        let serial = up.serial;
        let key = self.slab.insert(up);
        UpId { key, serial }
    }

    pub fn get(&self, id: UpId) -> Option<&Upstream> {
        self.slab.get(id.key).filter(|u| u.serial == id.serial)
    }

    pub fn get_mut(&mut self, id: UpId) -> Option<&mut Upstream> {
        self.slab.get_mut(id.key).filter(|u| u.serial == id.serial)
    }

    pub fn remove(&mut self, id: UpId) -> Option<Upstream> {
        self.get(id)?;
        Some(self.slab.remove(id.key))
    }

    pub fn ids(&self) -> Vec<UpId> {
        self.slab
            .iter()
            .map(|(key, u)| UpId {
                key,
                serial: u.serial,
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// Open connections dedicated to a client.
    pub fn pinned(&self) -> usize {
        self.slab
            .iter()
            .filter(|(_, u)| matches!(u.role, Role::Dedicated(_)) && u.life == Life::Open)
            .count()
    }
}
