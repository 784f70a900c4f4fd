//! Net: sockets as objects on the loop.
//!
//! * [`Server`] + [`Service`]: a TCP server whose protocol logic is a small trait; the server does
//!   accept, read, write queue, back-pressure, limits and close.
//! * [`Outbox`] and [`ReadGate`]: the write queue and the pause/resume rules, usable on their own
//!   (the echo example drives raw ops with them).
//! * [`listen`]: a listening socket set up for the loop (`SO_REUSEADDR`, optional `SO_REUSEPORT`).

mod conn_table;
mod listener;
mod outbox;
mod read_gate;
mod server;

pub use conn_table::{CloseReason, ConnId};
pub use listener::{listen, ListenOptions};
pub use outbox::{Batch, Outbox};
pub use read_gate::{ReadGate, ReadState};
pub use server::{Ctx, Server, ServerOptions, Service};
