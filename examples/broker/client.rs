//! One connected client: its protocol state (RESP version, database, auth, name), its unparsed
//! input, the replies it is owed, and what it is subscribed to or blocked on.
//!
//! Replies are written into `out` and handed to the connection once per batch of commands, so a
//! pipeline of 100 `PING`s becomes one buffer and one send.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ringloop::net::ConnId;
use ringloop::patterns::pubsub::SubscriberId;
use ringloop::patterns::pushpull::{ConsumerId, End};
use ringloop::patterns::WaiterId;
use ringloop::proto::resp::{self, Command, Protocol, RequestDecoder, Value};

/// What a blocked client waits for.
#[derive(Clone, Debug)]
pub enum BlockKind {
    /// `BLPOP` / `BRPOP`: reply `[key, element]`.
    Pop,
    /// `BLMOVE` / `BRPOPLPUSH`: push the element to `dest` at `to`, reply the element (`from`
    /// is the source end, to put it back if `dest` turned out to hold another type).
    Move { dest: Bytes, to: End, from: End },
}

#[derive(Clone, Debug)]
pub struct Blocked {
    pub waiter: WaiterId,
    pub kind: BlockKind,
    pub db: usize,
    /// The command, for `CLIENT LIST`.
    pub cmd: &'static str,
}

/// A transaction being queued (`MULTI` … `EXEC`).
#[derive(Default)]
pub struct Multi {
    pub queued: Vec<Command>,
    /// A command was refused while queueing: `EXEC` answers `EXECABORT`.
    pub failed: bool,
}

pub struct Client {
    pub id: ConnId,
    pub peer: Option<SocketAddr>,
    pub proto: Protocol,
    pub db: usize,
    pub authed: bool,
    pub name: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    pub decoder: RequestDecoder,
    /// Received bytes not yet decoded (kept here, not in the server's buffer, so a client that
    /// was blocked can resume its pipeline when it is served from another client's command).
    pub inbuf: BytesMut,
    pub out: BytesMut,
    pub sub: Option<SubscriberId>,
    /// Channel + pattern subscriptions (the number Redis replies with).
    pub subs: usize,
    pub channels: usize,
    pub patterns: usize,
    pub consumer: Option<ConsumerId>,
    pub blocked: Option<Blocked>,
    /// A protocol error, `QUIT` or a kill: process nothing more.
    pub closing: bool,
    pub created: Instant,
    pub last_active: Instant,
    pub last_cmd: &'static str,
    pub multi: Option<Multi>,
    /// Running the commands of an `EXEC`: blocking commands must not block.
    pub in_exec: bool,
    /// Keys `WATCH`ed (database, key).
    pub watching: Vec<(usize, Bytes)>,
    /// A watched key was written: the next `EXEC` fails.
    pub watch_dirty: bool,
}

impl Client {
    pub fn new(id: ConnId, peer: Option<SocketAddr>, authed: bool, now: Instant) -> Client {
        Client {
            id,
            peer,
            proto: Protocol::Resp2,
            db: 0,
            authed,
            name: None,
            lib_name: None,
            lib_ver: None,
            decoder: RequestDecoder::new(),
            inbuf: BytesMut::new(),
            out: BytesMut::new(),
            sub: None,
            subs: 0,
            channels: 0,
            patterns: 0,
            consumer: None,
            blocked: None,
            closing: false,
            created: now,
            last_active: now,
            last_cmd: "NULL",
            multi: None,
            in_exec: false,
            watching: Vec::new(),
            watch_dirty: false,
        }
    }

    /// RESP2 clients with subscriptions may only run the subscribe family (Redis's rule: their
    /// replies would be indistinguishable from messages).
    pub fn in_resp2_pubsub(&self) -> bool {
        self.proto == Protocol::Resp2 && self.subs > 0
    }

    // Reply writers. They only append to `out`.

    pub fn ok(&mut self) {
        resp::write_ok(&mut self.out);
    }

    pub fn simple(&mut self, s: &str) {
        resp::write_simple(&mut self.out, s.as_bytes());
    }

    pub fn err(&mut self, text: &str) {
        resp::write_error(&mut self.out, text.as_bytes());
    }

    pub fn err_bytes(&mut self, text: &[u8]) {
        resp::write_error(&mut self.out, text);
    }

    pub fn int(&mut self, n: i64) {
        resp::write_integer(&mut self.out, n);
    }

    pub fn bulk(&mut self, b: &[u8]) {
        resp::write_bulk(&mut self.out, b);
    }

    pub fn null(&mut self) {
        resp::write_null(&mut self.out, self.proto);
    }

    pub fn null_array(&mut self) {
        resp::write_null_array(&mut self.out, self.proto);
    }

    pub fn array(&mut self, len: usize) {
        resp::write_array_len(&mut self.out, len);
    }

    pub fn push_header(&mut self, len: usize) {
        resp::write_push_len(&mut self.out, len, self.proto);
    }

    pub fn value(&mut self, v: &Value) {
        resp::encode(v, self.proto, &mut self.out);
    }

    /// A long text reply (`INFO`, `CLIENT LIST`): a verbatim string in RESP3, bulk in RESP2.
    pub fn verbatim(&mut self, text: String) {
        self.value(&Value::Verbatim {
            format: *b"txt",
            text: Bytes::from(text),
        });
    }

    /// Takes the pending replies as one buffer for the connection.
    pub fn take_out(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }

    /// `flags=` of `CLIENT LIST`.
    pub fn flags(&self) -> String {
        let mut f = String::new();
        if self.blocked.is_some() {
            f.push('b');
        }
        if self.subs > 0 {
            f.push('P');
        }
        if self.multi.is_some() {
            f.push('x');
        }
        if self.watch_dirty {
            f.push('d');
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }

    /// One line of `CLIENT LIST` (Redis's fields, those that mean something here).
    pub fn info_line(&self, now: Instant, laddr: Option<SocketAddr>, omem: usize) -> String {
        let s = |b: &Option<Bytes>| {
            b.as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        format!(
            "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 multi={} qbuf={} obl=0 oll=0 omem={} events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id.serial(),
            self.peer.map(|a| a.to_string()).unwrap_or_default(),
            laddr.map(|a| a.to_string()).unwrap_or_default(),
            s(&self.name),
            now.saturating_duration_since(self.created).as_secs(),
            now.saturating_duration_since(self.last_active).as_secs(),
            self.flags(),
            self.db,
            self.channels,
            self.patterns,
            self.multi.as_ref().map_or(-1, |m| m.queued.len() as i64),
            self.inbuf.len(),
            omem,
            self.blocked.as_ref().map_or(self.last_cmd, |b| b.cmd),
            self.proto.version(),
            s(&self.lib_name),
            s(&self.lib_ver),
        )
    }
}
