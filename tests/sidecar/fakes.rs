//! Upstreams that misbehave on purpose, run as threads of the test: one that never answers (for
//! timeouts and the circuit breaker), one that echoes (for byte forwarding), one that answers
//! pub/sub and then goes silent, and an address nobody listens on (for connect failures).

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

/// Reads one multibulk command (`None` at end of stream).
fn read_command(s: &mut std::io::BufReader<TcpStream>) -> Option<Vec<String>> {
    use std::io::BufRead;
    let mut line = String::new();
    let mut next_line = |line: &mut String| {
        line.clear();
        matches!(s.read_line(line), Ok(n) if n > 0).then(|| line.trim_end().to_string())
    };
    let n: usize = next_line(&mut line)?.strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        next_line(&mut line)?; // $len
        args.push(next_line(&mut line)?);
    }
    Some(args)
}

/// An upstream that confirms (UN)SUBSCRIBE like Redis (RESP2), answers a bare `PING`, and
/// never answers anything else: the sidecar's barrier `PING <token>` after the last
/// unsubscribe meets silence.
pub fn pubsub_then_silent() -> SocketAddr {
    serve(|s| {
        let mut out = s.try_clone().unwrap();
        let mut input = std::io::BufReader::new(s);
        let mut subscribed = std::collections::BTreeSet::new();
        while let Some(args) = read_command(&mut input) {
            let name = args[0].to_ascii_lowercase();
            let reply = match name.as_str() {
                "subscribe" | "unsubscribe" => {
                    let mut frames = String::new();
                    for ch in &args[1..] {
                        if name == "subscribe" {
                            subscribed.insert(ch.clone());
                        } else {
                            subscribed.remove(ch);
                        }
                        frames += &format!(
                            "*3\r\n${}\r\n{name}\r\n${}\r\n{ch}\r\n:{}\r\n",
                            name.len(),
                            ch.len(),
                            subscribed.len()
                        );
                    }
                    frames
                }
                "ping" if args.len() == 1 => "+PONG\r\n".to_string(),
                _ => continue,
            };
            if out.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    })
}

/// An address with nothing listening (a port just released).
pub fn refused() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap()
}
