//! Net: sockets as objects on the loop.
//!
//! * [`Server`] + [`Service`]: a TCP server whose protocol logic is a small trait; the server does
//!   accept, read, write queue, back-pressure, limits and close. One server may listen on
//!   several sockets ([`Server::add_listener`]); [`Ctx::listener`] tells a connection's origin.
//! * [`Outbox`] and [`ReadGate`]: the write queue and the pause/resume rules, usable on their own
//!   (the echo example drives raw ops with them).
//! * [`listen`]: a listening socket set up for the loop (`SO_REUSEADDR`, optional `SO_REUSEPORT`).
//!
//! A complete line-echo server — the protocol is the `Service`, everything else is the server's:
//!
//! ```no_run
//! use bytes::{Bytes, BytesMut};
//! use ringloop::net::{listen, ConnId, Ctx, ListenOptions, Server, ServerOptions, Service};
//! use ringloop::EventLoop;
//!
//! struct LineEcho;
//!
//! impl Service for LineEcho {
//!     type Conn = (); // per-connection state: none needed here
//!
//!     fn open(&mut self, _cx: &mut Ctx<'_, ()>, _id: ConnId) {}
//!
//!     fn data(&mut self, cx: &mut Ctx<'_, ()>, id: ConnId, _conn: &mut (), input: &mut BytesMut) {
//!         // Consume complete lines; a partial line stays in `input` for the next call.
//!         while let Some(end) = input.iter().position(|&b| b == b'\n') {
//!             let line: Bytes = input.split_to(end + 1).freeze();
//!             cx.send(id, line); // queued; flushed as one send when `data` returns
//!         }
//!     }
//! }
//!
//! let mut lp = EventLoop::new()?;
//! let socket = listen("127.0.0.1:7007".parse().unwrap(), ListenOptions::default())?;
//! let _server = Server::start(&mut lp, socket, LineEcho, ServerOptions::default());
//! lp.run()?; // serves until stopped (e.g. by a LoopHandle from a signal thread)
//! # Ok::<(), std::io::Error>(())
//! ```

mod conn_table;
mod listener;
mod outbox;
mod read_gate;
mod server;

pub use conn_table::{CloseReason, ConnId, ListenerId};
pub use listener::{listen, ListenOptions};
pub use outbox::{Batch, Outbox};
pub use read_gate::{ReadGate, ReadState};
pub use server::{Ctx, Server, ServerOptions, Service};
