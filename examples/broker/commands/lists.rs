//! Lists as job queues: pushes, pops, reads, `LREM`, moves, and the blocking pops
//! (`BLPOP`, `BRPOP`, `BLMOVE`, `BRPOPLPUSH`).
//!
//! A blocking pop that finds nothing parks a pull in the patterns' `Queues` (one consumer per
//! blocked connection) and marks the client blocked; `service::settle` delivers the outcome
//! when a push makes the pull due or its deadline passes.

use std::time::Duration;

use bytes::Bytes;
use ringloop::patterns::pushpull::{ConsumerOptions, End, PullRequest, Pulled, Wait};

use super::{eq, parse_int, NOT_INTEGER, SYNTAX, WRONGTYPE};
use crate::client::{BlockKind, Blocked};
use crate::db::{qname, Entry};
use crate::service::Exec;

fn push(ex: &mut Exec<'_, '_>, args: &[Bytes], end: End, only_existing: bool) {
    let db = ex.me.db;
    let key = &args[1];
    if only_existing && ex.st.db.get(db, key).is_none() {
        return ex.me.int(0);
    }
    match ex.st.db.push(db, key, args[2..].to_vec(), end, ex.now) {
        Ok(len) => ex.me.int(len as i64),
        Err(_) => ex.me.err(WRONGTYPE),
    }
}

pub fn lpush(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    push(ex, args, End::Front, false);
}

pub fn rpush(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    push(ex, args, End::Back, false);
}

pub fn lpushx(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    push(ex, args, End::Front, true);
}

pub fn rpushx(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    push(ex, args, End::Back, true);
}

fn pop(ex: &mut Exec<'_, '_>, args: &[Bytes], end: End, name: &str) {
    if args.len() > 3 {
        return ex.me.err(&super::wrong_arity(name));
    }
    let count = match args.get(2) {
        None => None,
        Some(c) => match parse_int(c) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return ex.me.err("ERR value is out of range, must be positive"),
        },
    };
    let db = ex.me.db;
    match ex.st.db.list_or_none(db, &args[1]) {
        Err(_) => return ex.me.err(WRONGTYPE),
        Ok(false) => {
            return match count {
                None => ex.me.null(),
                Some(_) => ex.me.null_array(),
            }
        }
        Ok(true) => {}
    }
    let items = ex.st.db.pop(db, &args[1], end, count.unwrap_or(1), ex.now);
    match count {
        None => match items.first() {
            Some(item) => ex.me.bulk(item),
            None => ex.me.null(),
        },
        Some(_) => {
            ex.me.array(items.len());
            for item in &items {
                ex.me.bulk(item);
            }
        }
    }
}

pub fn lpop(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    pop(ex, args, End::Front, "lpop");
}

pub fn rpop(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    pop(ex, args, End::Back, "rpop");
}

/// The length of a list (0 if missing), or the `WRONGTYPE` error already written.
fn list_len(ex: &mut Exec<'_, '_>, key: &[u8]) -> Option<usize> {
    match ex.st.db.list_or_none(ex.me.db, key) {
        Err(_) => {
            ex.me.err(WRONGTYPE);
            None
        }
        Ok(false) => Some(0),
        Ok(true) => Some(ex.st.db.len(ex.me.db, key)),
    }
}

pub fn llen(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    if let Some(n) = list_len(ex, &args[1]) {
        ex.me.int(n as i64);
    }
}

pub fn lrange(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let (Some(start), Some(stop)) = (parse_int(&args[2]), parse_int(&args[3])) else {
        return ex.me.err(NOT_INTEGER);
    };
    let Some(len) = list_len(ex, &args[1]) else {
        return;
    };
    let len = len as i64;
    let start = if start < 0 {
        (start + len).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        stop + len
    } else {
        stop.min(len - 1)
    };
    if start > stop || start >= len {
        return ex.me.array(0);
    }
    let n = (stop - start + 1) as usize;
    ex.me.array(n);
    let db = ex.me.db;
    let Exec { st, me, .. } = ex;
    for item in st.db.iter(db, &args[1]).skip(start as usize).take(n) {
        me.bulk(item);
    }
}

pub fn lindex(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let Some(index) = parse_int(&args[2]) else {
        return ex.me.err(NOT_INTEGER);
    };
    let Some(len) = list_len(ex, &args[1]) else {
        return;
    };
    let i = if index < 0 { index + len as i64 } else { index };
    let db = ex.me.db;
    let item = (i >= 0)
        .then(|| ex.st.db.iter(db, &args[1]).nth(i as usize).cloned())
        .flatten();
    match item {
        Some(item) => ex.me.bulk(&item),
        None => ex.me.null(),
    }
}

pub fn lrem(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let Some(count) = parse_int(&args[2]) else {
        return ex.me.err(NOT_INTEGER);
    };
    let Some(len) = list_len(ex, &args[1]) else {
        return;
    };
    if len == 0 {
        return ex.me.int(0);
    }
    let n = ex
        .st
        .db
        .remove_value(ex.me.db, &args[1], count, &args[3], ex.now);
    ex.me.int(n as i64);
}

fn parse_end(b: &[u8]) -> Option<End> {
    if eq(b, "left") {
        Some(End::Front)
    } else if eq(b, "right") {
        Some(End::Back)
    } else {
        None
    }
}

/// Checks the types of a move's source and destination; `Some(true)` if the source has
/// elements, `None` if an error was written.
fn check_move(ex: &mut Exec<'_, '_>, src: &[u8], dst: &[u8]) -> Option<bool> {
    let db = ex.me.db;
    let src_exists = match ex.st.db.list_or_none(db, src) {
        Ok(e) => e,
        Err(_) => {
            ex.me.err(WRONGTYPE);
            return None;
        }
    };
    if ex.st.db.list_or_none(db, dst).is_err() {
        ex.me.err(WRONGTYPE);
        return None;
    }
    Some(src_exists)
}

/// Pops one element from `src` at `from`, pushes it to `dst` at `to`, replies with it.
fn do_move(ex: &mut Exec<'_, '_>, src: &[u8], dst: &Bytes, from: End, to: End) {
    let db = ex.me.db;
    let items = ex.st.db.pop(db, src, from, 1, ex.now);
    let Some(item) = items.into_iter().next() else {
        return ex.me.null();
    };
    let _ = ex.st.db.push(db, dst, vec![item.clone()], to, ex.now);
    ex.me.bulk(&item);
}

fn lmove_generic(ex: &mut Exec<'_, '_>, src: &Bytes, dst: &Bytes, from: End, to: End) {
    match check_move(ex, src, dst) {
        None => {}
        Some(false) => ex.me.null(),
        Some(true) => do_move(ex, src, dst, from, to),
    }
}

pub fn lmove(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let (Some(from), Some(to)) = (parse_end(&args[3]), parse_end(&args[4])) else {
        return ex.me.err(SYNTAX);
    };
    lmove_generic(ex, &args[1], &args[2], from, to);
}

pub fn rpoplpush(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    lmove_generic(ex, &args[1], &args[2], End::Back, End::Front);
}

/// A blocking timeout in seconds (float); zero is forever. Redis's errors for bad values.
fn parse_timeout(ex: &mut Exec<'_, '_>, b: &[u8]) -> Option<Duration> {
    let secs = std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite());
    let Some(secs) = secs else {
        ex.me.err("ERR timeout is not a float or out of range");
        return None;
    };
    if secs < 0.0 {
        ex.me.err("ERR timeout is negative");
        return None;
    }
    let ms = (secs * 1000.0).ceil();
    if ms > 1e15 {
        ex.me.err("ERR timeout is out of range");
        return None;
    }
    Some(Duration::from_millis(ms as u64))
}

/// Parks a pull on `keys` for the running client.
fn block(
    ex: &mut Exec<'_, '_>,
    keys: &[Bytes],
    end: End,
    timeout: Duration,
    kind: BlockKind,
    cmd: &'static str,
) {
    if ex.me.in_exec {
        // Inside EXEC nothing may wait: nil at once, as Redis does.
        return ex.me.null_array();
    }
    let db = ex.me.db;
    let consumer = match ex.me.consumer {
        Some(c) => c,
        None => {
            let c = ex.st.db.queues.add_consumer(ConsumerOptions::default());
            ex.me.consumer = Some(c);
            c
        }
    };
    let names: Vec<Vec<u8>> = keys.iter().map(|k| qname(db, k)).collect();
    let refs: Vec<&[u8]> = names.iter().map(|n| &n[..]).collect();
    let mut req = PullRequest::pop(1).wait(Wait::timeout(timeout, ex.now));
    if end == End::Back {
        req = req.from_back();
    }
    match ex.st.db.queues.pull(consumer, &refs, req, ex.now) {
        Ok(Pulled::Waiting(waiter)) => {
            ex.st.blocked.insert(waiter, ex.me.id);
            ex.me.blocked = Some(Blocked {
                waiter,
                kind,
                db,
                cmd,
            });
        }
        // Nothing was ready (checked by the caller) and the deadline is already behind us.
        Ok(Pulled::Empty) | Ok(Pulled::Jobs { .. }) | Err(_) => ex.me.null_array(),
    }
}

fn bpop(ex: &mut Exec<'_, '_>, args: &[Bytes], end: End, cmd: &'static str) {
    let Some(timeout) = parse_timeout(ex, &args[args.len() - 1]) else {
        return;
    };
    let keys = &args[1..args.len() - 1];
    let db = ex.me.db;
    for key in keys {
        match ex.st.db.get(db, key) {
            Some(Entry::Str(_)) => return ex.me.err(WRONGTYPE),
            Some(Entry::List) => {
                let items = ex.st.db.pop(db, key, end, 1, ex.now);
                if let Some(item) = items.first() {
                    ex.me.array(2);
                    ex.me.bulk(key);
                    ex.me.bulk(item);
                    return;
                }
            }
            None => {}
        }
    }
    block(ex, keys, end, timeout, BlockKind::Pop, cmd);
}

pub fn blpop(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    bpop(ex, args, End::Front, "blpop");
}

pub fn brpop(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    bpop(ex, args, End::Back, "brpop");
}

fn bmove(
    ex: &mut Exec<'_, '_>,
    src: &Bytes,
    dst: &Bytes,
    from: End,
    to: End,
    t: &[u8],
    cmd: &'static str,
) {
    let Some(timeout) = parse_timeout(ex, t) else {
        return;
    };
    match check_move(ex, src, dst) {
        None => {}
        Some(true) => do_move(ex, src, dst, from, to),
        Some(false) => {
            let kind = BlockKind::Move {
                dest: dst.clone(),
                to,
                from,
            };
            block(ex, std::slice::from_ref(src), from, timeout, kind, cmd);
        }
    }
}

pub fn blmove(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let (Some(from), Some(to)) = (parse_end(&args[3]), parse_end(&args[4])) else {
        return ex.me.err(SYNTAX);
    };
    bmove(ex, &args[1], &args[2], from, to, &args[5], "blmove");
}

pub fn brpoplpush(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    bmove(
        ex,
        &args[1],
        &args[2],
        End::Back,
        End::Front,
        &args[3],
        "brpoplpush",
    );
}
