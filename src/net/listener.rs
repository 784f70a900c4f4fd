//! Listening sockets, set up the way servers on this loop want them.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Socket, Type};

/// How to set up a listening socket.
#[derive(Clone, Copy, Debug)]
pub struct ListenOptions {
    /// `SO_REUSEPORT`: several sockets (one per loop thread) share the port and the kernel
    /// spreads connections across them.
    pub reuse_port: bool,
    /// Length of the accept backlog.
    pub backlog: i32,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            reuse_port: false,
            backlog: 4096,
        }
    }
}

/// A non-blocking, close-on-exec TCP listener with `SO_REUSEADDR` (restarts do not wait for
/// `TIME_WAIT`), bound to `addr`.
pub fn listen(addr: SocketAddr, options: ListenOptions) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if options.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(options.backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}
