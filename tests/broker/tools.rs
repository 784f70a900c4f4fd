//! Real Redis tools against the broker: a scripted `redis-cli` session and a short
//! `redis-benchmark` run. They need `redis-tools`; outside CI a missing tool skips the test.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::harness::{tool, Broker};

pub fn redis_cli_session(backend: &str) {
    let Some(cli) = tool("redis-cli") else {
        return;
    };
    let b = Broker::start(backend, &[]);
    let script = "PING\nRPUSH jobs a b c\nLRANGE jobs 0 -1\nBLPOP jobs 0\nLLEN jobs\n\
                  PUBLISH news hi\nSELECT 2\nDBSIZE\nGET nope\nFOO bar\nINFO clients\nQUIT\n";
    let mut child = Command::new(cli)
        .args(["-h", "127.0.0.1", "-p", &b.port().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let err = String::from_utf8_lossy(&out.stderr);
    let want = [
        "PONG", "3", "a", "b", "c", "jobs", "a", "2", "0", "OK", "0", "",
    ];
    assert_eq!(&lines[..want.len()], &want[..], "{text}");
    // Errors go to stdout or stderr depending on the redis-cli version.
    assert!(
        text.contains("ERR unknown command 'FOO'") || err.contains("ERR unknown command 'FOO'"),
        "{text}\n{err}"
    );
    assert!(text.contains("connected_clients:1"), "{text}");
}

pub fn redis_benchmark(backend: &str) {
    let Some(bench) = tool("redis-benchmark") else {
        return;
    };
    let b = Broker::start(backend, &[]);
    let out = Command::new(bench)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &b.port().to_string(),
            "-t",
            "ping_inline,ping_mbulk,lpush,rpop,publish",
            "-n",
            "2000",
            "-q",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{err}");
    for test in ["PING_INLINE", "PING_MBULK", "LPUSH", "RPOP"] {
        assert!(
            // -q still draws progress lines ending in '\r' before each result.
            text.split(['\r', '\n'])
                .any(|l| l.trim().starts_with(test) && l.contains("requests per second")),
            "{test} missing:\n{text}\n{err}"
        );
    }
    assert!(
        !text.contains("ERR") && !err.contains("rror"),
        "{text}\n{err}"
    );
    // redis-benchmark 7.0 has no built-in `publish` test (`-t publish` is ignored): run PUBLISH
    // as a custom command, with a subscriber listening.
    let mut sub_con = b.conn();
    let mut sub = sub_con.as_pubsub();
    sub.subscribe("bench").unwrap();
    let out = Command::new(tool("redis-benchmark").unwrap())
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &b.port().to_string(),
            "-n",
            "2000",
            "-q",
        ])
        .args(["PUBLISH", "bench", "hello"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("PUBLISH bench hello: ") && !text.contains("ERR"),
        "{text}"
    );
    for _ in 0..2000 {
        assert_eq!(
            sub.get_message().unwrap().get_payload::<String>().unwrap(),
            "hello"
        );
    }
    drop(sub);
    let (ok, _) = b.stop();
    assert!(ok);
}
