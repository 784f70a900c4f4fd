//! One downstream client's state: its lane (protocol and db), its name, the commands held back
//! while a switch or a checkout is under way, its dedicated connection if any, and — the heart
//! of demultiplexing — its replies in request order.
//!
//! A client's requests may be answered by different upstream connections (a lane has several),
//! by the sidecar itself (`CLIENT SETINFO`), or by errors raised here (timeouts, the circuit
//! breaker). Each request reserves a slot in [`Replies`] when it is dispatched; whoever answers
//! fills that slot, and only the filled prefix is sent. So replies always leave in the order the
//! requests came, whoever produced them and whenever.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use ringloop::net::ConnId;
use ringloop::proto::resp::{Command, RequestDecoder};

use super::lane::Lane;
use super::upstream::UpId;

/// A client's dedicated upstream connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pin {
    /// None: requests go to the shared connections of the client's lane.
    #[default]
    None,
    /// A checkout is under way; commands are held until it ends.
    Waiting,
    /// Every request goes to this connection.
    Pinned(UpId),
}

/// One client.
#[derive(Default)]
pub struct Client {
    pub id: Option<ConnId>,
    pub decoder: RequestDecoder,
    pub lane: Lane,
    /// `CLIENT SETNAME` / `HELLO ... SETNAME`, kept by the sidecar.
    pub name: Option<Bytes>,
    pub replies: Replies,
    /// Commands waiting for a lane switch or a dedicated checkout to finish, in order.
    pub held: VecDeque<Command>,
    /// A `SELECT` / `HELLO` is on its way: later commands wait for its answer, since it decides
    /// which lane they belong to.
    pub switching: bool,
    pub pin: Pin,
    /// The shared connection its last requests went to, and how many of those are unanswered:
    /// while any are, its next requests go there too, so they run in the order they were sent.
    pub lane_conn: Option<UpId>,
    pub outstanding: usize,
    /// `QUIT` (or a fatal error) was answered: close once every reply before it is sent.
    pub quit: bool,
    /// Its subscriptions are all gone and the sidecar is making sure of it (a barrier `PING`
    /// is on its way, `stream.rs`): later commands wait, since they may no longer belong on
    /// that connection.
    pub leaving_stream: bool,
}

impl Client {
    pub fn new(id: ConnId) -> Client {
        Client {
            id: Some(id),
            ..Client::default()
        }
    }

    /// Commands must wait rather than be dispatched now.
    pub fn must_hold(&self) -> bool {
        self.switching || self.pin == Pin::Waiting || self.leaving_stream
    }

    /// The dedicated connection, if there is one.
    pub fn pinned(&self) -> Option<UpId> {
        match self.pin {
            Pin::Pinned(uid) => Some(uid),
            _ => None,
        }
    }
}

/// One reply slot.
enum Out {
    /// Requested, not answered yet.
    Waiting,
    /// Answered.
    Ready(Bytes),
    /// A subscribed connection's output: everything from it, as it comes. Always the last slot
    /// (after subscribing, every command goes to that connection).
    Stream(Vec<Bytes>),
}

/// A client's replies, in request order.
#[derive(Default)]
pub struct Replies {
    queue: VecDeque<Out>,
    /// The sequence number of `queue[0]`.
    base: u64,
}

impl Replies {
    /// Reserves the next slot; returns its sequence number.
    pub fn reserve(&mut self) -> u64 {
        self.queue.push_back(Out::Waiting);
        self.base + self.queue.len() as u64 - 1
    }

    /// Adds an answer that is known now (a local reply, an error raised here), in order.
    pub fn ready(&mut self, reply: Bytes) {
        self.queue.push_back(Out::Ready(reply));
    }

    /// Answers slot `seq` (a slot answered or released already is left alone).
    pub fn fill(&mut self, seq: u64, reply: Bytes) {
        let Some(at) = seq.checked_sub(self.base) else {
            return;
        };
        if let Some(slot @ Out::Waiting) = self.queue.get_mut(at as usize) {
            *slot = Out::Ready(reply);
        }
    }

    /// From now on, replies are a stream (the client subscribed).
    pub fn open_stream(&mut self) {
        if !self.has_stream() {
            self.queue.push_back(Out::Stream(Vec::new()));
        }
    }

    /// One frame of the stream.
    pub fn stream(&mut self, frame: Bytes) {
        if let Some(Out::Stream(buf)) = self.queue.back_mut() {
            buf.push(frame);
        }
    }

    /// The stream ended (its connection failed): what it buffered becomes an ordinary reply,
    /// so the slots before and after it can drain.
    pub fn end_stream(&mut self) {
        if let Some(last @ Out::Stream(_)) = self.queue.back_mut() {
            let Out::Stream(frames) = std::mem::replace(last, Out::Waiting) else {
                return;
            };
            let mut all = BytesMut::new();
            for f in frames {
                all.extend_from_slice(&f);
            }
            *last = Out::Ready(all.freeze());
        }
    }

    pub fn has_stream(&self) -> bool {
        matches!(self.queue.back(), Some(Out::Stream(_)))
    }

    /// Everything that may be sent now, in order.
    pub fn take(&mut self, out: &mut Vec<Bytes>) {
        while let Some(front) = self.queue.front_mut() {
            match front {
                Out::Ready(_) => {
                    if let Some(Out::Ready(b)) = self.queue.pop_front() {
                        out.push(b);
                    }
                    self.base += 1;
                }
                Out::Stream(frames) => {
                    out.append(frames);
                    return;
                }
                Out::Waiting => return,
            }
        }
    }

    /// No reply is owed (a stream counts as owing nothing more).
    pub fn settled(&self) -> bool {
        self.queue
            .iter()
            .all(|o| matches!(o, Out::Stream(f) if f.is_empty()))
    }
}
