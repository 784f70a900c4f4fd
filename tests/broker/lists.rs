//! Lists as job queues, and the blocking pops.

use std::time::{Duration, Instant};

use crate::harness::{q, q_err, Broker};

pub fn list_commands(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut c = b.conn();
    assert_eq!(q::<i64>(&mut c, &["LPUSH", "q", "a", "b", "c"]), 3);
    assert_eq!(q::<i64>(&mut c, &["RPUSH", "q", "d", "e"]), 5);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "q", "0", "-1"]),
        ["c", "b", "a", "d", "e"]
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "q", "1", "2"]),
        ["b", "a"]
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "q", "-2", "100"]),
        ["d", "e"]
    );
    assert!(q::<Vec<String>>(&mut c, &["LRANGE", "q", "4", "2"]).is_empty());
    assert_eq!(q::<String>(&mut c, &["LINDEX", "q", "0"]), "c");
    assert_eq!(q::<String>(&mut c, &["LINDEX", "q", "-1"]), "e");
    assert_eq!(q::<Option<String>>(&mut c, &["LINDEX", "q", "9"]), None);
    assert_eq!(q::<i64>(&mut c, &["LLEN", "q"]), 5);
    assert_eq!(q::<i64>(&mut c, &["LPUSHX", "nope", "x"]), 0);
    assert_eq!(q::<i64>(&mut c, &["RPUSHX", "nope", "x"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "nope"]), 0);
    assert_eq!(q::<i64>(&mut c, &["LPUSHX", "q", "z"]), 6);
    assert_eq!(q::<i64>(&mut c, &["RPUSHX", "q", "z"]), 7);
    assert_eq!(q::<String>(&mut c, &["LPOP", "q"]), "z");
    assert_eq!(q::<String>(&mut c, &["RPOP", "q"]), "z");
    assert_eq!(q::<Vec<String>>(&mut c, &["LPOP", "q", "2"]), ["c", "b"]);
    assert_eq!(q::<Vec<String>>(&mut c, &["RPOP", "q", "2"]), ["e", "d"]);
    assert!(q::<Vec<String>>(&mut c, &["LPOP", "q", "0"]).is_empty());
    assert_eq!(q::<Vec<String>>(&mut c, &["RPOP", "q", "10"]), ["a"]);
    // Emptied lists stop existing.
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "q"]), 0);
    assert_eq!(q::<Option<String>>(&mut c, &["LPOP", "q"]), None);
    assert_eq!(q::<Option<Vec<String>>>(&mut c, &["LPOP", "q", "3"]), None);
    // LREM from the head, the tail, everywhere.
    q::<i64>(&mut c, &["RPUSH", "r", "x", "y", "x", "z", "x"]);
    assert_eq!(q::<i64>(&mut c, &["LREM", "r", "1", "x"]), 1);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "r", "0", "-1"]),
        ["y", "x", "z", "x"]
    );
    assert_eq!(q::<i64>(&mut c, &["LREM", "r", "-1", "x"]), 1);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "r", "0", "-1"]),
        ["y", "x", "z"]
    );
    assert_eq!(q::<i64>(&mut c, &["LREM", "r", "0", "nope"]), 0);
    assert_eq!(q::<i64>(&mut c, &["RPUSH", "r", "x"]), 4);
    assert_eq!(q::<i64>(&mut c, &["LREM", "r", "0", "x"]), 2);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "r", "0", "-1"]),
        ["y", "z"]
    );
    assert_eq!(q::<i64>(&mut c, &["LREM", "r", "0", "y"]), 1);
    assert_eq!(q::<i64>(&mut c, &["LREM", "r", "0", "z"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "r"]), 0);
}

pub fn list_moves_and_wrongtype(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut c = b.conn();
    q::<i64>(&mut c, &["RPUSH", "src", "1", "2", "3"]);
    assert_eq!(
        q::<String>(&mut c, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]),
        "1"
    );
    assert_eq!(q::<String>(&mut c, &["RPOPLPUSH", "src", "dst"]), "3");
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "dst", "0", "-1"]),
        ["3", "1"]
    );
    // Rotation within one list.
    assert_eq!(
        q::<String>(&mut c, &["LMOVE", "dst", "dst", "LEFT", "RIGHT"]),
        "3"
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "dst", "0", "-1"]),
        ["1", "3"]
    );
    assert_eq!(
        q::<Option<String>>(&mut c, &["LMOVE", "none", "dst", "LEFT", "LEFT"]),
        None
    );
    q::<String>(&mut c, &["SET", "str", "v"]);
    let wt = "WRONGTYPE Operation against a key holding the wrong kind of value";
    for cmd in [
        &["LPUSH", "str", "x"][..],
        &["RPOP", "str"],
        &["LLEN", "str"],
        &["LRANGE", "str", "0", "1"],
        &["LINDEX", "str", "0"],
        &["LREM", "str", "0", "x"],
        &["LMOVE", "src", "str", "LEFT", "LEFT"],
        &["LMOVE", "str", "src", "LEFT", "LEFT"],
        &["BLPOP", "str", "0"],
        &["BLMOVE", "src", "str", "LEFT", "LEFT", "0"],
    ] {
        assert_eq!(q_err(&mut c, cmd), wt, "{cmd:?}");
    }
    assert_eq!(q::<String>(&mut c, &["GET", "str"]), "v");
    assert_eq!(q_err(&mut c, &["GET", "dst"]), wt);
    // Nothing was popped by the failed moves.
    assert_eq!(q::<i64>(&mut c, &["LLEN", "src"]), 1);
}

pub fn blocking_timeouts(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut c = b.conn();
    for (cmd, args) in [
        ("BLPOP", &["q1", "q2", "0.2"][..]),
        ("BRPOP", &["q1", "0.2"]),
        ("BLMOVE", &["q1", "d", "LEFT", "RIGHT", "0.2"]),
        ("BRPOPLPUSH", &["q1", "d", "0.2"]),
    ] {
        let mut full = vec![cmd];
        full.extend_from_slice(args);
        let t = Instant::now();
        let v: redis::Value = q(&mut c, &full);
        let took = t.elapsed();
        assert_eq!(v, redis::Value::Nil, "{cmd}");
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_secs(2),
            "{cmd} took {took:?}"
        );
    }
    // Something already there: no waiting at all.
    q::<i64>(&mut c, &["RPUSH", "q2", "x"]);
    let got: (String, String) = q(&mut c, &["BLPOP", "q1", "q2", "5"]);
    assert_eq!(got, ("q2".into(), "x".into()));
    assert_eq!(b.info_field(&mut c, "blocked_clients"), 0);
}

/// Blocks `n` clients on `key`, in order (each is seen blocked before the next starts).
fn block_clients(
    b: &Broker,
    cmd: &'static [&'static str],
    n: usize,
) -> Vec<std::thread::JoinHandle<redis::Value>> {
    let mut admin = b.conn();
    let base = b.info_field(&mut admin, "blocked_clients");
    (0..n)
        .map(|i| {
            let mut c = b.conn();
            let h = std::thread::spawn(move || q::<redis::Value>(&mut c, cmd));
            b.wait_info(&mut admin, "blocked_clients", base + i as u64 + 1);
            h
        })
        .collect()
}

fn bulk(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::Array(a) if a.len() == 2 => bulk(&a[1]),
        other => panic!("not a bulk: {other:?}"),
    }
}

pub fn blocking_fifo_across_clients(backend: &str) {
    let b = Broker::start(backend, &[]);
    let waiters = block_clients(&b, &["BLPOP", "jobs", "0"], 4);
    let mut c = b.conn();
    // One push of four jobs: the first client to block gets the first job, and so on.
    assert_eq!(
        q::<i64>(&mut c, &["RPUSH", "jobs", "j1", "j2", "j3", "j4"]),
        4
    );
    let got: Vec<String> = waiters
        .into_iter()
        .map(|h| bulk(&h.join().unwrap()))
        .collect();
    assert_eq!(got, ["j1", "j2", "j3", "j4"]);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "jobs"]), 0);
    // BRPOP takes from the tail; a client waiting on two keys is served by either.
    let waiters = block_clients(&b, &["BRPOP", "a", "b", "0"], 2);
    q::<i64>(&mut c, &["RPUSH", "b", "b1", "b2"]);
    let got: Vec<redis::Value> = waiters.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        got[0],
        redis::Value::Array(vec![
            redis::Value::BulkString(b"b".to_vec()),
            redis::Value::BulkString(b"b2".to_vec())
        ])
    );
    assert_eq!(bulk(&got[1]), "b1");
    assert_eq!(b.info_field(&mut c, "blocked_clients"), 0);
}

pub fn blocked_served_after_pushing_command(backend: &str) {
    let b = Broker::start(backend, &[]);
    let waiter = block_clients(&b, &["BLPOP", "q", "0"], 1);
    let mut c = b.conn();
    // The push completes (and replies 2) before the blocked client takes its element, which
    // happens before the next command runs.
    let mut p = redis::pipe();
    p.cmd("RPUSH")
        .arg("q")
        .arg("a")
        .arg("b")
        .cmd("LLEN")
        .arg("q");
    let (pushed, len): (i64, i64) = p.query(&mut c).unwrap();
    assert_eq!((pushed, len), (2, 1));
    assert_eq!(
        bulk(&waiter.into_iter().next().unwrap().join().unwrap()),
        "a"
    );
}

pub fn blocking_moves(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mover = block_clients(&b, &["BLMOVE", "in", "out", "RIGHT", "LEFT", "0"], 1);
    // A client blocked on the destination is served by the moved element.
    let popper = block_clients(&b, &["BLPOP", "out", "0"], 1);
    let mut c = b.conn();
    q::<i64>(&mut c, &["RPUSH", "in", "x", "y"]);
    assert_eq!(
        bulk(&mover.into_iter().next().unwrap().join().unwrap()),
        "y"
    );
    let got = popper.into_iter().next().unwrap().join().unwrap();
    assert_eq!(bulk(&got), "y");
    assert_eq!(q::<i64>(&mut c, &["LLEN", "out"]), 0);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "in", "0", "-1"]),
        ["x"]
    );
    let mover = block_clients(&b, &["BRPOPLPUSH", "in2", "out2", "0"], 1);
    q::<i64>(&mut c, &["LPUSH", "in2", "z"]);
    assert_eq!(
        bulk(&mover.into_iter().next().unwrap().join().unwrap()),
        "z"
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "out2", "0", "-1"]),
        ["z"]
    );
}

pub fn blocked_client_resumes_pipeline(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut raw = b.raw();
    raw.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\nPING\r\nECHO hi\r\n");
    let mut c = b.conn();
    b.wait_info(&mut c, "blocked_clients", 1);
    // Nothing for the blocked client, not even the PING behind the BLPOP.
    assert!(raw.silent_for(Duration::from_millis(100)));
    q::<i64>(&mut c, &["RPUSH", "q", "job"]);
    raw.expect(b"*2\r\n$1\r\nq\r\n$3\r\njob\r\n+PONG\r\n$2\r\nhi\r\n");
}

pub fn disconnect_while_blocked_leaves_no_trace(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut c = b.conn();
    {
        let mut raw = b.raw();
        raw.cmd(&[b"BLPOP", b"q", b"0"]);
        b.wait_info(&mut c, "blocked_clients", 1);
        let mut raw2 = b.raw();
        raw2.cmd(&[b"BRPOPLPUSH", b"q", b"d", b"0"]);
        b.wait_info(&mut c, "blocked_clients", 2);
    }
    b.wait_info(&mut c, "blocked_clients", 0);
    b.wait_info(&mut c, "connected_clients", 1);
    assert_eq!(q::<i64>(&mut c, &["RPUSH", "q", "kept"]), 1);
    assert_eq!(q::<i64>(&mut c, &["LLEN", "q"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "d"]), 0);
    // The next client to block is served normally.
    assert_eq!(
        q::<(String, String)>(&mut c, &["BLPOP", "q", "1"]).1,
        "kept"
    );
}
