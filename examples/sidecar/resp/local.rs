//! The answers the sidecar gives itself, encoded for the client's protocol.
//!
//! Only commands about the client's own connection are answered here — that connection is the
//! sidecar's, so the upstream could only answer them about a shared connection, wrongly.

use bytes::{Bytes, BytesMut};
use ringloop::proto::resp::{encode, write_error, Value};

use super::client::Client;
use super::lane::Lane;
use super::route::Local;

/// Answers `local` for `client`, applying what it changes (name, quit, reset).
pub fn answer(local: Local, client: &mut Client) -> Bytes {
    let proto = client.lane.proto;
    let value = match local {
        Local::SetInfo => Value::ok(),
        Local::SetName(name) => {
            client.name = (!name.is_empty()).then_some(name);
            Value::ok()
        }
        Local::GetName => client.name.clone().map_or(Value::Null, Value::Bulk),
        Local::Id => Value::Integer(client.id.map_or(0, |id| id.serial() as i64)),
        Local::Quit => {
            client.quit = true;
            Value::ok()
        }
        Local::Reset => {
            client.lane = Lane::default();
            client.name = None;
            Value::simple("RESET")
        }
        Local::Unsubscribe { kind, channels } => {
            // What Redis answers a client with no subscriptions: one message per channel asked
            // for, or one with a null channel when none was named; the count is always 0.
            let one = |ch: Value| Value::Push(vec![Value::bulk(kind), ch, Value::Integer(0)]);
            let mut out = BytesMut::new();
            if channels.is_empty() {
                encode(&one(Value::Null), proto, &mut out);
            }
            for ch in channels {
                encode(&one(Value::Bulk(ch)), proto, &mut out);
            }
            return out.freeze();
        }
        Local::Error(text) => return error(&text),
    };
    let mut out = BytesMut::new();
    encode(&value, proto, &mut out);
    out.freeze()
}

/// An error reply (`text` without the leading `-`).
pub fn error(text: &str) -> Bytes {
    let mut out = BytesMut::new();
    write_error(&mut out, text.as_bytes());
    out.freeze()
}
