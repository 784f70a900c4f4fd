//! The generic key commands (`DEL`, `EXISTS`, `TYPE`, `KEYS`) and a minimal string type
//! (`GET`, `SET [NX|XX] [GET] [EX|PX|EXAT|PXAT n|KEEPTTL]`), enough for `WRONGTYPE` to mean
//! something, for clients that probe with `SET`/`GET`, and for locks and caches with a TTL.

use bytes::Bytes;
use ringloop::patterns::Glob;

use super::expire::{set_option, SetTtl};
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
    let mut ttl = SetTtl::Clear;
    let mut ttl_given = false;
    let mut i = 3;
    while i < args.len() {
        let opt = &args[i];
        if eq(opt, "nx") && !xx {
            nx = true;
        } else if eq(opt, "xx") && !nx {
            xx = true;
        } else if eq(opt, "get") {
            get = true;
        } else if eq(opt, "keepttl") && !ttl_given {
            ttl = SetTtl::Keep;
            ttl_given = true;
        } else if ["ex", "px", "exat", "pxat"].iter().any(|o| eq(opt, o)) && !ttl_given {
            match set_option(opt, args.get(i + 1), ex.now) {
                Ok(at) => ttl = SetTtl::At(at),
                Err(e) => return ex.me.err(&e),
            }
            ttl_given = true;
            i += 1;
        } else {
            return ex.me.err(SYNTAX);
        }
        i += 1;
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
        let (key, value) = (args[1].clone(), args[2].clone());
        match ttl {
            SetTtl::Clear => ex.st.db.set_string(db, key, value),
            SetTtl::Keep => ex.st.db.set_string_keep_ttl(db, key, value),
            SetTtl::At(at) => {
                ex.st.db.set_string(db, key.clone(), value);
                ex.st.db.set_expiry(db, &key, at, ex.now);
            }
        }
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
