//! Where one client command goes: which commands can share an upstream connection, which need a
//! connection of their own, which change the connection's state, which the sidecar answers
//! itself and which it refuses.
//!
//! The table is small on purpose: every command not named here is a plain request that any
//! connection in the client's (protocol, db) lane can serve.

use std::time::Duration;

use bytes::Bytes;
use ringloop::proto::resp::{Command, Protocol};

/// What to do with a command.
#[derive(Debug, PartialEq)]
pub enum Route {
    /// A plain request: any shared connection of the client's lane.
    Shared,
    /// Holds its connection until some other client acts (`BLPOP`, `WAIT`, `XREAD BLOCK`...):
    /// a dedicated connection, and a deadline of its own timeout (carried here; `None` if it
    /// waits for ever) plus `--request-timeout`, so an upstream that went silent cannot hold the
    /// client for good.
    Blocking(Option<Duration>),
    /// Turns the connection into a stream of pushes (`SUBSCRIBE` family, `MONITOR`): a dedicated
    /// connection whose every reply is forwarded as it comes, for the rest of the session.
    Subscribe,
    /// Starts state that spans commands (`MULTI`, `WATCH`): a dedicated connection until
    /// `EXEC` / `DISCARD` / `UNWATCH` end it.
    Transaction,
    /// `SELECT db`: changes the client's lane. `None`: the argument is not a number (the
    /// upstream will say so; nothing changes).
    Select(Option<i64>),
    /// `HELLO ver [SETNAME name] ...`: changes the client's lane (protocol). `forward` is the
    /// command to send (without `SETNAME`, which the sidecar keeps), `proto` the protocol asked
    /// for (`None`: not 2 or 3, the upstream will refuse), `name` the name to keep on success.
    Hello {
        forward: Vec<Bytes>,
        proto: Option<Protocol>,
        name: Option<Bytes>,
    },
    /// Answered by the sidecar (see [`Local`]).
    Local(Local),
    /// Refused with this error text (without the leading `-`).
    Refuse(String),
}

/// Commands the sidecar answers itself, because their subject is the client's own connection,
/// which is the sidecar's, not an upstream one.
#[derive(Debug, PartialEq)]
pub enum Local {
    /// `CLIENT SETINFO`: library name/version, meaningless on a shared connection: `+OK`.
    SetInfo,
    /// `CLIENT SETNAME name`: kept by the sidecar (`+OK`, or Redis's error for a bad name).
    SetName(Bytes),
    /// `CLIENT GETNAME`.
    GetName,
    /// `CLIENT ID`: the sidecar's own connection number.
    Id,
    /// `QUIT`: `+OK`, then close once every earlier reply is sent.
    Quit,
    /// `RESET`: back to RESP2, db 0, no name: `+RESET`.
    Reset,
    /// `UNSUBSCRIBE`-family by a client with no subscriptions: Redis's answer for that case, one
    /// reply per channel (`kind` is the command name, lowercased).
    Unsubscribe {
        kind: &'static str,
        channels: Vec<Bytes>,
    },
    /// A local error with this text (bad arguments to a local command).
    Error(String),
}

/// Redis's rule for client names: no spaces, newlines or other special characters.
pub const BAD_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";

fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

/// An integer as Redis writes one, read leniently (surrounding spaces, a `+`): anything Redis
/// would accept parses here too, which is what matters (see [`Route::Select`]).
pub fn parse_int(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?.trim();
    s.strip_prefix('+').unwrap_or(s).parse().ok()
}

fn unsupported(what: &str, why: &str) -> Route {
    Route::Refuse(format!(
        "ERR {what} is not supported through the sidecar proxy ({why})"
    ))
}

/// A blocking command's own timeout, from its argument `value` in `unit_secs` (1 for seconds,
/// 0.001 for milliseconds): `None` when it waits for ever (`0`) or the argument is not a
/// number (the upstream will refuse it).
fn own_timeout(value: Option<&Bytes>, unit_secs: f64) -> Option<Duration> {
    let v: f64 = std::str::from_utf8(value?).ok()?.parse().ok()?;
    if !(v.is_finite() && v > 0.0) {
        return None;
    }
    Duration::try_from_secs_f64(v * unit_secs).ok()
}

/// Classifies `cmd`. (A client with a dedicated connection sends `Shared`, `Blocking` and
/// `Transaction` commands on it; the caller decides that.)
pub fn route(cmd: &Command) -> Route {
    let name = cmd.name().to_ascii_lowercase();
    let args = cmd.args();
    match name.as_slice() {
        // Each with where its timeout is: seconds for the pops, milliseconds for the rest.
        b"blpop" | b"brpop" | b"blmove" | b"brpoplpush" | b"bzpopmin" | b"bzpopmax" => {
            Route::Blocking(own_timeout(args.last(), 1.0))
        }
        b"blmpop" | b"bzmpop" => Route::Blocking(own_timeout(args.get(1), 1.0)),
        b"wait" => Route::Blocking(own_timeout(args.get(2), 0.001)),
        b"waitaof" => Route::Blocking(own_timeout(args.get(3), 0.001)),
        b"xread" | b"xreadgroup" => {
            match args.iter().position(|a| a.eq_ignore_ascii_case(b"block")) {
                Some(at) => Route::Blocking(own_timeout(args.get(at + 1), 0.001)),
                None => Route::Shared,
            }
        }
        b"subscribe" | b"psubscribe" | b"ssubscribe" | b"monitor" => Route::Subscribe,
        b"unsubscribe" | b"punsubscribe" | b"sunsubscribe" => Route::Local(Local::Unsubscribe {
            kind: match name.as_slice() {
                b"unsubscribe" => "unsubscribe",
                b"punsubscribe" => "punsubscribe",
                _ => "sunsubscribe",
            },
            channels: args[1..].to_vec(),
        }),
        b"multi" | b"watch" => Route::Transaction,
        // Two arguments, or the upstream refuses it for its arity without switching anything.
        b"select" if args.len() == 2 => Route::Select(parse_int(&args[1])),
        b"hello" if args.len() >= 2 => hello(args),
        b"auth" => unsupported(
            "AUTH",
            "upstream connections are shared; authenticate the sidecar's side instead",
        ),
        b"client" if args.len() >= 2 => client(args),
        b"quit" => Route::Local(Local::Quit),
        b"reset" if args.len() == 1 => Route::Local(Local::Reset),
        b"sync" | b"psync" | b"replconf" => unsupported(
            &String::from_utf8_lossy(&name).to_uppercase(),
            "replication needs a direct connection",
        ),
        _ => Route::Shared,
    }
}

fn hello(args: &[Bytes]) -> Route {
    let proto = parse_int(&args[1]).and_then(Protocol::from_version);
    let mut forward = vec![args[0].clone(), args[1].clone()];
    let mut name = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - i - 1;
        if args[i].eq_ignore_ascii_case(b"auth") && more >= 2 {
            return unsupported(
                "HELLO with AUTH",
                "upstream connections are shared; authenticate the sidecar's side instead",
            );
        } else if args[i].eq_ignore_ascii_case(b"setname") && more >= 1 {
            if !valid_name(&args[i + 1]) {
                return Route::Local(Local::Error(BAD_NAME.into()));
            }
            name = Some(args[i + 1].clone());
            i += 2;
        } else {
            // Unknown: let the upstream give its syntax error (the switch is undone anyway).
            forward.push(args[i].clone());
            i += 1;
        }
    }
    Route::Hello {
        forward,
        proto,
        name,
    }
}

fn client(args: &[Bytes]) -> Route {
    let sub = args[1].to_ascii_lowercase();
    let n = args.len();
    let arity = |sub: &str| {
        Route::Local(Local::Error(format!(
            "ERR wrong number of arguments for 'client|{sub}' command"
        )))
    };
    match sub.as_slice() {
        b"setinfo" if n == 4 => Route::Local(Local::SetInfo),
        b"setinfo" => arity("setinfo"),
        b"setname" if n == 3 => {
            if valid_name(&args[2]) {
                Route::Local(Local::SetName(args[2].clone()))
            } else {
                Route::Local(Local::Error(BAD_NAME.into()))
            }
        }
        b"setname" => arity("setname"),
        b"getname" if n == 2 => Route::Local(Local::GetName),
        b"id" if n == 2 => Route::Local(Local::Id),
        b"reply" => unsupported(
            "CLIENT REPLY",
            "replies are how the sidecar matches answers to requests",
        ),
        b"tracking" | b"caching" => unsupported(
            "client-side caching",
            "invalidation pushes would arrive on a shared connection",
        ),
        _ => Route::Shared,
    }
}
