//! `MULTI` / `EXEC` / `DISCARD` / `WATCH`: through the `redis` crate's atomic pipelines and
//! `transaction` helper (what applications use), and byte-exact over a raw socket.

use crate::harness::{q, q_err, Broker};

pub fn multi_exec_through_the_redis_crate(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut con = b.conn();
    // An atomic pipeline is MULTI … EXEC; its replies come back as one array.
    let (len, popped, items): (i64, String, Vec<String>) = redis::pipe()
        .atomic()
        .cmd("RPUSH")
        .arg("q")
        .arg("a")
        .arg("b")
        .arg("c")
        .cmd("LPOP")
        .arg("q")
        .cmd("LRANGE")
        .arg("q")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!((len, popped.as_str()), (3, "a"));
    assert_eq!(items, ["b", "c"]);

    // The crate's optimistic-locking helper: WATCH, read, MULTI, write, EXEC, retried on
    // conflict. Here nobody interferes, so it commits the first time.
    let _: () = q(&mut con, &["SET", "counter", "41"]);
    let new: (i64,) = redis::transaction(&mut con, &["counter"], |con, pipe| {
        let v: i64 = redis::cmd("GET").arg("counter").query(con)?;
        pipe.cmd("SET")
            .arg("counter")
            .arg(v + 1)
            .ignore()
            .cmd("GET")
            .arg("counter")
            .query(con)
    })
    .unwrap();
    assert_eq!(new.0, 42);

    // A blocking pop inside a transaction answers nil at once instead of waiting.
    let r: (Option<(String, String)>,) = redis::pipe()
        .atomic()
        .cmd("BLPOP")
        .arg("empty")
        .arg(0)
        .query(&mut con)
        .unwrap();
    assert_eq!(r.0, None);
}

pub fn multi_exec_rules(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut raw = b.raw();
    raw.roundtrip(&[b"EXEC"], b"-ERR EXEC without MULTI\r\n");
    raw.roundtrip(&[b"DISCARD"], b"-ERR DISCARD without MULTI\r\n");
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"MULTI"], b"-ERR MULTI calls can not be nested\r\n");
    raw.roundtrip(&[b"SET", b"k", b"v"], b"+QUEUED\r\n");
    raw.roundtrip(
        &[b"WATCH", b"k"],
        b"-ERR WATCH inside MULTI is not allowed\r\n",
    );
    raw.roundtrip(&[b"GET", b"k"], b"+QUEUED\r\n");
    raw.roundtrip(&[b"EXEC"], b"*2\r\n+OK\r\n$1\r\nv\r\n");
    // A queueing error aborts the whole transaction.
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"k", b"w"], b"+QUEUED\r\n");
    raw.roundtrip(
        &[b"NOSUCH"],
        b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n",
    );
    raw.roundtrip(
        &[b"GET"],
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
    raw.roundtrip(
        &[b"EXEC"],
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    raw.roundtrip(&[b"GET", b"k"], b"$1\r\nv\r\n");
    // Runtime errors do not abort: each command gets its own reply.
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"LPUSH", b"k", b"x"], b"+QUEUED\r\n");
    raw.roundtrip(&[b"SET", b"k", b"z"], b"+QUEUED\r\n");
    raw.roundtrip(
        &[b"EXEC"],
        b"*2\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n+OK\r\n",
    );
    // DISCARD drops the queue; SUBSCRIBE cannot be queued.
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"k", b"never"], b"+QUEUED\r\n");
    raw.roundtrip(
        &[b"SUBSCRIBE", b"c"],
        b"-ERR Command not allowed inside a transaction\r\n",
    );
    raw.roundtrip(&[b"DISCARD"], b"+OK\r\n");
    raw.roundtrip(&[b"GET", b"k"], b"$1\r\nz\r\n");
}

pub fn watch_aborts_on_a_concurrent_write(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut a = b.conn();
    let mut other = b.conn();
    let _: () = q(&mut a, &["SET", "k", "1"]);
    let _: () = q(&mut a, &["WATCH", "k", "jobs"]);
    // Another client writes a watched key: the EXEC runs nothing and answers nil.
    let _: i64 = q(&mut other, &["LPUSH", "jobs", "x"]);
    let _: () = q(&mut a, &["MULTI"]);
    let _: String = q(&mut a, &["SET", "k", "2"]);
    let r: Option<Vec<String>> = q(&mut a, &["EXEC"]);
    assert_eq!(r, None);
    let v: String = q(&mut a, &["GET", "k"]);
    assert_eq!(v, "1");
    // EXEC cleared the watch: the next transaction commits.
    let _: () = q(&mut a, &["MULTI"]);
    let _: String = q(&mut a, &["SET", "k", "3"]);
    let r: Option<Vec<String>> = q(&mut a, &["EXEC"]);
    assert_eq!(r, Some(vec!["OK".to_string()]));
    // FLUSHDB touches every key; UNWATCH forgets.
    let _: () = q(&mut a, &["WATCH", "k"]);
    let _: () = q(&mut other, &["FLUSHDB"]);
    let _: () = q(&mut a, &["MULTI"]);
    let r: Option<Vec<String>> = q(&mut a, &["EXEC"]);
    assert_eq!(r, None);
    let _: () = q(&mut a, &["WATCH", "k"]);
    let _: () = q(&mut a, &["UNWATCH"]);
    let _: () = q(&mut other, &["SET", "k", "9"]);
    let _: () = q(&mut a, &["MULTI"]);
    let r: Option<Vec<String>> = q(&mut a, &["EXEC"]);
    assert_eq!(r, Some(vec![]));
    // A watch on another database's key is not touched by this one.
    let _: () = q(&mut a, &["WATCH", "k"]);
    let _: () = q(&mut other, &["SELECT", "1"]);
    let _: () = q(&mut other, &["SET", "k", "elsewhere"]);
    let _: () = q(&mut a, &["MULTI"]);
    let _: String = q(&mut a, &["GET", "k"]);
    let r: Option<Vec<String>> = q(&mut a, &["EXEC"]);
    assert_eq!(r, Some(vec!["9".to_string()]));
    assert!(q_err(&mut a, &["EXEC"]).contains("EXEC without MULTI"));
}
