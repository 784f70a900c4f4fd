//! RESP mode: clients get through the sidecar what they get from the upstream directly — plain
//! commands, pipelines, RESP3, databases, connection commands, pub/sub and blocking pops — and a
//! thousand of them share a handful of upstream connections.

use std::time::{Duration, Instant};

use redis::{PushKind, Value};

use crate::harness::{
    eventually, q, q_err, qv, raise_fd_limit, upstream_info, Proc, Raw, READ_TIMEOUT,
};

/// Commands whose replies are compared, direct against through the sidecar.
const SCRIPT: &[&[&str]] = &[
    &["SET", "k", "v"],
    &["GET", "k"],
    &["GET", "missing"],
    &["EXISTS", "k", "missing"],
    &["TYPE", "k"],
    &["RPUSH", "l", "a", "b", "c"],
    &["LPUSH", "l", "z"],
    &["LRANGE", "l", "0", "-1"],
    &["LLEN", "l"],
    &["LPOP", "l"],
    &["RPOP", "l"],
    &["LINDEX", "l", "0"],
    &["LMOVE", "l", "l2", "LEFT", "RIGHT"],
    &["RPOPLPUSH", "l", "l2"],
    &["LRANGE", "l2", "0", "-1"],
    &["GET", "l2"],
    &["DEL", "k", "nothing"],
    &["DBSIZE"],
    &["ECHO", "hi"],
    &["PING"],
    &["CONFIG", "GET", "maxclients"],
    &["NOSUCHCOMMAND", "x"],
    &["SET", "k"],
    &["BLPOP", "l2", "1"],
    &["BRPOP", "empty", "0.1"],
];

fn run_script(con: &mut redis::Connection) -> Vec<Result<Value, String>> {
    q::<String>(con, &["FLUSHALL"]);
    SCRIPT.iter().map(|args| qv(con, args)).collect()
}

pub fn same_results_as_direct(backend: &str) {
    let up = Proc::broker(0);
    let sc = Proc::sidecar(backend, up.addr, &[]);
    let direct = run_script(&mut up.conn());
    let proxied = run_script(&mut sc.conn());
    assert_eq!(proxied, direct);
    // And for a RESP3 client (maps, nulls and doubles look different there).
    let direct3 = run_script(&mut up.resp3());
    let proxied3 = run_script(&mut sc.resp3());
    assert_eq!(proxied3, direct3);
    assert_ne!(direct3, direct, "RESP3 replies differ from RESP2 ones");
}

pub fn pipelining_and_demultiplexing(backend: &str) {
    let up = Proc::broker(0);
    let sc = Proc::sidecar(backend, up.addr, &[]);
    let mut con = sc.conn();
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("SET").arg(format!("k{i}")).arg(i);
    }
    for i in 0..500 {
        pipe.cmd("GET").arg(format!("k{i}"));
    }
    let replies: Vec<Value> = pipe.query(&mut con).unwrap();
    assert_eq!(replies.len(), 1000);
    for (i, v) in replies[500..].iter().enumerate() {
        assert_eq!(*v, Value::BulkString(i.to_string().into_bytes()));
    }
    // Eight clients pipelining at once over the shared connections: each gets its own replies,
    // in its own order.
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let url = sc.url();
            std::thread::spawn(move || {
                let mut con = crate::harness::connect(&url);
                let mut pipe = redis::pipe();
                for i in 0..200 {
                    pipe.cmd("RPUSH").arg(format!("list{t}")).arg(i);
                }
                let lens: Vec<i64> = pipe.query(&mut con).unwrap();
                assert_eq!(lens, (1..=200).collect::<Vec<i64>>());
                let items: Vec<i64> = q(&mut con, &["LRANGE", &format!("list{t}"), "0", "-1"]);
                assert_eq!(items, (0..200).collect::<Vec<i64>>());
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

pub fn resp3_lanes(backend: &str) {
    let up = Proc::broker(0);
    let sc = Proc::sidecar(backend, up.addr, &[]);
    let mut r3 = sc.raw();
    let mut r2 = sc.raw();
    r3.cmd(&[b"HELLO", b"3"]);
    let hello = r3.reply();
    assert!(
        hello.starts_with("%7\r\n"),
        "HELLO 3 answers a RESP3 map: {hello}"
    );
    assert!(hello.contains("$5\r\nproto\r\n:3\r\n"), "{hello}");
    // Same command, both clients at once, each in its own protocol.
    r3.cmd(&[b"GET", b"missing"]);
    r2.cmd(&[b"GET", b"missing"]);
    assert_eq!(r3.reply(), "_\r\n");
    assert_eq!(r2.reply(), "$-1\r\n");
    r3.cmd(&[b"CONFIG", b"GET", b"maxclients"]);
    r2.cmd(&[b"CONFIG", b"GET", b"maxclients"]);
    assert_eq!(r3.reply(), "%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n");
    assert_eq!(r2.reply(), "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n");
    // A refused switch changes nothing.
    r3.cmd(&[b"HELLO", b"4"]);
    assert_eq!(r3.reply(), "-NOPROTO unsupported protocol version\r\n");
    r3.cmd(&[b"GET", b"missing"]);
    assert_eq!(r3.reply(), "_\r\n");
    // HELLO 2 goes back.
    r3.cmd(&[b"HELLO", b"2"]);
    assert!(r3.reply().starts_with("*14\r\n"));
    r3.cmd(&[b"GET", b"missing"]);
    assert_eq!(r3.reply(), "$-1\r\n");
    // Pipelined right behind HELLO: the GET waits for the switch and is answered in RESP3.
    let mut p = sc.raw();
    p.send(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n");
    assert!(p.reply().starts_with("%7\r\n"));
    assert_eq!(p.reply(), "_\r\n");
    // The redis crate's RESP3 mode (HELLO 3 at connect, as redis-py 8 does).
    let mut c = sc.resp3();
    assert_eq!(q::<Option<String>>(&mut c, &["GET", "missing"]), None);
    let v: Value = q(&mut c, &["CONFIG", "GET", "maxclients"]);
    assert!(matches!(v, Value::Map(_)), "{v:?}");
    let v: Value = q(&mut sc.conn(), &["CONFIG", "GET", "maxclients"]);
    assert!(matches!(v, Value::Array(_)), "{v:?}");
}

pub fn select_and_client_state(backend: &str) {
    let up = Proc::broker(0);
    let sc = Proc::sidecar(backend, up.addr, &[]);
    let mut a = sc.conn();
    let mut b = sc.conn();
    assert_eq!(q::<String>(&mut a, &["SELECT", "2"]), "OK");
    q::<String>(&mut a, &["SET", "k", "in-two"]);
    q::<String>(&mut b, &["SET", "k", "in-zero"]);
    assert_eq!(q::<String>(&mut a, &["GET", "k"]), "in-two");
    assert_eq!(q::<String>(&mut b, &["GET", "k"]), "in-zero");
    let mut direct = up.conn();
    q::<String>(&mut direct, &["SELECT", "2"]);
    assert_eq!(q::<String>(&mut direct, &["GET", "k"]), "in-two");
    // A bad index: the upstream's own error, and the client stays where it was.
    assert_eq!(
        q_err(&mut a, &["SELECT", "99"]),
        q_err(&mut direct, &["SELECT", "99"])
    );
    assert_eq!(q::<String>(&mut a, &["GET", "k"]), "in-two");
    // Pipelined switches are applied in order.
    let mut raw = sc.raw();
    raw.send(b"SELECT 3\r\nSET x 1\r\nGET x\r\nSELECT 0\r\nGET x\r\n");
    raw.expect(b"+OK\r\n+OK\r\n$1\r\n1\r\n+OK\r\n$-1\r\n");
    // Connection commands are about the client's own connection: answered by the sidecar.
    assert_eq!(
        q::<String>(&mut a, &["CLIENT", "SETINFO", "lib-name", "x"]),
        "OK"
    );
    assert_eq!(q::<Option<String>>(&mut a, &["CLIENT", "GETNAME"]), None);
    assert_eq!(q::<String>(&mut a, &["CLIENT", "SETNAME", "alice"]), "OK");
    assert_eq!(q::<String>(&mut a, &["CLIENT", "GETNAME"]), "alice");
    assert_eq!(q::<Option<String>>(&mut b, &["CLIENT", "GETNAME"]), None);
    assert!(q_err(&mut a, &["CLIENT", "SETNAME", "a b"]).contains("cannot contain spaces"));
    let _: i64 = q(&mut a, &["CLIENT", "ID"]);
    // Refused, with a reason.
    assert!(q_err(&mut a, &["AUTH", "pw"]).contains("not supported through the sidecar"));
    assert!(q_err(&mut a, &["CLIENT", "REPLY", "OFF"]).contains("not supported"));
    // A transaction runs on a dedicated connection: the same answers as direct.
    let tx: &[&[&str]] = &[
        &["MULTI"],
        &["SET", "t", "1"],
        &["GET", "t"],
        &["EXEC"],
        &["EXEC"],
        &["GET", "t"],
    ];
    q::<String>(&mut direct, &["SELECT", "0"]);
    let want: Vec<_> = tx.iter().map(|c| qv(&mut direct, c)).collect();
    q::<i64>(&mut direct, &["DEL", "t"]);
    let got: Vec<_> = tx.iter().map(|c| qv(&mut b, c)).collect();
    assert_eq!(got, want);
    assert_eq!(q::<String>(&mut b, &["GET", "k"]), "in-zero");
    // RESET: back to db 0, no name.
    raw.roundtrip(&[b"CLIENT", b"SETNAME", b"r"], b"+OK\r\n");
    raw.roundtrip(&[b"SELECT", b"2"], b"+OK\r\n");
    raw.roundtrip(&[b"RESET"], b"+RESET\r\n");
    raw.roundtrip(&[b"GET", b"k"], b"$7\r\nin-zero\r\n");
    raw.roundtrip(&[b"CLIENT", b"GETNAME"], b"$-1\r\n");
    // QUIT: +OK, then the sidecar closes.
    raw.roundtrip(&[b"QUIT"], b"+OK\r\n");
    assert!(raw.closed());
}

pub fn pubsub_on_a_dedicated_connection(backend: &str) {
    let up = Proc::broker(0);
    let sc = Proc::sidecar(backend, up.addr, &[]);
    let mut p = sc.conn();
    {
        let mut sub_con = sc.conn();
        let mut sub = sub_con.as_pubsub();
        sub.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        sub.subscribe("news").unwrap();
        sub.psubscribe("n*").unwrap();
        assert_eq!(q::<i64>(&mut p, &["PUBLISH", "news", "hello"]), 2);
        let mut got = Vec::new();
        for _ in 0..2 {
            let m = sub.get_message().unwrap();
            got.push((m.from_pattern(), m.get_payload::<String>().unwrap()));
        }
        got.sort();
        assert_eq!(got, [(false, "hello".into()), (true, "hello".into())]);
    }
    // The subscriber left: its dedicated upstream connection is closed with it.
    eventually("the subscription to go away", || {
        q::<(String, i64)>(&mut p, &["PUBSUB", "NUMSUB", "news"]).1 == 0
    });
    // Byte-exact, RESP2.
    let mut raw = sc.raw();
    raw.roundtrip(
        &[b"UNSUBSCRIBE"],
        b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
    );
    raw.roundtrip(
        &[b"SUBSCRIBE", b"a", b"b"],
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
    );
    raw.roundtrip(&[b"PING"], b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "b", "x"]), 1);
    raw.expect(b"*3\r\n$7\r\nmessage\r\n$1\r\nb\r\n$1\r\nx\r\n");
    // RESP3 (redis crate): pushes, and ordinary commands in between on the same connection.
    let mut s3 = sc.resp3();
    let (tx, rx) = std::sync::mpsc::channel();
    s3.set_push_sender(tx);
    s3.subscribe_resp3("ch").unwrap();
    // The confirmation is a push too: wait for it before publishing. A sync connection reads
    // pushes while it runs a command, hence the PINGs.
    let next_push = |s3: &mut redis::Connection| {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(push) = rx.try_recv() {
                return push.kind;
            }
            assert!(Instant::now() < deadline, "no push");
            let _: String = q(s3, &["PING"]);
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    assert_eq!(next_push(&mut s3), PushKind::Subscribe);
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "ch", "hi"]), 1);
    assert_eq!(q::<Option<String>>(&mut s3, &["GET", "nothing"]), None);
    let kinds = vec![PushKind::Subscribe, next_push(&mut s3)];
    assert_eq!(kinds, [PushKind::Subscribe, PushKind::Message]);
}

/// Commands in multibulk form, concatenated: sent in one write, they reach the sidecar together.
fn pipeline(cmds: &[&[&str]]) -> Vec<u8> {
    let mut out = Vec::new();
    for args in cmds {
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in *args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    }
    out
}

/// After its last UNSUBSCRIBE a client's dedicated connection goes back to the pool, and what
/// the client pipelined behind it is answered in order; a client that subscribes again before
/// the sidecar is sure keeps its stream. The upstream's frames reach the client byte for byte
/// (the sidecar's own barrier PING never does).
pub fn pubsub_connection_returns_after_the_last_unsubscribe(backend: &str) {
    let up = Proc::broker(0);
    let mut sc = Proc::sidecar(backend, up.addr, &[]);
    let mut p = sc.conn();
    assert_eq!(q::<String>(&mut p, &["SET", "k", "v"]), "OK");
    let mut raw = sc.raw();
    raw.roundtrip(
        &[b"SUBSCRIBE", b"a", b"b"],
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
    );
    assert_eq!(sc.stat("pinned"), 1, "a dedicated connection");
    let dedicated = sc.stat("dedicated");
    // The count reaches 0 before the command's last frame (x was never subscribed), and a GET
    // is pipelined behind it.
    raw.send(&pipeline(&[&["UNSUBSCRIBE", "a", "b", "x"], &["GET", "k"]]));
    raw.expect(
        b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n\
          *3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n\
          *3\r\n$11\r\nunsubscribe\r\n$1\r\nx\r\n:0\r\n\
          $1\r\nv\r\n",
    );
    eventually("the dedicated connection to go back", || {
        sc.stat("pinned") == 0
    });
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "a", "gone"]), 0);
    // An ordinary client again: replies as usual, on the shared connections.
    raw.roundtrip(&[b"GET", b"k"], b"$1\r\nv\r\n");
    raw.roundtrip(&[b"PING"], b"+PONG\r\n");
    assert_eq!(
        sc.stat("dedicated"),
        dedicated,
        "no new checkout for plain commands"
    );
    // Subscribing again checks out a connection again; unsubscribing and subscribing in one
    // write keeps it (the second SUBSCRIBE went up before the sidecar's barrier).
    raw.roundtrip(
        &[b"SUBSCRIBE", b"c"],
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
    );
    assert_eq!(sc.stat("dedicated"), dedicated + 1);
    raw.send(&pipeline(&[&["UNSUBSCRIBE", "c"], &["SUBSCRIBE", "d"]]));
    raw.expect(
        b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:0\r\n\
          *3\r\n$9\r\nsubscribe\r\n$1\r\nd\r\n:1\r\n",
    );
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "d", "still"]), 1);
    raw.expect(b"*3\r\n$7\r\nmessage\r\n$1\r\nd\r\n$5\r\nstill\r\n");
    raw.roundtrip(&[b"PING"], b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    assert_eq!(sc.stat("pinned"), 1, "still subscribed");
    // Patterns count with channels: the stream ends when both are gone. (Shard channels count
    // apart; the broker has none, so that rule is unit-tested in the sidecar's stream.rs.)
    raw.roundtrip(
        &[b"PSUBSCRIBE", b"p*"],
        b"*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:2\r\n",
    );
    raw.roundtrip(
        &[b"UNSUBSCRIBE", b"d"],
        b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nd\r\n:1\r\n",
    );
    raw.roundtrip(&[b"PING"], b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    raw.roundtrip(
        &[b"PUNSUBSCRIBE"],
        b"*3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:0\r\n",
    );
    raw.roundtrip(&[b"PING"], b"+PONG\r\n");
    eventually("the dedicated connection to go back", || {
        sc.stat("pinned") == 0
    });
    assert_eq!(sc.stat("closed_dirty"), 0, "returned clean, not closed");
    // RESP3: confirmations are pushes, and a RESP3 array is an ordinary reply.
    let mut r3 = sc.raw();
    r3.cmd(&[b"HELLO", b"3"]);
    assert!(r3.reply().starts_with('%'));
    r3.cmd(&[b"SUBSCRIBE", b"e"]);
    assert_eq!(r3.reply(), ">3\r\n$9\r\nsubscribe\r\n$1\r\ne\r\n:1\r\n");
    assert_eq!(sc.stat("pinned"), 1);
    r3.send(&pipeline(&[&["UNSUBSCRIBE", "e"], &["GET", "k"]]));
    assert_eq!(r3.reply(), ">3\r\n$11\r\nunsubscribe\r\n$1\r\ne\r\n:0\r\n");
    assert_eq!(r3.reply(), "$1\r\nv\r\n");
    eventually("the RESP3 connection to go back", || sc.stat("pinned") == 0);
    r3.cmd(&[b"GET", b"k"]);
    assert_eq!(r3.reply(), "$1\r\nv\r\n");
    assert_eq!(
        sc.stat("closed_dirty"),
        0,
        "returned clean (back to RESP2), not closed"
    );
    // A state-changing command sent while subscribed goes up untracked: that stream does not
    // end early (neither the connection's state nor the client's lane is known any more).
    let mut st = sc.raw();
    st.cmd(&[b"SUBSCRIBE", b"z"]);
    assert_eq!(st.reply(), "*3\r\n$9\r\nsubscribe\r\n$1\r\nz\r\n:1\r\n");
    st.cmd(&[b"SELECT", b"2"]);
    let answer = st.reply();
    st.cmd(&[b"UNSUBSCRIBE", b"z"]);
    assert_eq!(st.reply(), "*3\r\n$11\r\nunsubscribe\r\n$1\r\nz\r\n:0\r\n");
    st.cmd(&[b"PING"]);
    let pong = st.reply();
    assert!(
        pong == "+PONG\r\n" || pong.contains("pong"),
        "{pong} (after SELECT: {answer})"
    );
    assert_eq!(sc.stat("pinned"), 1, "kept for the client");
    drop(st);
    eventually("the client's leaving to free it", || sc.stat("pinned") == 0);
}

pub fn blocking_pops(backend: &str) {
    let up = Proc::broker(0);
    let sc = Proc::sidecar(backend, up.addr, &["--pool-size", "4"]);
    let url = sc.url();
    let waiter = std::thread::spawn(move || {
        let mut con = crate::harness::connect(&url);
        let t0 = Instant::now();
        let got: (String, String) = q(&mut con, &["BRPOP", "jobs", "5"]);
        (got, t0.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    // The blocked client holds a dedicated connection; everyone else goes on meanwhile.
    let mut b = sc.conn();
    for _ in 0..20 {
        assert_eq!(q::<String>(&mut b, &["PING"]), "PONG");
    }
    assert_eq!(q::<i64>(&mut b, &["LPUSH", "jobs", "work"]), 1);
    let (got, waited) = waiter.join().unwrap();
    assert_eq!(got, ("jobs".into(), "work".into()));
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    // A timeout answered by the upstream, in the client's protocol.
    let t0 = Instant::now();
    assert_eq!(
        q::<Option<Vec<String>>>(&mut b, &["BLPOP", "none", "0.2"]),
        None
    );
    assert!(t0.elapsed() >= Duration::from_millis(150));
    let mut c3 = sc.resp3();
    assert_eq!(q::<Value>(&mut c3, &["BLPOP", "none", "0.1"]), Value::Nil);
    // Served at once when there is data; moves too.
    q::<i64>(&mut b, &["RPUSH", "src", "1", "2"]);
    assert_eq!(
        q::<String>(&mut b, &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "1"]),
        "1"
    );
    assert_eq!(q::<String>(&mut b, &["BRPOPLPUSH", "src", "dst", "1"]), "2");
    assert_eq!(
        q::<Vec<String>>(&mut b, &["LRANGE", "dst", "0", "-1"]),
        ["2", "1"]
    );
    // Dedicated connections went back: the pool's bound holds.
    assert!(upstream_info(&up, "connected_clients") <= 4 + 1);
}

pub fn thousand_clients_few_upstream_connections(backend: &str) {
    raise_fd_limit();
    const N: usize = 1000;
    let up = Proc::broker(0);
    let sc = Proc::sidecar(backend, up.addr, &["--pool-size", "4", "--lane-conns", "2"]);
    let mut clients: Vec<Raw> = (0..N).map(|_| sc.raw()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.cmd(&[
            b"SET",
            format!("k{i}").as_bytes(),
            format!("v{i}").as_bytes(),
        ]);
    }
    for c in &mut clients {
        c.expect(b"+OK\r\n");
    }
    for (i, c) in clients.iter_mut().enumerate() {
        c.cmd(&[b"GET", format!("k{i}").as_bytes()]);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let v = format!("v{i}");
        c.expect(format!("${}\r\n{v}\r\n", v.len()).as_bytes());
    }
    // All 1000 still connected; the upstream sees at most the pool (plus this INFO connection).
    let upstream_clients = upstream_info(&up, "connected_clients");
    assert!(
        upstream_clients <= 4 + 1,
        "{upstream_clients} upstream connections for {N} clients"
    );
    drop(clients);
}

pub fn upstream_password(backend: &str) {
    let up = Proc::broker_with(0, &["--requirepass", "s3cret"]);
    let sc = Proc::sidecar(backend, up.addr, &["--upstream-password", "s3cret"]);
    // Clients need no password: the sidecar authenticates its upstream connections.
    let mut c = sc.conn();
    let _: () = q(&mut c, &["SET", "k", "v"]);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    // A RESP3 lane and a dedicated connection (a blocking pop) are authenticated too.
    let mut c3 = sc.resp3();
    assert_eq!(q::<String>(&mut c3, &["GET", "k"]), "v");
    let popped: Option<(String, String)> = q(&mut c, &["BRPOP", "empty", "0.1"]);
    assert_eq!(popped, None);
    // A wrong password: the client gets an error at once, not a hang.
    let bad = Proc::sidecar(backend, up.addr, &["--upstream-password", "wrong"]);
    let mut b = bad.conn();
    let e = q_err(&mut b, &["GET", "k"]);
    assert!(e.contains("upstream"), "{e}");
}
