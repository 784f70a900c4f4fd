//! [`Server`]: a TCP server on the loop, driven by a [`Service`].
//!
//! The server owns the sockets and the mechanics every connection needs — a multishot accept, a
//! multishot recv into pooled buffers, an input buffer, a write queue with one send in flight,
//! back-pressure (reading pauses while too much output is unsent), limits on unparsed input and
//! unsent output, orderly close — and calls the service for what is specific to a protocol:
//! `open`, `data`, `closed`.
//!
//! Everything a service does goes through a [`Ctx`]: reply to this connection, send to any other
//! (pub-sub fan-out), close one, reach the loop for timers. Sends are queued during the call and
//! flushed when it returns, so a burst of replies to one connection becomes one vectored send.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::{Rc, Weak};

use bytes::{Bytes, BytesMut};
use socket2::Socket;

use super::conn_table::{Closing, Table};
use super::{Batch, CloseReason, ConnId, ListenerId};
use crate::op::{self, AcceptMulti, RecvMulti};
use crate::{EventLoop, OpId, PooledBuf};

/// Limits and watermarks of a [`Server`].
#[derive(Clone, Copy, Debug)]
pub struct ServerOptions {
    /// Unsent output above which reading pauses (it resumes below a quarter of it).
    pub high_water: usize,
    /// Unsent output above which the connection is closed (a peer that never reads).
    pub max_output: usize,
    /// Unparsed input above which the connection is closed (a query buffer limit).
    pub max_input: usize,
    /// Open connections above which new ones are closed at once (after `Service::open`, so the
    /// service may send a goodbye line first by checking [`Ctx::conn_count`]).
    pub max_conns: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            high_water: 1 << 20,
            max_output: 64 << 20,
            max_input: 1 << 30,
            max_conns: 10_000,
        }
    }
}

/// The protocol-specific part of a server.
pub trait Service: 'static {
    /// Per-connection state.
    type Conn: 'static;

    /// A connection was accepted.
    fn open(&mut self, cx: &mut Ctx<'_, Self::Conn>, id: ConnId) -> Self::Conn;

    /// Bytes arrived. `input` holds everything not yet consumed: parse what is complete, consume
    /// it (e.g. `split_to`), leave the rest for the next call.
    fn data(
        &mut self,
        cx: &mut Ctx<'_, Self::Conn>,
        id: ConnId,
        conn: &mut Self::Conn,
        input: &mut BytesMut,
    );

    /// The connection's unsent output fell to the low-water mark (a quarter of
    /// [`ServerOptions::high_water`]) after having been above it: a producer that held back
    /// because the peer was slow may queue more now.
    fn drained(&mut self, cx: &mut Ctx<'_, Self::Conn>, id: ConnId, conn: &mut Self::Conn) {
        let _ = (cx, id, conn);
    }

    /// The connection is gone (its state is handed back for cleanup, e.g. unsubscribing).
    fn closed(
        &mut self,
        cx: &mut Ctx<'_, Self::Conn>,
        id: ConnId,
        conn: Self::Conn,
        reason: &CloseReason,
    ) {
        let _ = (cx, id, conn, reason);
    }
}

/// What a service can do while it is called.
pub struct Ctx<'a, C> {
    lp: &'a mut EventLoop,
    table: &'a mut Table<C>,
    options: &'a ServerOptions,
    touched: &'a mut Vec<ConnId>,
}

impl<C> Ctx<'_, C> {
    /// The loop, for timers and other ops.
    pub fn lp(&mut self) -> &mut EventLoop {
        self.lp
    }

    /// Queues `data` for connection `id`. Returns false if it is closed or closing. Exceeding the
    /// output limit closes the connection.
    pub fn send(&mut self, id: ConnId, data: Bytes) -> bool {
        let Some(slot) = self.table.get_mut(id) else {
            return false;
        };
        if matches!(slot.closing, Some(Closing::Now(_))) {
            return false;
        }
        slot.outbox.push(data);
        if slot.outbox.unsent() > self.options.max_output {
            slot.closing = Some(Closing::Now(CloseReason::OutputLimit(slot.outbox.unsent())));
        }
        if !slot.touched {
            slot.touched = true;
            self.touched.push(id);
        }
        true
    }

    /// Closes `id` now, dropping output not yet sent.
    pub fn close(&mut self, id: ConnId, reason: CloseReason) {
        if let Some(slot) = self.table.get_mut(id) {
            slot.closing = Some(Closing::Now(reason));
            self.touched.push(id);
        }
    }

    /// Closes `id` once what is queued for it has been sent (e.g. after an error reply).
    pub fn close_after_flush(&mut self, id: ConnId, reason: CloseReason) {
        if let Some(slot) = self.table.get_mut(id) {
            if slot.closing.is_none() {
                slot.closing = Some(Closing::AfterFlush(reason));
            }
            self.touched.push(id);
        }
    }

    /// Bytes queued for `id` and not yet sent.
    pub fn unsent(&self, id: ConnId) -> Option<usize> {
        self.table.get(id).map(|s| s.outbox.unsent())
    }

    /// The listener that accepted `id` (which port, when the server has several).
    pub fn listener(&self, id: ConnId) -> Option<ListenerId> {
        self.table.get(id).map(|s| s.listener)
    }

    /// The peer's address.
    pub fn peer(&self, id: ConnId) -> Option<std::net::SocketAddr> {
        self.table.get(id).and_then(|s| s.peer)
    }

    /// Open connections.
    pub fn conn_count(&self) -> usize {
        self.table.len()
    }

    /// Every open connection.
    pub fn conn_ids(&self) -> Vec<ConnId> {
        self.table.ids()
    }

    /// Another connection's state (`None` for the one being served right now, or a closed one).
    pub fn conn_mut(&mut self, id: ConnId) -> Option<&mut C> {
        self.table.get_mut(id).and_then(|s| s.state.as_mut())
    }
}

struct Inner<S: Service> {
    service: S,
    table: Table<S::Conn>,
    options: ServerOptions,
    listeners: Vec<Listening>,
    touched: Vec<ConnId>,
}

/// A listening socket and its multishot accept.
struct Listening {
    socket: Option<Socket>,
    accept_op: Option<OpId>,
}

impl<S: Service> Inner<S> {
    /// The service and a [`Ctx`] over everything else: every call into the service goes
    /// through here.
    fn parts<'a>(&'a mut self, lp: &'a mut EventLoop) -> (&'a mut S, Ctx<'a, S::Conn>) {
        let Inner {
            service,
            table,
            options,
            touched,
            ..
        } = self;
        (
            service,
            Ctx {
                lp,
                table,
                options,
                touched,
            },
        )
    }

    /// Runs `f` with connection `id`'s state lent out of its slot (so the service can hold it and
    /// the table at once), then puts the state back if the connection still exists. `None` if
    /// the connection or its state is gone.
    fn with_conn<R>(
        &mut self,
        lp: &mut EventLoop,
        id: ConnId,
        f: impl FnOnce(&mut S, &mut Ctx<'_, S::Conn>, &mut S::Conn) -> R,
    ) -> Option<R> {
        let mut state = self.table.get_mut(id)?.state.take()?;
        let (service, mut cx) = self.parts(lp);
        let r = f(service, &mut cx, &mut state);
        if let Some(slot) = self.table.get_mut(id) {
            slot.state = Some(state);
        }
        Some(r)
    }
}

/// A running server (a cheap handle: clone it into timer callbacks).
pub struct Server<S: Service> {
    inner: Rc<RefCell<Inner<S>>>,
}

impl<S: Service> Clone for Server<S> {
    fn clone(&self) -> Self {
        Server {
            inner: self.inner.clone(),
        }
    }
}

impl<S: Service> Server<S> {
    /// Starts accepting on `listener` (non-blocking, e.g. from [`listen`](super::listen)).
    pub fn start(
        lp: &mut EventLoop,
        listener: Socket,
        service: S,
        options: ServerOptions,
    ) -> Server<S> {
        let server = Server {
            inner: Rc::new(RefCell::new(Inner {
                service,
                table: Table::default(),
                options,
                listeners: Vec::new(),
                touched: Vec::new(),
            })),
        };
        server.add_listener(lp, listener);
        server
    }

    /// Starts accepting on another socket too. Its connections share the table, the options
    /// and the service; [`Ctx::listener`] tells them apart.
    pub fn add_listener(&self, lp: &mut EventLoop, listener: Socket) -> ListenerId {
        let id = {
            let mut inner = self.inner.borrow_mut();
            let index = u16::try_from(inner.listeners.len()).expect("at most 65,536 listeners");
            inner.listeners.push(Listening {
                socket: Some(listener),
                accept_op: None,
            });
            ListenerId(index)
        };
        self.accept(lp, id);
        id
    }

    /// Runs `f` with the service and a [`Ctx`] (from a timer or posted closure), then flushes.
    pub fn call<R>(
        &self,
        lp: &mut EventLoop,
        f: impl FnOnce(&mut S, &mut Ctx<'_, S::Conn>) -> R,
    ) -> R {
        let r = {
            let mut inner = self.inner.borrow_mut();
            let (service, mut cx) = inner.parts(lp);
            f(service, &mut cx)
        };
        self.settle(lp);
        r
    }

    /// Open connections.
    pub fn conn_count(&self) -> usize {
        self.inner.borrow().table.len()
    }

    /// Stops accepting and closes the listening sockets; open connections go on.
    pub fn stop_accepting(&self, lp: &mut EventLoop) {
        let stopped: Vec<_> = {
            let mut inner = self.inner.borrow_mut();
            inner
                .listeners
                .iter_mut()
                .map(|l| (l.accept_op.take(), l.socket.take()))
                .collect()
        };
        for (op, socket) in stopped {
            if let Some(op) = op {
                lp.cancel(op);
            }
            if let Some(socket) = socket {
                lp.submit_with(op::Close::new(OwnedFd::from(socket)), |_, _| {});
            }
        }
    }

    /// Graceful shutdown: stop accepting, let every connection send what is queued, close them.
    pub fn shutdown(&self, lp: &mut EventLoop) {
        self.stop_accepting(lp);
        self.call(lp, |_, cx| {
            for id in cx.conn_ids() {
                cx.close_after_flush(id, CloseReason::Shutdown);
            }
        });
    }

    fn weak(&self) -> Weak<RefCell<Inner<S>>> {
        Rc::downgrade(&self.inner)
    }

    fn from_weak(weak: &Weak<RefCell<Inner<S>>>) -> Option<Server<S>> {
        weak.upgrade().map(|inner| Server { inner })
    }

    fn accept(&self, lp: &mut EventLoop, lid: ListenerId) {
        let fd = self
            .inner
            .borrow()
            .listeners
            .get(lid.index())
            .and_then(|l| l.socket.as_ref().map(|s| s.as_raw_fd()));
        let Some(fd) = fd else {
            return;
        };
        let weak = self.weak();
        let op = lp.submit_multi_with(AcceptMulti::new(fd), move |lp, accepted| {
            let Some(server) = Server::from_weak(&weak) else {
                return;
            };
            match accepted {
                Ok(fd) => server.on_accept(lp, lid, fd),
                Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => {}
                Err(e) => {
                    // EMFILE/ENFILE and the like end the stream: retry shortly rather than stop
                    // serving for good.
                    log::warn!("accept failed: {e}; retrying in 100 ms");
                    server.listening(lid, |l| l.accept_op = None);
                    let server = server.clone();
                    lp.timer(std::time::Duration::from_millis(100), move |lp| {
                        server.accept(lp, lid)
                    });
                }
            }
        });
        self.listening(lid, |l| l.accept_op = Some(op));
    }

    fn listening(&self, lid: ListenerId, f: impl FnOnce(&mut Listening)) {
        if let Some(l) = self.inner.borrow_mut().listeners.get_mut(lid.index()) {
            f(l);
        }
    }

    fn on_accept(&self, lp: &mut EventLoop, lid: ListenerId, fd: OwnedFd) {
        let sock = socket2::SockRef::from(&fd);
        let _ = sock.set_tcp_nodelay(true);
        let peer = sock.peer_addr().ok().and_then(|a| a.as_socket());
        let id = {
            let mut inner = self.inner.borrow_mut();
            let inner = &mut *inner;
            let id = inner.table.insert(fd, peer, lid, inner.options.high_water);
            let over_limit = inner.table.len() > inner.options.max_conns;
            let (service, mut cx) = inner.parts(lp);
            let state = service.open(&mut cx, id);
            if over_limit {
                let reason = CloseReason::Service("max number of clients reached".into());
                cx.close_after_flush(id, reason);
            }
            if let Some(slot) = inner.table.get_mut(id) {
                slot.state = Some(state);
            }
            log::debug!("{id} open from {peer:?}");
            id
        };
        self.start_reading(lp, id);
        self.settle(lp);
    }

    fn start_reading(&self, lp: &mut EventLoop, id: ConnId) {
        let Some(fd) = self.inner.borrow().table.get(id).and_then(|s| s.raw_fd()) else {
            return;
        };
        let weak = self.weak();
        let op = lp.submit_multi_with(RecvMulti::new(fd), move |lp, item| {
            if let Some(server) = Server::from_weak(&weak) {
                server.on_recv(lp, id, item);
            }
        });
        if let Some(slot) = self.inner.borrow_mut().table.get_mut(id) {
            slot.recv_op = Some(op);
        }
    }

    fn on_recv(&self, lp: &mut EventLoop, id: ConnId, item: io::Result<Option<PooledBuf>>) {
        let mut resume = false;
        {
            let mut inner = self.inner.borrow_mut();
            let inner = &mut *inner;
            let Some(slot) = inner.table.get_mut(id) else {
                return;
            };
            match item {
                Ok(Some(buf)) if slot.closing.is_none() => {
                    slot.input.extend_from_slice(&buf);
                    drop(buf);
                    let mut input = std::mem::take(&mut slot.input);
                    inner.with_conn(lp, id, |service, cx, conn| {
                        service.data(cx, id, conn, &mut input)
                    });
                    let max_input = inner.options.max_input;
                    if let Some(slot) = inner.table.get_mut(id) {
                        if input.len() > max_input {
                            slot.closing = Some(Closing::Now(CloseReason::InputLimit(input.len())));
                        }
                        slot.input = input;
                        inner.touched.push(id);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    slot.gate.on_eof();
                    if slot.closing.is_none() {
                        slot.closing = Some(Closing::AfterFlush(CloseReason::PeerClosed));
                    }
                    inner.touched.push(id);
                }
                Err(e) if e.raw_os_error() == Some(libc::ECANCELED) && slot.gate.is_pausing() => {
                    resume = slot.gate.on_cancelled();
                }
                Err(e) => {
                    if slot.closing.is_none() {
                        slot.closing = Some(Closing::Now(CloseReason::IoError(e.to_string())));
                    }
                    inner.touched.push(id);
                }
            }
        }
        if resume {
            self.start_reading(lp, id);
        }
        self.settle(lp);
    }

    fn on_sent(&self, lp: &mut EventLoop, id: ConnId, res: io::Result<usize>, batch: Batch) {
        let resume = {
            let mut inner = self.inner.borrow_mut();
            let Some(slot) = inner.table.get_mut(id) else {
                return;
            };
            match res {
                Ok(n) => {
                    let was_backed_up = !slot.outbox.under_low_water();
                    slot.outbox.sent(batch, n);
                    let drained = was_backed_up && slot.outbox.under_low_water();
                    let resume = drained && slot.gate.on_drained();
                    // Tell the service, so a producer that held back (a pub/sub backlog, an SSE
                    // stream) can go on — the write-side twin of pausing the read side.
                    if drained && slot.closing.is_none() {
                        inner.with_conn(lp, id, |service, cx, conn| service.drained(cx, id, conn));
                    }
                    resume
                }
                Err(e) => {
                    slot.closing = Some(Closing::Now(CloseReason::IoError(e.to_string())));
                    false
                }
            }
        };
        self.inner.borrow_mut().touched.push(id);
        if resume {
            self.start_reading(lp, id);
        }
        self.settle(lp);
    }

    /// Flushes, pauses and closes whatever the last callback touched.
    fn settle(&self, lp: &mut EventLoop) {
        loop {
            let touched = std::mem::take(&mut self.inner.borrow_mut().touched);
            if touched.is_empty() {
                return;
            }
            for id in touched {
                self.settle_one(lp, id);
            }
        }
    }

    fn settle_one(&self, lp: &mut EventLoop, id: ConnId) {
        enum Next {
            Nothing,
            Close(CloseReason),
            Send(std::os::fd::RawFd, Batch),
        }
        let (next, pause) = {
            let mut inner = self.inner.borrow_mut();
            let Some(slot) = inner.table.get_mut(id) else {
                return;
            };
            slot.touched = false;
            let pause = slot
                .gate
                .should_pause(slot.outbox.over_high_water())
                .then_some(slot.recv_op)
                .flatten();
            let next = match &slot.closing {
                Some(Closing::Now(reason)) => Next::Close(reason.clone()),
                Some(Closing::AfterFlush(reason)) if slot.outbox.is_idle() => {
                    Next::Close(reason.clone())
                }
                _ => match (slot.raw_fd(), slot.outbox.next_batch()) {
                    (Some(fd), Some(batch)) => Next::Send(fd, batch),
                    _ => Next::Nothing,
                },
            };
            (next, pause)
        };
        if let Some(op) = pause {
            lp.cancel(op);
        }
        match next {
            Next::Nothing => {}
            Next::Close(reason) => self.close_now(lp, id, reason),
            Next::Send(fd, batch) => {
                let weak = self.weak();
                let done = move |lp: &mut EventLoop, res: io::Result<usize>, batch: Batch| {
                    if let Some(server) = Server::from_weak(&weak) {
                        server.on_sent(lp, id, res, batch);
                    }
                };
                match batch {
                    Batch::One(buf) => {
                        lp.submit_with(op::Send::new(fd, buf), move |lp, (res, buf)| {
                            done(lp, res, Batch::One(buf))
                        });
                    }
                    Batch::Many(bufs) => {
                        lp.submit_with(op::SendVectored::new(fd, bufs), move |lp, (res, bufs)| {
                            done(lp, res, Batch::Many(bufs))
                        });
                    }
                }
            }
        }
    }

    fn close_now(&self, lp: &mut EventLoop, id: ConnId, reason: CloseReason) {
        let mut inner = self.inner.borrow_mut();
        let Some(mut slot) = inner.table.remove(id) else {
            return;
        };
        // The service logs its own reasons (it knows which deserve attention); limits and I/O
        // errors are the server's to report.
        match &reason {
            CloseReason::PeerClosed | CloseReason::Shutdown | CloseReason::Service(_) => {
                log::debug!("{id} closed: {reason}")
            }
            _ => log::info!("{id} ({:?}) closed: {reason}", slot.peer),
        }
        if let Some(state) = slot.state.take() {
            let (service, mut cx) = inner.parts(lp);
            service.closed(&mut cx, id, state, &reason);
        }
        // Close cancels the recv and any send still pending on the fd; their callbacks find no slot.
        if let Some(fd) = slot.fd.take() {
            lp.submit_with(op::Close::new(fd), |_, _| {});
        }
    }
}
