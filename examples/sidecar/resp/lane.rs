//! Lanes: shared upstream connections grouped by the per-connection state that changes how a
//! request is answered — the protocol (`HELLO 3`) and the database (`SELECT`).
//!
//! A RESP3 client in db 2 is multiplexed onto connections that were themselves switched with
//! `HELLO 3` and `SELECT 2` when they joined the lane, so every reply it gets is the one it
//! would get directly. Connections come from the pool on demand (a lane grows up to
//! `--lane-conns` when the ones it has are busy) and go back when idle, switched back to RESP2
//! and db 0 first, so the pool only ever holds connections in the default state.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use ringloop::proto::resp::{write_command, Protocol};

use super::upstream::{Pending, UpId};

/// The per-connection state a shared connection must have for a client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lane {
    pub proto: Protocol,
    pub db: i64,
}

impl Lane {
    /// The commands that take a default connection into this lane.
    pub fn setup(&self) -> Vec<Bytes> {
        let mut cmds = Vec::new();
        if self.proto == Protocol::Resp3 {
            cmds.push(command(&[b"HELLO".as_slice(), b"3"]));
        }
        if self.db != 0 {
            cmds.push(command(&[
                b"SELECT".as_slice(),
                self.db.to_string().as_bytes(),
            ]));
        }
        cmds
    }

    /// The commands that take a connection in this lane back to the default state.
    pub fn teardown(&self) -> Vec<Bytes> {
        let mut cmds = Vec::new();
        if self.db != 0 {
            cmds.push(command(&[b"SELECT".as_slice(), b"0"]));
        }
        if self.proto == Protocol::Resp3 {
            cmds.push(command(&[b"HELLO".as_slice(), b"2"]));
        }
        cmds
    }
}

/// A command in multibulk form.
pub fn command<A: AsRef<[u8]>>(args: &[A]) -> Bytes {
    let mut out = BytesMut::new();
    write_command(&mut out, args);
    out.freeze()
}

/// A request waiting for the lane's first connection.
pub struct Queued {
    pub bytes: Bytes,
    pub pending: Pending,
}

/// One lane's connections and the requests waiting for one.
#[derive(Default)]
pub struct LaneState {
    pub conns: Vec<UpId>,
    pub waiting: VecDeque<Queued>,
    /// Checkouts under way for this lane.
    pub checkouts: usize,
}
