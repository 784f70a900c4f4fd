//! RESP, the Redis serialization protocol (RESP2 and RESP3): a pure, incremental codec.
//!
//! Nothing here does I/O or knows about the event loop: the connection layer appends what it
//! reads to a [`BytesMut`](bytes::BytesMut), asks a decoder for whole messages, and encodes replies
//! into its write buffer.
//!
//! * **Server side**: [`RequestDecoder`] turns a client's byte stream into [`Command`]s, accepting
//!   both the multibulk form every client library sends (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and the
//!   *inline* form people type into `telnet`/`nc` (`GET k\n`, with Redis's quoting rules). Limits
//!   ([`Limits`]) and error texts ([`ProtocolError`]) are those of Redis 7, so
//!   `ERR Protocol error: invalid bulk length` reads the same here as there.
//! * **Replies**: [`Value`] covers every RESP2 and RESP3 type; [`encode()`] writes one for a
//!   given [`Protocol`], degrading RESP3-only types for RESP2 clients the way Redis does (a map
//!   becomes a flat array, a boolean `:1`/`:0`, a push an array...). The `write_*` functions are
//!   the allocation-free fast paths for the hot replies (`+OK`, `:n`, `$n`), and [`SharedFrame`]
//!   encodes a pub/sub message once per protocol version for fan-out to many subscribers.
//! * **Client side**: [`ReplyDecoder`] parses every RESP2/RESP3 reply type, either into a
//!   [`Value`] or, for a proxy that only forwards, into the raw bytes of one complete reply;
//!   [`subscription_confirmation`] reads the count a pub/sub confirmation carries.
//!
//! ```
//! use bytes::BytesMut;
//! use ringloop::proto::resp::{encode, Protocol, RequestDecoder, Value};
//!
//! let mut dec = RequestDecoder::new();
//! let mut input = BytesMut::from(&b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nPING\r\n"[..]);
//!
//! let cmd = dec.decode(&mut input)?.expect("a whole command");
//! assert!(cmd.is("echo"));
//! assert_eq!(&cmd[1][..], b"hi");
//! let cmd = dec.decode(&mut input)?.expect("an inline command");
//! assert!(cmd.is("PING"));
//! assert_eq!(dec.decode(&mut input)?, None); // nothing left
//!
//! let mut out = BytesMut::new();
//! encode(&Value::Boolean(true), Protocol::Resp3, &mut out);
//! encode(&Value::Boolean(true), Protocol::Resp2, &mut out);
//! assert_eq!(&out[..], b"#t\r\n:1\r\n");
//! # Ok::<(), ringloop::proto::resp::ProtocolError>(())
//! ```

mod confirm;
mod encode;
mod error;
mod inline;
mod lex;
mod limits;
mod num;
mod reply;
mod request;
mod value;

pub use confirm::{subscription_confirmation, Confirmed};
pub use encode::{
    encode, encode_to_bytes, push_of_bulks, write_array_len, write_boolean, write_bulk,
    write_command, write_double, write_error, write_integer, write_map_len, write_null,
    write_null_array, write_ok, write_pong, write_push_len, write_set_len, write_simple,
    SharedFrame,
};
pub use error::ProtocolError;
pub use limits::Limits;
pub use reply::ReplyDecoder;
pub use request::{Command, RequestDecoder};
pub use value::{Protocol, Value};
