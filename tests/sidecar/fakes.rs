//! Upstreams that misbehave on purpose, run as threads of the test: one that never answers (for
//! timeouts and the circuit breaker), one that echoes (for byte forwarding), and an address
//! nobody listens on (for connect failures).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};

fn serve(handle: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    // The thread outlives the test (blocked in accept); the test process ends it.
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || handle(stream));
        }
    });
    addr
}

/// An upstream that accepts, reads everything, and never answers.
pub fn mute() -> SocketAddr {
    serve(|mut s| {
        let mut buf = [0u8; 4096];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    })
}

/// An upstream that echoes every byte, and answers end-of-file with its own.
pub fn echo() -> SocketAddr {
    serve(|mut s| {
        // Small buffers on this side, so back-pressure shows up after a few MB, not tens.
        let sock = socket2::SockRef::from(&s);
        let _ = sock.set_recv_buffer_size(64 << 10);
        let _ = sock.set_send_buffer_size(64 << 10);
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = s.shutdown(Shutdown::Write);
    })
}

/// An address with nothing listening (a port just released).
pub fn refused() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap()
}
