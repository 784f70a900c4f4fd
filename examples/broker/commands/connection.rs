//! Connection commands: `PING`, `ECHO`, `HELLO`, `AUTH`, `QUIT`, `RESET`, `SELECT`, `CLIENT`.

use bytes::Bytes;
use ringloop::net::{CloseReason, ConnId};
use ringloop::proto::resp::{Protocol, Value};

use super::{eq, parse_int, text, unknown_subcommand, wrong_arity, NOT_INTEGER, SYNTAX};
use crate::db::DATABASES;
use crate::service::Exec;

/// The Redis version the broker answers to (its replies follow Redis 7).
pub const REDIS_VERSION: &str = "7.2.0";

pub fn ping(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    if args.len() > 2 {
        return ex.me.err(&wrong_arity("ping"));
    }
    if ex.me.in_resp2_pubsub() {
        // A RESP2 subscriber's replies must look like messages: ["pong", msg].
        ex.me.array(2);
        ex.me.bulk(b"pong");
        ex.me.bulk(args.get(1).map_or(&[][..], |a| &a[..]));
        return;
    }
    match args.get(1) {
        Some(msg) => ex.me.bulk(msg),
        None => ex.me.simple("PONG"),
    }
}

pub fn echo(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    ex.me.bulk(&args[1]);
}

fn check_password(ex: &mut Exec<'_, '_>, user: &[u8], pass: &[u8]) -> bool {
    let ok = user == b"default"
        && ex
            .st
            .cfg
            .requirepass
            .as_ref()
            .is_none_or(|p| p[..] == *pass);
    if !ok {
        ex.me
            .err("WRONGPASS invalid username-password pair or user is disabled.");
    }
    ok
}

pub fn auth(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    if args.len() > 3 {
        return ex.me.err(SYNTAX);
    }
    if ex.st.cfg.requirepass.is_none() && args.len() == 2 {
        return ex.me.err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
    }
    let (user, pass) = match args.len() {
        2 => (&b"default"[..], &args[1][..]),
        _ => (&args[1][..], &args[2][..]),
    };
    if check_password(ex, user, pass) {
        ex.me.authed = true;
        ex.me.ok();
    }
}

pub fn hello(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let mut proto = ex.me.proto;
    if let Some(v) = args.get(1) {
        let Some(v) = parse_int(v) else {
            return ex
                .me
                .err("ERR Protocol version is not an integer or out of range");
        };
        match Protocol::from_version(v) {
            Some(p) => proto = p,
            None => return ex.me.err("NOPROTO unsupported protocol version"),
        }
    }
    let mut auth = None;
    let mut name = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - i - 1;
        if eq(&args[i], "auth") && more >= 2 {
            auth = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 3;
        } else if eq(&args[i], "setname") && more >= 1 {
            name = Some(args[i + 1].clone());
            i += 2;
        } else {
            return ex.me.err(&format!(
                "ERR Syntax error in HELLO option '{}'",
                text(&args[i])
            ));
        }
    }
    match auth {
        Some((user, pass)) => {
            if !check_password(ex, &user, &pass) {
                return;
            }
            ex.me.authed = true;
        }
        None if !ex.me.authed => {
            return ex.me.err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        }
        None => {}
    }
    if let Some(name) = name {
        if !valid_name(&name) {
            return ex.me.err(BAD_NAME);
        }
        ex.me.name = (!name.is_empty()).then_some(name);
    }
    if proto != ex.me.proto {
        ex.me.proto = proto;
        super::pubsub::reformat_subscriber(ex);
    }
    let s = |t: &str| Value::bulk(Bytes::copy_from_slice(t.as_bytes()));
    ex.me.value(&Value::Map(vec![
        (s("server"), s("redis")),
        (s("version"), s(REDIS_VERSION)),
        (s("proto"), Value::Integer(proto.version() as i64)),
        (s("id"), Value::Integer(ex.me.id.serial() as i64)),
        (s("mode"), s("standalone")),
        (s("role"), s("master")),
        (s("modules"), Value::Array(Vec::new())),
    ]));
}

pub fn quit(ex: &mut Exec<'_, '_>, _: &[Bytes]) {
    ex.me.ok();
    ex.me.closing = true;
    ex.cx
        .close_after_flush(ex.me.id, CloseReason::Service("QUIT".into()));
}

pub fn reset(ex: &mut Exec<'_, '_>, _: &[Bytes]) {
    super::pubsub::drop_subscriber(ex);
    ex.me.multi = None;
    super::transactions::unwatch_all(ex.st, ex.me);
    ex.me.proto = Protocol::Resp2;
    ex.me.db = 0;
    ex.me.name = None;
    ex.me.authed = ex.st.cfg.requirepass.is_none();
    ex.me.simple("RESET");
}

pub fn select(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    match parse_int(&args[1]) {
        None => ex.me.err(NOT_INTEGER),
        Some(n) if n < 0 || n as usize >= DATABASES => ex.me.err("ERR DB index is out of range"),
        Some(n) => {
            ex.me.db = n as usize;
            ex.me.ok();
        }
    }
}

const BAD_NAME: &str = "ERR Client names cannot contain spaces, newlines or special characters.";

fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

pub fn client(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let sub = args[1].to_ascii_lowercase();
    let n = args.len();
    let arity_ok = match sub.as_slice() {
        b"id" | b"getname" | b"info" => n == 2,
        b"setname" => n == 3,
        b"setinfo" => n == 4,
        b"list" | b"help" => n >= 2,
        b"kill" => n >= 3,
        _ => return unknown_subcommand(ex, "client", &args[1]),
    };
    if !arity_ok {
        return ex.me.err(&wrong_arity(&format!(
            "client|{}",
            String::from_utf8_lossy(&sub)
        )));
    }
    match sub.as_slice() {
        b"id" => ex.me.int(ex.me.id.serial() as i64),
        b"getname" => match ex.me.name.clone() {
            Some(name) => ex.me.bulk(&name),
            None => ex.me.null(),
        },
        b"setname" => {
            if !valid_name(&args[2]) {
                return ex.me.err(BAD_NAME);
            }
            ex.me.name = (!args[2].is_empty()).then(|| args[2].clone());
            ex.me.ok();
        }
        b"setinfo" => {
            let value = args[3].clone();
            if !valid_name(&value) {
                return ex.me.err(&format!(
                    "ERR {} cannot contain spaces, newlines or special characters.",
                    text(&args[2]).to_ascii_uppercase()
                ));
            }
            if eq(&args[2], "lib-name") {
                ex.me.lib_name = Some(value);
            } else if eq(&args[2], "lib-ver") {
                ex.me.lib_ver = Some(value);
            } else {
                return ex
                    .me
                    .err(&format!("ERR Unrecognized option '{}'", text(&args[2])));
            }
            ex.me.ok();
        }
        b"info" => {
            let line = client_line(ex, None);
            ex.me.verbatim(line + "\n");
        }
        b"list" => client_list(ex, args),
        b"kill" => client_kill(ex, args),
        _ => {
            let help = [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ID", "GETNAME", "SETNAME <name>", "SETINFO <LIB-NAME|LIB-VER> <value>", "INFO",
                "LIST [TYPE (NORMAL|PUBSUB)] [ID <id> [<id> ...]]",
                "KILL <ip:port> | KILL [ID <id>] [ADDR <ip:port>] [LADDR <ip:port>] [USER <name>] [SKIPME (YES|NO)] [MAXAGE <secs>]",
                "HELP",
            ];
            ex.me.array(help.len());
            for h in help {
                ex.me.simple(h);
            }
        }
    }
}

/// The `CLIENT LIST` line of `other`, or of the running client if `None`.
fn client_line(ex: &Exec<'_, '_>, other: Option<ConnId>) -> String {
    let c = match other {
        Some(id) if id != ex.me.id => match ex.others.get(&id) {
            Some(c) => c,
            None => return String::new(),
        },
        _ => &*ex.me,
    };
    c.info_line(ex.now, ex.st.laddr, ex.cx.unsent(c.id).unwrap_or(0))
}

fn all_ids(ex: &Exec<'_, '_>) -> Vec<ConnId> {
    let mut ids: Vec<ConnId> = ex.others.keys().copied().collect();
    ids.push(ex.me.id);
    ids.sort_by_key(|id| id.serial());
    ids
}

fn client_list(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let mut only_type: Option<bool> = None; // Some(true) = pubsub only
    let mut only_ids: Option<Vec<u32>> = None;
    let mut i = 2;
    while i < args.len() {
        if eq(&args[i], "type") && i + 1 < args.len() {
            only_type = match args[i + 1].to_ascii_lowercase().as_slice() {
                b"normal" => Some(false),
                b"pubsub" => Some(true),
                b"master" | b"replica" | b"slave" => Some(true), // none of these exist here
                _ => {
                    return ex
                        .me
                        .err(&format!("ERR Unknown client type '{}'", text(&args[i + 1])))
                }
            };
            i += 2;
        } else if eq(&args[i], "id") && i + 1 < args.len() {
            let mut ids = Vec::new();
            for a in &args[i + 1..] {
                match parse_int(a) {
                    Some(n) if n > 0 => ids.push(n as u32),
                    _ => return ex.me.err("ERR Invalid client ID"),
                }
            }
            only_ids = Some(ids);
            break;
        } else {
            return ex.me.err(SYNTAX);
        }
    }
    let mut out = String::new();
    for id in all_ids(ex) {
        if let Some(ids) = &only_ids {
            if !ids.contains(&id.serial()) {
                continue;
            }
        }
        if let Some(pubsub) = only_type {
            let subs = if id == ex.me.id {
                ex.me.subs
            } else {
                ex.others.get(&id).map_or(0, |c| c.subs)
            };
            if (subs > 0) != pubsub {
                continue;
            }
        }
        out.push_str(&client_line(ex, Some(id)));
        out.push('\n');
    }
    ex.me.verbatim(out);
}

fn client_kill(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let old_style = args.len() == 3;
    let mut id_f: Option<u32> = None;
    let mut addr_f: Option<String> = None;
    let mut laddr_f: Option<String> = None;
    let mut user_f: Option<String> = None;
    let mut maxage: Option<u64> = None;
    let mut skipme = true;
    if old_style {
        addr_f = Some(text(&args[2]));
        skipme = false;
    } else {
        if args.len() % 2 != 0 {
            return ex.me.err(SYNTAX);
        }
        for pair in args[2..].chunks(2) {
            let (k, v) = (&pair[0], &pair[1]);
            if eq(k, "id") {
                match parse_int(v) {
                    Some(n) if n > 0 => id_f = Some(n as u32),
                    _ => return ex.me.err("ERR client-id should be greater than 0"),
                }
            } else if eq(k, "addr") {
                addr_f = Some(text(v));
            } else if eq(k, "laddr") {
                laddr_f = Some(text(v));
            } else if eq(k, "user") {
                user_f = Some(text(v));
            } else if eq(k, "maxage") {
                match parse_int(v) {
                    Some(n) if n >= 0 => maxage = Some(n as u64),
                    _ => return ex.me.err(NOT_INTEGER),
                }
            } else if eq(k, "skipme") {
                if eq(v, "yes") {
                    skipme = true;
                } else if eq(v, "no") {
                    skipme = false;
                } else {
                    return ex.me.err(SYNTAX);
                }
            } else if eq(k, "type") {
                // Only normal and pubsub clients exist; TYPE is accepted and matched loosely.
            } else {
                return ex.me.err(SYNTAX);
            }
        }
    }
    let laddr = ex.st.laddr.map(|a| a.to_string()).unwrap_or_default();
    let mut victims = Vec::new();
    for id in all_ids(ex) {
        let c = if id == ex.me.id {
            &*ex.me
        } else {
            match ex.others.get(&id) {
                Some(c) => c,
                None => continue,
            }
        };
        if c.closing
            || (skipme && id == ex.me.id)
            || id_f.is_some_and(|f| f != id.serial())
            || addr_f
                .as_ref()
                .is_some_and(|a| c.peer.map(|p| p.to_string()).as_deref() != Some(a))
            || laddr_f.as_ref().is_some_and(|a| *a != laddr)
            || user_f.as_ref().is_some_and(|u| u != "default")
            || maxage.is_some_and(|m| ex.now.saturating_duration_since(c.created).as_secs() < m)
        {
            continue;
        }
        victims.push(id);
    }
    if old_style {
        if victims.is_empty() {
            return ex.me.err("ERR No such client");
        }
        ex.me.ok();
    } else {
        ex.me.int(victims.len() as i64);
    }
    for id in victims {
        if id == ex.me.id {
            // Killing yourself: the reply goes out first (Redis's CLOSE_AFTER_COMMAND).
            ex.me.closing = true;
            ex.cx
                .close_after_flush(id, CloseReason::Service("killed by CLIENT KILL".into()));
        } else {
            if let Some(c) = ex.others.get_mut(&id) {
                c.closing = true;
            }
            ex.cx
                .close(id, CloseReason::Service("killed by CLIENT KILL".into()));
        }
    }
}
