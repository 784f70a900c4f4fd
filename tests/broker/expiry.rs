//! Key expiry: the `EXPIRE` family, `TTL`/`PTTL`, `PERSIST`, `SET EX/PX/EXAT/PXAT/KEEPTTL`, and
//! keys vanishing on time (on access and in the background) — through the `redis` crate.

use std::time::Duration;

use crate::harness::{q, q_err, Broker};

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn expire_ttl_and_persist(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut con = b.conn();
    let _: () = q(&mut con, &["SET", "k", "v"]);
    assert_eq!(q::<i64>(&mut con, &["TTL", "k"]), -1);
    assert_eq!(q::<i64>(&mut con, &["TTL", "missing"]), -2);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "missing", "10"]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "100"]), 1);
    assert_eq!(q::<i64>(&mut con, &["TTL", "k"]), 100);
    let pttl: i64 = q(&mut con, &["PTTL", "k"]);
    assert!((99_000..=100_000).contains(&pttl), "{pttl}");
    // NX/XX/GT/LT.
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "50", "NX"]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "50", "GT"]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "50", "LT"]), 1);
    assert_eq!(q::<i64>(&mut con, &["TTL", "k"]), 50);
    assert!(q_err(&mut con, &["EXPIRE", "k", "5", "NX", "XX"]).contains("not compatible"));
    assert!(q_err(&mut con, &["EXPIRE", "k", "soon"]).contains("not an integer"));
    // PERSIST, and SET clears the TTL while KEEPTTL keeps it.
    assert_eq!(q::<i64>(&mut con, &["PERSIST", "k"]), 1);
    assert_eq!(q::<i64>(&mut con, &["PERSIST", "k"]), 0);
    assert_eq!(q::<i64>(&mut con, &["TTL", "k"]), -1);
    let _: () = q(&mut con, &["SET", "k", "v", "EX", "30"]);
    assert_eq!(q::<i64>(&mut con, &["TTL", "k"]), 30);
    let _: () = q(&mut con, &["SET", "k", "w", "KEEPTTL"]);
    assert_eq!(q::<i64>(&mut con, &["TTL", "k"]), 30);
    let _: () = q(&mut con, &["SET", "k", "x"]);
    assert_eq!(q::<i64>(&mut con, &["TTL", "k"]), -1);
    assert!(q_err(&mut con, &["SET", "k", "v", "EX", "0"]).contains("invalid expire time"));
    assert!(q_err(&mut con, &["SET", "k", "v", "EX", "1", "PX", "5"]).contains("syntax"));
    // Absolute times.
    let at = unix_now() + 1000;
    assert_eq!(q::<i64>(&mut con, &["EXPIREAT", "k", &at.to_string()]), 1);
    let t: i64 = q(&mut con, &["EXPIRETIME", "k"]);
    assert!((at - 1..=at + 1).contains(&t), "{t} vs {at}");
    let _: () = q(
        &mut con,
        &["SET", "k2", "v", "PXAT", &((at + 5) * 1000).to_string()],
    );
    let pt: i64 = q(&mut con, &["PEXPIRETIME", "k2"]);
    assert!(((at + 4) * 1000..=(at + 6) * 1000).contains(&pt), "{pt}");
    // A deadline already past removes the key at once.
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k2", "-1"]), 1);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "k2"]), 0);
    // Lists keep their TTL through pushes and LREM, and lose it when emptied.
    let _: i64 = q(&mut con, &["RPUSH", "l", "a", "b", "a"]);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "l", "60"]), 1);
    let _: i64 = q(&mut con, &["RPUSH", "l", "c"]);
    let _: i64 = q(&mut con, &["LREM", "l", "0", "a"]);
    assert_eq!(q::<i64>(&mut con, &["TTL", "l"]), 60);
    let _: Vec<String> = q(&mut con, &["LPOP", "l", "10"]);
    assert_eq!(q::<i64>(&mut con, &["TTL", "l"]), -2);
    let _: i64 = q(&mut con, &["RPUSH", "l", "new"]);
    assert_eq!(q::<i64>(&mut con, &["TTL", "l"]), -1);
}

pub fn keys_expire_on_time(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut con = b.conn();
    let _: () = q(&mut con, &["SET", "lock", "me", "PX", "150", "NX"]);
    // A lock held with a TTL: a second SET NX fails until it expires.
    let again: Option<String> = redis::cmd("SET")
        .arg("lock")
        .arg("other")
        .arg("PX")
        .arg(150)
        .arg("NX")
        .query(&mut con)
        .unwrap();
    assert_eq!(again, None);
    let _: i64 = q(&mut con, &["RPUSH", "jobs", "a"]);
    assert_eq!(q::<i64>(&mut con, &["PEXPIRE", "jobs", "150"]), 1);
    std::thread::sleep(Duration::from_millis(250));
    // Gone on access...
    let v: Option<String> = q(&mut con, &["GET", "lock"]);
    assert_eq!(v, None);
    assert_eq!(q::<i64>(&mut con, &["LLEN", "jobs"]), 0);
    let _: () = q(&mut con, &["SET", "lock", "other", "NX"]);
    // ... and in the background, with nobody asking (the once-a-second sweep).
    for i in 0..50 {
        let _: () = q(&mut con, &["SET", &format!("tmp{i}"), "v", "PX", "100"]);
    }
    let info = |con: &mut redis::Connection| -> String { q(con, &["INFO", "keyspace"]) };
    assert!(info(&mut con).contains("expires=50"), "{}", info(&mut con));
    // The sweep runs once a second: two seconds leave room for a loaded machine.
    std::thread::sleep(Duration::from_millis(2000));
    let n = b.info_field(&mut con, "expired_keys");
    assert!(n >= 52, "expired_keys {n}");
    assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 1);
}
