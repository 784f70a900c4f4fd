//! A plain socket that speaks RESP byte-exactly, for tests that must see the exact bytes a
//! server sends (error texts, frame shapes) rather than what a client library makes of them.
//! Included with `#[path]` by the broker and sidecar tests. Every read has a timeout, so a
//! server that hangs fails the test instead of hanging it.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use ringloop::proto::resp::ReplyDecoder;

/// How long one read or write may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Raw {
    pub s: TcpStream,
    /// Bytes read past the last whole reply (see [`Raw::reply`]).
    buf: BytesMut,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        Raw::from_stream(s)
    }

    /// Wraps a stream connected elsewhere (say, with socket options set first).
    pub fn from_stream(s: TcpStream) -> Raw {
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Raw {
            s,
            buf: BytesMut::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write");
    }

    /// A command in multibulk form.
    pub fn cmd(&mut self, args: &[&[u8]]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.send(&out);
    }

    /// Reads exactly `want.len()` bytes and checks they are `want`.
    pub fn expect(&mut self, want: &[u8]) {
        let mut got = vec![0; want.len()];
        if let Err(e) = self.s.read_exact(&mut got) {
            panic!("reading {:?}: {e}", String::from_utf8_lossy(want));
        }
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    }

    /// Sends a command and checks the exact reply.
    pub fn roundtrip(&mut self, args: &[&[u8]], want: &[u8]) {
        self.cmd(args);
        self.expect(want);
    }

    /// Reads one whole reply, whatever its type, as its raw bytes (framed by the crate's own
    /// reply decoder). Do not mix with [`Raw::expect`] on unread data.
    pub fn reply(&mut self) -> String {
        let mut dec = ReplyDecoder::new();
        loop {
            if let Some(frame) = dec.decode_frame(&mut self.buf).expect("valid RESP") {
                return String::from_utf8_lossy(&frame).into_owned();
            }
            let mut chunk = [0u8; 4096];
            let n = self.s.read(&mut chunk).expect("read reply");
            assert!(n > 0, "EOF while reading a reply");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// True if the peer closed the connection (EOF or reset) within 5 s.
    pub fn closed(&mut self) -> bool {
        self.s
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0; 256];
        loop {
            match self.s.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if would_block(&e) => return false,
                Err(_) => return true,
            }
        }
    }

    /// True if nothing arrives within `d`.
    pub fn silent_for(&mut self, d: Duration) -> bool {
        self.s.set_read_timeout(Some(d)).unwrap();
        let mut buf = [0; 1];
        let silent = matches!(self.s.read(&mut buf), Err(e) if would_block(&e));
        self.s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        silent
    }
}

fn would_block(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut
}
