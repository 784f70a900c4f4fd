//! Connection and server commands.

use redis::Value;

use crate::harness::{q, q_err, Broker};

pub fn ping_echo_select_and_databases(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut c = b.conn();
    assert_eq!(q::<String>(&mut c, &["PING"]), "PONG");
    assert_eq!(q::<String>(&mut c, &["PING", "hi"]), "hi");
    assert_eq!(q::<String>(&mut c, &["ECHO", "hello world"]), "hello world");
    // 16 databases for keys; SELECT scopes them.
    assert_eq!(q::<i64>(&mut c, &["RPUSH", "k", "a"]), 1);
    assert_eq!(q::<String>(&mut c, &["SELECT", "15"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);
    assert_eq!(q::<i64>(&mut c, &["RPUSH", "k", "x", "y"]), 2);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 1);
    assert_eq!(
        q_err(&mut c, &["SELECT", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        q_err(&mut c, &["SELECT", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(q::<String>(&mut c, &["SELECT", "0"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["LLEN", "k"]), 1);
    // A URL with a database number selects it at connect time.
    let mut c1 = redis::Client::open(format!("redis://{}/15", b.addr))
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(q::<i64>(&mut c1, &["LLEN", "k"]), 2);
    assert_eq!(q::<String>(&mut c, &["FLUSHALL"]), "OK");
    assert_eq!(q::<i64>(&mut c1, &["DBSIZE"]), 0);
}

pub fn hello_and_resp3_replies(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut raw = b.raw();
    // RESP2 by default.
    raw.roundtrip(&[b"GET", b"nope"], b"$-1\r\n");
    raw.roundtrip(
        &[b"HELLO", b"4"],
        b"-NOPROTO unsupported protocol version\r\n",
    );
    raw.cmd(&[b"HELLO", b"3"]);
    raw.expect(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.0\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n");
    raw.expect(b":1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n");
    // RESP3 nulls.
    raw.roundtrip(&[b"GET", b"nope"], b"_\r\n");
    raw.roundtrip(&[b"LPOP", b"nope", b"2"], b"_\r\n");
    raw.roundtrip(&[b"BLPOP", b"nope", b"0.01"], b"_\r\n");
    // HELLO 2 switches back; the map degrades to a flat array.
    raw.cmd(&[b"HELLO", b"2"]);
    raw.expect(b"*14\r\n");
    // The redis crate negotiates RESP3 on request.
    let mut c = b.resp3();
    assert_eq!(q::<Option<String>>(&mut c, &["GET", "nope"]), None);
    assert_eq!(q::<String>(&mut c, &["PING"]), "PONG");
    let v: Value = q(&mut c, &["HELLO", "3", "SETNAME", "worker-1"]);
    assert!(matches!(v, Value::Map(_)), "{v:?}");
    assert_eq!(q::<String>(&mut c, &["CLIENT", "GETNAME"]), "worker-1");
}

pub fn auth_and_noauth(backend: &str) {
    let b = Broker::start(backend, &["--requirepass", "s3cret"]);
    let mut raw = b.raw();
    raw.roundtrip(&[b"PING"], b"-NOAUTH Authentication required.\r\n");
    raw.roundtrip(
        &[b"AUTH", b"wrong"],
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    raw.roundtrip(&[b"HELLO", b"3"], b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n");
    raw.roundtrip(&[b"AUTH", b"s3cret"], b"+OK\r\n");
    raw.roundtrip(&[b"PING"], b"+PONG\r\n");
    raw.roundtrip(&[b"RESET"], b"+RESET\r\n");
    raw.roundtrip(&[b"PING"], b"-NOAUTH Authentication required.\r\n");
    raw.roundtrip(&[b"AUTH", b"default", b"s3cret"], b"+OK\r\n");
    // Clients authenticate from the URL, with AUTH (RESP2) or HELLO 3 AUTH (RESP3).
    let mut c = redis::Client::open(format!("redis://:s3cret@{}/", b.addr))
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(q::<String>(&mut c, &["PING"]), "PONG");
    let mut c3 = redis::Client::open(format!("redis://default:s3cret@{}/?protocol=resp3", b.addr))
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(q::<String>(&mut c3, &["PING"]), "PONG");
    assert!(redis::Client::open(format!("redis://:nope@{}/", b.addr))
        .unwrap()
        .get_connection()
        .is_err());
    // Without a password configured, AUTH says so.
    let b2 = Broker::start(backend, &[]);
    let mut c = b2.conn();
    assert!(q_err(&mut c, &["AUTH", "x"]).contains("without any password configured"));
}

pub fn client_commands(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut a = b.conn();
    let mut other = b.conn();
    let id: i64 = q(&mut a, &["CLIENT", "ID"]);
    let other_id: i64 = q(&mut other, &["CLIENT", "ID"]);
    assert_ne!(id, other_id);
    assert_eq!(q::<Option<String>>(&mut a, &["CLIENT", "GETNAME"]), None);
    assert_eq!(q::<String>(&mut a, &["CLIENT", "SETNAME", "alpha"]), "OK");
    assert_eq!(q::<String>(&mut a, &["CLIENT", "GETNAME"]), "alpha");
    assert!(q_err(&mut a, &["CLIENT", "SETNAME", "a b"]).contains("cannot contain spaces"));
    assert_eq!(
        q::<String>(&mut a, &["CLIENT", "SETINFO", "LIB-NAME", "mylib"]),
        "OK"
    );
    let list: String = q(&mut a, &["CLIENT", "LIST"]);
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.contains(&format!("id={id} ")) && list.contains("name=alpha"));
    assert!(list.contains("lib-name=mylib"));
    assert!(
        list.contains("lib-name=redis-rs"),
        "the redis crate sends SETINFO: {list}"
    );
    let info: String = q(&mut a, &["CLIENT", "INFO"]);
    assert!(info.starts_with(&format!("id={id} ")));
    assert_eq!(
        q_err(&mut a, &["CLIENT", "NOPE"]),
        "ERR unknown subcommand 'NOPE'. Try CLIENT HELP."
    );
    // Kill the other client by id: it is disconnected.
    assert_eq!(
        q::<i64>(&mut a, &["CLIENT", "KILL", "ID", &other_id.to_string()]),
        1
    );
    assert!(redis::cmd("PING").query::<String>(&mut other).is_err());
    assert_eq!(q::<i64>(&mut a, &["CLIENT", "KILL", "ID", "999999"]), 0);
    assert_eq!(
        q_err(&mut a, &["CLIENT", "KILL", "1.2.3.4:5"]),
        "ERR No such client"
    );
    let list: String = q(&mut a, &["CLIENT", "LIST"]);
    assert_eq!(list.lines().count(), 1, "{list}");
}

pub fn keys_strings_and_server_commands(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut c = b.conn();
    assert_eq!(q::<String>(&mut c, &["SET", "s", "v"]), "OK");
    assert_eq!(q::<String>(&mut c, &["GET", "s"]), "v");
    assert_eq!(q::<Option<String>>(&mut c, &["SET", "s", "w", "NX"]), None);
    assert_eq!(q::<String>(&mut c, &["SET", "s", "w", "XX", "GET"]), "v");
    assert_eq!(q::<i64>(&mut c, &["RPUSH", "l1", "a"]), 1);
    assert_eq!(q::<i64>(&mut c, &["RPUSH", "l2", "a"]), 1);
    assert_eq!(q::<String>(&mut c, &["TYPE", "s"]), "string");
    assert_eq!(q::<String>(&mut c, &["TYPE", "l1"]), "list");
    assert_eq!(q::<String>(&mut c, &["TYPE", "zz"]), "none");
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "s", "l1", "zz", "s"]), 3);
    assert_eq!(q::<Vec<String>>(&mut c, &["KEYS", "l*"]), vec!["l1", "l2"]);
    assert_eq!(q::<Vec<String>>(&mut c, &["KEYS", "*"]).len(), 3);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 3);
    assert_eq!(q::<i64>(&mut c, &["DEL", "s", "l1", "zz"]), 2);
    assert_eq!(q::<i64>(&mut c, &["LLEN", "l1"]), 0);
    assert_eq!(q::<String>(&mut c, &["FLUSHDB"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0);
    // COMMAND, as redis-cli and client libraries use it.
    let n: i64 = q(&mut c, &["COMMAND", "COUNT"]);
    assert!(n > 30);
    let all: Vec<Value> = q(&mut c, &["COMMAND"]);
    assert_eq!(all.len() as i64, n);
    // DOCS: a summary and a group for every command (redis-cli's hints come from here).
    let docs: std::collections::HashMap<String, Value> = q(&mut c, &["COMMAND", "DOCS"]);
    let list: Vec<String> = q(&mut c, &["COMMAND", "LIST"]);
    assert_eq!(docs.len(), list.len());
    for name in &list {
        let d: std::collections::HashMap<String, Value> =
            redis::from_redis_value(docs[name].clone()).unwrap();
        let summary: String = redis::from_redis_value(d["summary"].clone()).unwrap();
        assert!(!summary.is_empty(), "{name} has no summary");
        assert!(d.contains_key("group"), "{name} has no group");
    }
    let one: std::collections::HashMap<String, Value> =
        q(&mut c, &["COMMAND", "DOCS", "set", "nosuch"]);
    assert_eq!(one.keys().collect::<Vec<_>>(), ["set"]);
    let info: Vec<Value> = q(&mut c, &["COMMAND", "INFO", "blpop", "nosuch"]);
    assert_eq!(info.len(), 2);
    assert_eq!(info[1], Value::Nil);
}

pub fn config_get_set(backend: &str) {
    let b = Broker::start(backend, &["--maxclients", "50"]);
    let mut c = b.conn();
    let v: Vec<String> = q(&mut c, &["CONFIG", "GET", "maxclients"]);
    assert_eq!(v, vec!["maxclients", "50"]);
    assert_eq!(
        q::<String>(
            &mut c,
            &["CONFIG", "SET", "maxclients", "60", "timeout", "0"]
        ),
        "OK"
    );
    let v: Vec<String> = q(&mut c, &["CONFIG", "GET", "maxclients"]);
    assert_eq!(v[1], "60");
    assert_eq!(
        q::<String>(
            &mut c,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 1mb 512kb 10"
            ]
        ),
        "OK"
    );
    let v: Vec<String> = q(&mut c, &["CONFIG", "GET", "client-output-buffer-limit"]);
    assert!(v[1].contains("pubsub 1048576 524288 10"), "{v:?}");
    let v: Vec<String> = q(&mut c, &["CONFIG", "GET", "*"]);
    assert!(v.len() >= 16 && v.contains(&"timeout".to_string()));
    assert!(q_err(&mut c, &["CONFIG", "SET", "maxclients", "lots"])
        .starts_with("ERR CONFIG SET failed (possibly related to argument 'maxclients')"));
    assert!(q_err(&mut c, &["CONFIG", "SET", "nosuch", "1"]).contains("Unknown option"));
    assert_eq!(
        q::<String>(&mut c, &["CONFIG", "SET", "requirepass", "pw"]),
        "OK"
    );
    // New connections now need the password; this one stays authenticated.
    let mut raw = b.raw();
    raw.roundtrip(&[b"PING"], b"-NOAUTH Authentication required.\r\n");
    assert_eq!(q::<String>(&mut c, &["PING"]), "PONG");
}

pub fn info_sections(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut c = b.conn();
    q::<i64>(&mut c, &["RPUSH", "q", "a"]);
    let info: String = q(&mut c, &["INFO"]);
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Stats",
        "# Keyspace",
        "# Loop",
    ] {
        assert!(info.contains(section), "{section} missing:\n{info}");
    }
    for field in [
        "redis_version:",
        "connected_clients:1",
        "blocked_clients:0",
        "used_memory:",
        "total_commands_processed:",
        "db0:keys=1,expires=0,avg_ttl=0",
        "loop_syscalls:",
        "loop_completions:",
    ] {
        assert!(info.contains(field), "{field} missing:\n{info}");
    }
    let want = if backend == "uring" {
        "loop_backend:io_uring"
    } else {
        "loop_backend:epoll"
    };
    assert!(info.contains(want), "{want} missing:\n{info}");
    let clients: String = q(&mut c, &["INFO", "clients"]);
    assert!(clients.contains("connected_clients") && !clients.contains("# Server"));
}

pub fn error_texts(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut raw = b.raw();
    raw.roundtrip(
        &[b"FOO", b"bar", b"baz"],
        b"-ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' \r\n",
    );
    raw.roundtrip(
        &[b"foo"],
        b"-ERR unknown command 'foo', with args beginning with: \r\n",
    );
    // The lookup ignores case, and nothing else: not a trailing NUL, not a longer name.
    raw.roundtrip(&[b"PiNg"], b"+PONG\r\n");
    raw.cmd(&[b"PING\0"]);
    let reply = raw.reply();
    assert!(reply.starts_with("-ERR unknown command"), "{reply:?}");
    raw.roundtrip(
        &[b"pingpingpingpingping"],
        b"-ERR unknown command 'pingpingpingpingping', with args beginning with: \r\n",
    );
    raw.roundtrip(
        &[b"GET"],
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
    raw.roundtrip(
        &[b"lpush", b"q"],
        b"-ERR wrong number of arguments for 'lpush' command\r\n",
    );
    raw.roundtrip(&[b"SET", b"s", b"v"], b"+OK\r\n");
    raw.roundtrip(
        &[b"LPUSH", b"s", b"x"],
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    raw.roundtrip(&[b"BLPOP", b"q", b"-1"], b"-ERR timeout is negative\r\n");
    raw.roundtrip(
        &[b"BLPOP", b"q", b"soon"],
        b"-ERR timeout is not a float or out of range\r\n",
    );
    raw.roundtrip(
        &[b"LRANGE", b"q", b"a", b"1"],
        b"-ERR value is not an integer or out of range\r\n",
    );
    raw.roundtrip(
        &[b"LPOP", b"q", b"-1"],
        b"-ERR value is out of range, must be positive\r\n",
    );
    raw.roundtrip(
        &[b"LMOVE", b"a", b"b", b"UP", b"LEFT"],
        b"-ERR syntax error\r\n",
    );
    // The connection is still fine after all of that.
    raw.roundtrip(&[b"PING"], b"+PONG\r\n");
}

pub fn pipelining(backend: &str) {
    let b = Broker::start(backend, &[]);
    let mut c = b.conn();
    let mut p = redis::pipe();
    for i in 0..1000 {
        p.cmd("RPUSH").arg("q").arg(i);
    }
    p.cmd("LLEN").arg("q");
    let replies: Vec<i64> = p.query(&mut c).unwrap();
    assert_eq!(replies.len(), 1001);
    assert_eq!(replies[999], 1000);
    assert_eq!(replies[1000], 1000);
    // 10,000 inline PINGs in one write, replies in order.
    let mut raw = b.raw();
    raw.send(&b"PING\r\n".repeat(10_000));
    raw.expect(&b"+PONG\r\n".repeat(10_000));
    // Mixed inline and multibulk, split at every byte boundary.
    let msg = b"*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\nPING\r\n";
    for &byte in msg.iter() {
        raw.send(&[byte]);
    }
    raw.expect(b"$3\r\nabc\r\n+PONG\r\n");
}
