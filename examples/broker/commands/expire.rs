//! Key expiry: `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` (with `NX|XX|GT|LT`), `TTL`, `PTTL`,
//! `EXPIRETIME`, `PEXPIRETIME`, `PERSIST`, and the `SET` options that carry a TTL.
//!
//! Deadlines live in `Db` (a map per database plus a min-heap); `Db::expire_due` runs before
//! every command, so no command ever sees an expired key, and the broker's once-a-second cron
//! removes keys nobody asks about. Absolute times (`EXPIREAT`, `EXAT`) are converted to the
//! monotonic clock once, when the command runs: later wall-clock jumps do not move them.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::{eq, parse_int, NOT_INTEGER, SYNTAX};
use crate::service::Exec;

/// Redis refuses deadlines this far out (they would overflow its millisecond arithmetic).
const MAX_MS: i64 = i64::MAX / 2;

/// Milliseconds since the Unix epoch now.
fn unix_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The monotonic instant of a Unix time in ms (clamped to `now` if already past).
fn instant_of_unix_ms(ms: i64, now: Instant) -> Instant {
    let delta = ms.saturating_sub(unix_ms_now());
    if delta <= 0 {
        now
    } else {
        now + Duration::from_millis(delta as u64)
    }
}

/// The Unix time in ms of an instant.
fn unix_ms_of(at: Instant, now: Instant) -> i64 {
    unix_ms_now() + at.saturating_duration_since(now).as_millis() as i64
}

/// How an `EXPIRE`-family amount is read.
#[derive(Clone, Copy)]
enum Unit {
    RelSecs,
    RelMs,
    AbsSecs,
    AbsMs,
}

/// The deadline of `amount` in `unit`, or `None` if it is out of range (`ERR invalid expire
/// time in '...' command`).
fn deadline(amount: i64, unit: Unit, now: Instant) -> Option<Instant> {
    let ms = match unit {
        Unit::RelSecs | Unit::AbsSecs => amount.checked_mul(1000)?,
        Unit::RelMs | Unit::AbsMs => amount,
    };
    if ms.unsigned_abs() > MAX_MS as u64 {
        return None;
    }
    Some(match unit {
        Unit::RelSecs | Unit::RelMs if ms <= 0 => now,
        Unit::RelSecs | Unit::RelMs => now + Duration::from_millis(ms as u64),
        Unit::AbsSecs | Unit::AbsMs => instant_of_unix_ms(ms, now),
    })
}

fn expire_generic(ex: &mut Exec<'_, '_>, args: &[Bytes], unit: Unit, name: &str) {
    let Some(amount) = parse_int(&args[2]) else {
        return ex.me.err(NOT_INTEGER);
    };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[3..] {
        match () {
            _ if eq(opt, "nx") => nx = true,
            _ if eq(opt, "xx") => xx = true,
            _ if eq(opt, "gt") => gt = true,
            _ if eq(opt, "lt") => lt = true,
            _ => {
                return ex
                    .me
                    .err(&format!("ERR Unsupported option {}", super::text(opt)))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return ex
            .me
            .err("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return ex
            .me
            .err("ERR GT and LT options at the same time are not compatible");
    }
    let Some(at) = deadline(amount, unit, ex.now) else {
        return ex
            .me
            .err(&format!("ERR invalid expire time in '{name}' command"));
    };
    let db = ex.me.db;
    let key = &args[1];
    if ex.st.db.get(db, key).is_none() {
        return ex.me.int(0);
    }
    let current = ex.st.db.expiry(db, key);
    // No TTL counts as an infinite one for GT and LT, as in Redis.
    let allowed = match current {
        Some(cur) => {
            let refused = nx || (gt && at <= cur) || (lt && at >= cur);
            !refused
        }
        None => !xx && !gt,
    };
    if !allowed {
        return ex.me.int(0);
    }
    ex.st.db.set_expiry(db, key, at, ex.now);
    ex.me.int(1);
}

pub fn expire(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    expire_generic(ex, args, Unit::RelSecs, "expire");
}

pub fn pexpire(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    expire_generic(ex, args, Unit::RelMs, "pexpire");
}

pub fn expireat(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    expire_generic(ex, args, Unit::AbsSecs, "expireat");
}

pub fn pexpireat(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    expire_generic(ex, args, Unit::AbsMs, "pexpireat");
}

/// -2 for a missing key, -1 for a key without TTL, else what `f` makes of the deadline.
fn ttl_generic(ex: &mut Exec<'_, '_>, key: &[u8], f: impl Fn(Instant, Instant) -> i64) {
    let db = ex.me.db;
    if ex.st.db.get(db, key).is_none() {
        return ex.me.int(-2);
    }
    match ex.st.db.expiry(db, key) {
        None => ex.me.int(-1),
        Some(at) => {
            let v = f(at, ex.now);
            ex.me.int(v)
        }
    }
}

pub fn ttl(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    // Redis rounds to the nearest second.
    ttl_generic(ex, &args[1], |at, now| {
        (at.saturating_duration_since(now).as_millis() as i64 + 500) / 1000
    });
}

pub fn pttl(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    ttl_generic(ex, &args[1], |at, now| {
        at.saturating_duration_since(now).as_millis() as i64
    });
}

pub fn expiretime(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    ttl_generic(ex, &args[1], |at, now| unix_ms_of(at, now) / 1000);
}

pub fn pexpiretime(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    ttl_generic(ex, &args[1], unix_ms_of);
}

pub fn persist(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let db = ex.me.db;
    let had = ex.st.db.get(db, &args[1]).is_some() && ex.st.db.persist(db, &args[1]);
    ex.me.int(i64::from(had));
}

/// A TTL option of `SET`.
pub enum SetTtl {
    /// None given: the new value has no TTL.
    Clear,
    /// `KEEPTTL`.
    Keep,
    /// `EX`, `PX`, `EXAT`, `PXAT`.
    At(Instant),
}

/// Parses `SET`'s `EX|PX|EXAT|PXAT n` (at `args[i]`, `args[i + 1]`); `Err` has the error text.
pub fn set_option(opt: &[u8], value: Option<&Bytes>, now: Instant) -> Result<Instant, String> {
    let unit = match () {
        _ if eq(opt, "ex") => Unit::RelSecs,
        _ if eq(opt, "px") => Unit::RelMs,
        _ if eq(opt, "exat") => Unit::AbsSecs,
        _ if eq(opt, "pxat") => Unit::AbsMs,
        _ => return Err(SYNTAX.into()),
    };
    let value = value.ok_or_else(|| SYNTAX.to_string())?;
    let n = parse_int(value).ok_or_else(|| NOT_INTEGER.to_string())?;
    if n <= 0 {
        return Err("ERR invalid expire time in 'set' command".into());
    }
    deadline(n, unit, now).ok_or_else(|| "ERR invalid expire time in 'set' command".into())
}
