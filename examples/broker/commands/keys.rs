//! The generic key commands (`DEL`, `EXISTS`, `TYPE`, `KEYS`) and a minimal string type
//! (`GET`, `SET [NX|XX] [GET]`), enough for `WRONGTYPE` to mean something and for clients that
//! probe with `SET`/`GET`.

use bytes::Bytes;
use ringloop::patterns::Glob;

use super::{eq, SYNTAX, WRONGTYPE};
use crate::db::Entry;
use crate::service::Exec;

pub fn del(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let db = ex.me.db;
    let n = args[1..].iter().filter(|k| ex.st.db.remove(db, k)).count();
    ex.me.int(n as i64);
}

pub fn exists(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let db = ex.me.db;
    // Repeated keys count each time, as in Redis.
    let n = args[1..]
        .iter()
        .filter(|k| ex.st.db.get(db, k).is_some())
        .count();
    ex.me.int(n as i64);
}

pub fn type_(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let t = match ex.st.db.get(ex.me.db, &args[1]) {
        None => "none",
        Some(Entry::Str(_)) => "string",
        Some(Entry::List) => "list",
    };
    ex.me.simple(t);
}

pub fn keys(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let glob = Glob::new(&args[1]);
    let mut keys: Vec<Bytes> = ex.st.db.keys[ex.me.db]
        .keys()
        .filter(|k| glob.matches(k))
        .cloned()
        .collect();
    keys.sort();
    ex.me.array(keys.len());
    for k in keys {
        ex.me.bulk(&k);
    }
}

pub fn get(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    match ex.st.db.get(ex.me.db, &args[1]) {
        None => ex.me.null(),
        Some(Entry::Str(v)) => {
            let v = v.clone();
            ex.me.bulk(&v);
        }
        Some(Entry::List) => ex.me.err(WRONGTYPE),
    }
}

pub fn set(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let (mut nx, mut xx, mut get) = (false, false, false);
    for opt in &args[3..] {
        if eq(opt, "nx") && !xx {
            nx = true;
        } else if eq(opt, "xx") && !nx {
            xx = true;
        } else if eq(opt, "get") {
            get = true;
        } else {
            // Expiry options (EX, PX, ...) are not supported: keys here never expire.
            return ex.me.err(SYNTAX);
        }
    }
    let db = ex.me.db;
    let old = ex.st.db.get(db, &args[1]).cloned();
    if get {
        if let Some(Entry::List) = old {
            return ex.me.err(WRONGTYPE);
        }
    }
    let apply = !((nx && old.is_some()) || (xx && old.is_none()));
    if apply {
        ex.st.db.set_string(db, args[1].clone(), args[2].clone());
    }
    if get {
        match old {
            Some(Entry::Str(v)) => ex.me.bulk(&v),
            _ => ex.me.null(),
        }
    } else if apply {
        ex.me.ok();
    } else {
        ex.me.null();
    }
}
