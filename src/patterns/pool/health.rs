//! Is an idle connection still good? The cheap check every reuse gets (one non-blocking peek),
//! and the user's own check ([`HealthDone`]) for connections idle past `health_check_after`.
//!
//! The peek is `recv(MSG_PEEK | MSG_DONTWAIT)` of one byte, made directly rather than as a loop
//! op: it never blocks, it is one syscall, and it behaves identically on both backends. `EAGAIN`
//! means healthy (nothing to read, connection open); `0` means the peer closed it; data means
//! the upstream sent bytes nobody asked for (a late reply, a goodbye message), so the next user
//! would read garbage; any other error (reset) means broken.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::rc::Weak;

use super::state::Inner;
use super::{Pool, PooledConn};
use crate::EventLoop;

/// What a peek found on an idle socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peek {
    Healthy,
    PeerClosed,
    Unsolicited,
    Failed,
}

/// Peeks at `fd` without blocking or consuming anything.
pub(crate) fn peek(fd: &impl AsFd) -> Peek {
    let sock = socket2::SockRef::from(fd);
    let mut byte = [MaybeUninit::<u8>::uninit(); 1];
    loop {
        return match sock.recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
            Ok(0) => Peek::PeerClosed,
            Ok(_) => Peek::Unsolicited,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Peek::Healthy,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => Peek::Failed,
        };
    }
}

/// The user's health check.
pub(crate) type Check = Box<dyn FnMut(&mut EventLoop, PooledConn, HealthDone)>;

/// Given to a health check with the connection; the check gives both back through
/// [`HealthDone::done`] when it knows the answer (at once, or after a PING round trip).
///
/// Dropping it without calling `done` is allowed: the connection is then whatever the check did
/// with it (dropped connections free their slot as usual).
pub struct HealthDone {
    pub(crate) home: Weak<Inner>,
    pub(crate) finished: bool,
}

impl HealthDone {
    /// Reports the check's verdict. Healthy: the connection goes to the first waiting checkout
    /// (or back to idle). Unhealthy: it is closed, counted in
    /// [`PoolStats::closed_health`](super::PoolStats::closed_health), and the checkout that
    /// triggered the check tries the next connection.
    pub fn done(mut self, lp: &mut EventLoop, conn: PooledConn, healthy: bool) {
        self.finished = true;
        match self.home.upgrade() {
            Some(inner) => Pool { inner }.health_done(lp, conn, healthy),
            // The pool is gone: the connection closes with `conn`.
            None => drop(conn),
        }
    }
}

impl Drop for HealthDone {
    fn drop(&mut self) {
        if !self.finished {
            if let Some(inner) = self.home.upgrade() {
                inner.check_abandoned();
            }
        }
    }
}

impl std::fmt::Debug for HealthDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthDone").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn peek_tells_healthy_closed_and_unsolicited_apart() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        assert_eq!(peek(&c), Peek::Healthy);
        s.write_all(b"x").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(peek(&c), Peek::Unsolicited);
        assert_eq!(peek(&c), Peek::Unsolicited, "peeking consumes nothing");
        let c2 = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        drop(l.accept().unwrap());
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(peek(&c2), Peek::PeerClosed);
    }
}
