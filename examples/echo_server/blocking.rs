//! The echo server in the **blocking-wait** style: synchronous code on an asynchronous loop.
//!
//! Each step submits one op and waits for it: accept, then recv, send, recv, send... until the
//! client leaves, then the next accept. The code reads like a classic blocking server, and it has
//! that server's defining limit: **one thread serves one connection at a time**. While we wait for
//! this client, others queue in the listen backlog. `--threads N` gives N at once; the thread-per-
//! connection `sync_echo_server` example takes this to its conclusion.
//!
//! That is the lesson of the three styles: the loop underneath is identical, but only the
//! asynchronous styles let one thread keep many operations in flight.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use bytes::{Buf, Bytes, BytesMut};
use ringloop::op::{self, Accept};
use ringloop::EventLoop;

use crate::{set_nodelay, Counters};

const READ_SIZE: usize = 16 * 1024;

pub fn run(lp: &mut EventLoop, listener: RawFd, counters: Counters) -> io::Result<()> {
    loop {
        let ticket = lp.submit(Accept::new(listener));
        let accepted = match lp.wait(ticket) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            other => other?,
        };
        let (fd, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                log::warn!("accept failed: {e}");
                continue;
            }
        };
        set_nodelay(&fd);
        counters.accepted();
        log::debug!("serving {peer:?}");
        let outcome = serve(lp, fd.as_raw_fd(), &counters);
        counters.closed();
        let ticket = lp.submit(op::Close::new(fd));
        match lp.wait(ticket) {
            // Stopped while closing: the close still happens (a dropped Close is not undone).
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        match outcome {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => log::debug!("{peer:?}: {e}"),
            Ok(()) => {}
        }
    }
}

/// Echoes until the peer closes. Every `wait` blocks this code; the loop meanwhile only serves
/// this one connection (there is nothing else in flight).
fn serve(lp: &mut EventLoop, fd: RawFd, counters: &Counters) -> io::Result<()> {
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    loop {
        buf.clear();
        buf.reserve(READ_SIZE);
        let ticket = lp.submit(op::Recv::new(fd, buf));
        let (res, filled) = lp.wait(ticket)?;
        let n = res?;
        if n == 0 {
            return Ok(());
        }
        counters.received(n);
        let mut out: Bytes = filled.freeze();
        while !out.is_empty() {
            let ticket = lp.submit(op::Send::new(fd, out));
            let (res, rest) = lp.wait(ticket)?;
            let sent = res?;
            counters.sent(sent);
            // Advanced, not sliced: the bytes keep pointing into the one allocation (a slice
            // that reaches the end is a new, empty `Bytes` with no allocation to reclaim).
            out = rest;
            out.advance(sent);
        }
        // Reclaim the allocation (we are its only user), so a message costs no malloc.
        buf = out
            .try_into_mut()
            .unwrap_or_else(|_| BytesMut::with_capacity(READ_SIZE));
    }
}
