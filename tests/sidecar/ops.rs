//! Operations: graceful drain on SIGTERM (in-flight requests finish, idle clients close, no new
//! ones are accepted) and stats on SIGUSR1.

use std::net::TcpStream;
use std::time::Duration;

use crate::harness::{q, Proc};

pub fn graceful_drain(backend: &str) {
    let up = Proc::broker(0);
    let sc = Proc::sidecar(backend, up.addr, &[]);
    let mut idle = sc.raw();
    let mut busy = sc.raw();
    let mut warm = sc.conn();
    q::<String>(&mut warm, &["PING"]);
    // In flight when the signal comes: a pop that the upstream answers after 1 s.
    busy.cmd(&[b"BLPOP", b"nothing", b"1"]);
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(sc.server.pid(), libc::SIGTERM) };
    // The idle client is closed at once, the busy one after its answer.
    assert!(idle.closed(), "an idle client is closed by the drain");
    busy.expect(b"*-1\r\n");
    assert!(busy.closed());
    // No new clients.
    std::thread::sleep(Duration::from_millis(100));
    assert!(TcpStream::connect_timeout(&sc.addr, Duration::from_secs(1)).is_err());
    let (ok, rest) = sc.server.stop_with(libc::SIGTERM);
    assert!(ok, "clean exit");
    assert!(rest.contains("STATS sidecar mode=resp"), "{rest}");
    assert!(rest.contains("STATS pool created="), "{rest}");
}

pub fn stats_on_sigusr1(backend: &str) {
    let up = Proc::broker(0);
    let mut sc = Proc::sidecar(backend, up.addr, &[]);
    let mut c = sc.conn();
    for _ in 0..10 {
        q::<String>(&mut c, &["PING"]);
    }
    let lines = sc.stats();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with("STATS sidecar mode=resp "),
        "{lines:?}"
    );
    assert!(lines[1].starts_with("STATS pool created="), "{lines:?}");
    let want = if backend == "uring" {
        "io_uring"
    } else {
        "epoll"
    };
    assert!(lines[2].contains(&format!("backend={want}")), "{lines:?}");
    assert!(crate::harness::stat_in(&lines, "requests") >= 10);
}
