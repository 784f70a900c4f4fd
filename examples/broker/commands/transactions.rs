//! Transactions: `MULTI`, `EXEC`, `DISCARD`, `WATCH`, `UNWATCH`, with Redis's rules.
//!
//! * After `MULTI`, commands are checked (name, arity, auth) and queued with `+QUEUED`; one that
//!   fails the check marks the transaction, and `EXEC` then answers `EXECABORT` and runs nothing.
//! * `EXEC` runs the queue in one go — the broker is single-threaded, so nothing else runs in
//!   between; blocked clients are served after the whole `EXEC`, as after any command. Blocking
//!   commands inside it do not block: with nothing to pop they answer nil at once, as in Redis.
//! * `WATCH` is optimistic locking: if a watched key is written (by anyone, this client
//!   included) before `EXEC`, `EXEC` answers a null array and runs nothing. Writes are recorded
//!   by `Db` only while some key is watched (`Db::touched`), and `service::settle` marks the
//!   watchers after each command.

use bytes::Bytes;

use crate::client::{Client, Multi};
use crate::db::Touch;
use crate::service::{Exec, State};

/// Commands that cannot be queued (they would change the connection under the transaction).
pub fn not_in_multi(name: &str) -> bool {
    matches!(
        name,
        "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe" | "hello" | "auth" | "select"
    )
}

/// Commands that act at once even inside `MULTI` (they control the transaction itself).
pub fn controls_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "unwatch" | "quit" | "reset"
    )
}

pub fn multi(ex: &mut Exec<'_, '_>, _: &[Bytes]) {
    if ex.me.multi.is_some() {
        return ex.me.err("ERR MULTI calls can not be nested");
    }
    ex.me.multi = Some(Multi::default());
    ex.me.ok();
}

pub fn discard(ex: &mut Exec<'_, '_>, _: &[Bytes]) {
    if ex.me.multi.take().is_none() {
        return ex.me.err("ERR DISCARD without MULTI");
    }
    unwatch_all(ex.st, ex.me);
    ex.me.ok();
}

pub fn exec(ex: &mut Exec<'_, '_>, _: &[Bytes]) {
    let Some(multi) = ex.me.multi.take() else {
        return ex.me.err("ERR EXEC without MULTI");
    };
    let dirty = ex.me.watch_dirty;
    unwatch_all(ex.st, ex.me);
    if multi.failed {
        return ex
            .me
            .err("EXECABORT Transaction discarded because of previous errors.");
    }
    if dirty {
        return ex.me.null_array();
    }
    ex.me.array(multi.queued.len());
    ex.me.in_exec = true;
    for cmd in &multi.queued {
        super::dispatch(ex, cmd);
    }
    ex.me.in_exec = false;
}

pub fn watch(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    if ex.me.multi.is_some() {
        return ex.me.err("ERR WATCH inside MULTI is not allowed");
    }
    let db = ex.me.db;
    for key in &args[1..] {
        let entry = (db, key.clone());
        if ex.me.watching.contains(&entry) {
            continue;
        }
        ex.st
            .watchers
            .entry(entry.clone())
            .or_default()
            .push(ex.me.id);
        ex.st.db.watched += 1;
        ex.me.watching.push(entry);
    }
    ex.me.ok();
}

pub fn unwatch(ex: &mut Exec<'_, '_>, _: &[Bytes]) {
    unwatch_all(ex.st, ex.me);
    ex.me.ok();
}

/// Forgets every key `me` watches (after `EXEC`, `DISCARD`, `UNWATCH`, `RESET`, or a close).
pub fn unwatch_all(st: &mut State, me: &mut Client) {
    for entry in me.watching.drain(..) {
        if let Some(ws) = st.watchers.get_mut(&entry) {
            ws.retain(|&c| c != me.id);
            if ws.is_empty() {
                st.watchers.remove(&entry);
            }
        }
        st.db.watched = st.db.watched.saturating_sub(1);
    }
    me.watch_dirty = false;
    if st.db.watched == 0 {
        st.db.touched.clear();
    }
}

/// The clients watching what `touch` wrote.
pub fn watchers_of(st: &State, touch: &Touch) -> Vec<ringloop::net::ConnId> {
    match touch {
        Touch::Key(db, key) => st
            .watchers
            .get(&(*db, key.clone()))
            .cloned()
            .unwrap_or_default(),
        Touch::Db(db) => st
            .watchers
            .iter()
            .filter(|((d, _), _)| d == db)
            .flat_map(|(_, ws)| ws.iter().copied())
            .collect(),
    }
}
