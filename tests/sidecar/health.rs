//! Upstream health: a killed and restarted upstream, a request timeout, the circuit breaker on
//! pending requests, and "down after N connect failures". In every case the client gets a clear
//! error quickly — never a hang.

use std::time::{Duration, Instant};

use crate::fakes;
use crate::harness::{eventually, q, q_err, qv, Proc};

pub fn upstream_restart_recovers(backend: &str) {
    let mut up = Proc::broker(0);
    let port = up.addr.port();
    let mut sc = Proc::sidecar(
        backend,
        up.addr,
        &["--down-after", "2", "--down-retry", "200"],
    );
    let mut c = sc.conn();
    q::<String>(&mut c, &["SET", "k", "v"]);
    // A request in flight (a blocked pop on its dedicated connection) when the upstream dies.
    let url = sc.url();
    let blocked = std::thread::spawn(move || {
        let mut con = crate::harness::connect(&url);
        let t0 = Instant::now();
        (q_err(&mut con, &["BRPOP", "q", "0"]), t0.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    up.server.child.kill().unwrap();
    up.server.child.wait().unwrap();
    let (err, waited) = blocked.join().unwrap();
    assert!(err.contains("upstream connection lost"), "{err}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    // While it is away: errors, quickly.
    let t0 = Instant::now();
    let err = q_err(&mut c, &["GET", "k"]);
    assert!(err.starts_with("ERR upstream"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(3));
    // Back on the same port: requests succeed again, on the same client connection.
    let up = Proc::broker(port);
    eventually("requests to succeed after the restart", || {
        qv(&mut c, &["SET", "k", "again"]).is_ok()
    });
    for _ in 0..50 {
        assert_eq!(q::<String>(&mut c, &["GET", "k"]), "again");
    }
    assert!(sc.stat("upstream_failures") >= 1);
    drop(up);
}

pub fn request_timeout(backend: &str) {
    let mute = fakes::mute();
    let mut sc = Proc::sidecar(backend, mute, &["--request-timeout", "300"]);
    let mut c = sc.conn();
    for _ in 0..2 {
        let t0 = Instant::now();
        assert_eq!(q_err(&mut c, &["GET", "k"]), "ERR upstream timeout");
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(3),
            "{took:?}"
        );
    }
    // Each timeout closed the connection that failed to answer.
    let lines = sc.stats();
    assert!(
        crate::harness::stat_in(&lines, "timeouts") >= 2,
        "{lines:?}"
    );
    assert!(
        crate::harness::stat_in(&lines, "closed_broken") >= 2,
        "{lines:?}"
    );
}

/// A blocking command gets its own timeout plus `--request-timeout`: an upstream that went
/// silent cannot hold the client past that. `0` (for ever) gets no deadline.
pub fn blocking_command_deadline(backend: &str) {
    let mute = fakes::mute();
    let sc = Proc::sidecar(backend, mute, &["--request-timeout", "300"]);
    let mut c = sc.conn();
    let t0 = Instant::now();
    assert_eq!(
        q_err(&mut c, &["BLPOP", "k", "0.5"]),
        "ERR upstream timeout"
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(750) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // Milliseconds for XREAD ... BLOCK.
    let t0 = Instant::now();
    assert_eq!(
        q_err(&mut c, &["XREAD", "BLOCK", "200", "STREAMS", "s", "$"]),
        "ERR upstream timeout"
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // BLPOP ... 0 waits for ever: still waiting well past the grace period.
    let mut forever = sc.conn();
    forever
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let err = redis::cmd("BLPOP")
        .arg("k")
        .arg(0)
        .query::<redis::Value>(&mut forever)
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}

/// A blocking command whose timeout is not a number gets no deadline of its own from the sidecar
/// (it cannot know one); the upstream refuses the command at once, and that error reaches the
/// client — no hang, and the client's dedicated connection keeps working.
pub fn blocking_command_with_bad_timeout(backend: &str) {
    let up = Proc::broker(0);
    let sc = Proc::sidecar(backend, up.addr, &["--request-timeout", "300"]);
    let mut c = sc.conn();
    for cmd in [
        &["BLPOP", "k", "soon"][..],
        &["BRPOP", "k", "nan"],
        &["BLPOP", "k", ""],
    ] {
        let t0 = Instant::now();
        let err = q_err(&mut c, cmd);
        assert!(err.contains("timeout"), "{cmd:?}: {err}");
        assert!(t0.elapsed() < Duration::from_secs(2), "{cmd:?}");
    }
    assert_eq!(q::<i64>(&mut c, &["LPUSH", "k", "v"]), 1);
    assert_eq!(q::<Vec<String>>(&mut c, &["BLPOP", "k", "1"]), ["k", "v"]);
}

/// The barrier the sidecar sends after a client's last UNSUBSCRIBE holds the client's next
/// commands until it is answered; an upstream that never answers it is failed after
/// `--request-timeout`, like one that never answers a request: the held command gets the
/// timeout error and the client is let go (its subscription connection is lost), not held.
pub fn unanswered_barrier_times_out(backend: &str) {
    let up = fakes::pubsub_then_silent();
    let mut sc = Proc::sidecar(backend, up, &["--request-timeout", "300"]);
    let mut raw = sc.raw();
    raw.roundtrip(
        &[b"SUBSCRIBE", b"a"],
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n",
    );
    assert_eq!(sc.stat("pinned"), 1);
    let t0 = Instant::now();
    raw.roundtrip(
        &[b"UNSUBSCRIBE", b"a"],
        b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n",
    );
    raw.cmd(&[b"GET", b"k"]);
    raw.expect(b"-ERR upstream timeout\r\n");
    assert!(
        raw.closed(),
        "the client is let go once the barrier times out"
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert_eq!(sc.stat("upstream_failures"), 1);
    assert_eq!(sc.stat("pinned"), 0);
}

pub fn circuit_breaker(backend: &str) {
    let mute = fakes::mute();
    let mut sc = Proc::sidecar(
        backend,
        mute,
        &["--max-pending", "3", "--request-timeout", "1500"],
    );
    let mut stuck: Vec<_> = (0..3).map(|_| sc.raw()).collect();
    for c in &mut stuck {
        c.cmd(&[b"GET", b"k"]);
    }
    eventually("3 requests pending", || sc.stat("pending") == 3);
    let mut extra = sc.raw();
    let t0 = Instant::now();
    extra.roundtrip(
        &[b"GET", b"k"],
        b"-ERR sidecar: too many requests pending upstream (max-pending 3)\r\n",
    );
    assert!(t0.elapsed() < Duration::from_millis(500));
    // The stuck ones are not forgotten: they time out.
    for c in &mut stuck {
        c.expect(b"-ERR upstream timeout\r\n");
    }
    assert_eq!(sc.stat("pending"), 0);
    assert!(sc.stat("rejected_pending") >= 1);
}

pub fn down_after_connect_failures(backend: &str) {
    let nobody = fakes::refused();
    let mut sc = Proc::sidecar(
        backend,
        nobody,
        &["--down-after", "2", "--down-retry", "60000"],
    );
    let mut c = sc.conn();
    let first = q_err(&mut c, &["GET", "k"]);
    assert!(first.starts_with("ERR upstream"), "{first}");
    eventually("the upstream to be marked down", || {
        q_err(&mut c, &["GET", "k"]).contains("upstream down")
    });
    // Down: refused at once, without trying to connect.
    let t0 = Instant::now();
    for _ in 0..10 {
        assert!(q_err(&mut c, &["SET", "k", "v"]).contains("upstream down"));
    }
    assert!(t0.elapsed() < Duration::from_secs(1));
    let lines = sc.stats();
    assert_eq!(crate::harness::stat_in(&lines, "down"), 1, "{lines:?}");
    assert!(crate::harness::stat_in(&lines, "rejected_down") >= 10);
}
