//! Backend fallback: when io_uring is unavailable, `Backend::Auto` falls back to epoll, says why
//! in `BackendInfo` and in exactly one info-level log line; forcing `Backend::Uring` is an error
//! that says why. The failures are simulated with the builder's test hooks.
//!
//! This binary installs its own `log::Log` (one logger per process), which records each line
//! with the thread that emitted it, so tests running in parallel see only their own lines.

use std::sync::{Mutex, Once};
use std::thread::{self, ThreadId};

use ringloop::{op, Backend, EventLoop};

struct Line {
    thread: ThreadId,
    level: log::Level,
    target: String,
    text: String,
}

static LINES: Mutex<Vec<Line>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        LINES.lock().unwrap().push(Line {
            thread: thread::current().id(),
            level: record.level(),
            target: record.target().to_string(),
            text: record.args().to_string(),
        });
    }
    fn flush(&self) {}
}

fn install_logger() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Capture).expect("no other logger in this binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Lines this thread logged at info level or above (ringloop's, by target).
fn my_info_lines() -> Vec<(log::Level, String)> {
    let me = thread::current().id();
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|l| {
            l.thread == me && l.level <= log::Level::Info && l.target.starts_with("ringloop")
        })
        .map(|l| (l.level, l.text.clone()))
        .collect()
}

/// Builds an Auto loop with `configure`, checks it fell back to epoll for a reason containing
/// every word of `why`, logged once at info level, and still works.
fn assert_falls_back(configure: impl FnOnce(ringloop::Builder) -> ringloop::Builder, why: &[&str]) {
    install_logger();
    assert!(std::env::var_os("RINGLOOP_BACKEND").is_none());
    let mut lp = configure(EventLoop::builder().backend(Backend::Auto))
        .build()
        .expect("Auto falls back instead of failing");
    let info = lp.backend().clone();
    assert_eq!(info.kind, Backend::Epoll);
    assert!(!info.is_uring());
    let reason = info
        .fallback_reason
        .clone()
        .expect("a fallback has a reason");
    for word in why {
        assert!(reason.contains(word), "reason {reason:?} lacks {word:?}");
    }
    assert!(
        info.to_string()
            .starts_with("epoll (io_uring unavailable: "),
        "{info}"
    );
    assert!(info.to_string().contains(&reason));

    let lines = my_info_lines();
    assert_eq!(lines.len(), 1, "exactly one info line: {lines:?}");
    let (level, text) = &lines[0];
    assert_eq!(*level, log::Level::Info);
    assert!(text.contains(&reason), "the log line says why: {text}");
    assert!(text.contains("epoll"), "and what it does instead: {text}");

    // The fallback loop is a working loop.
    assert_eq!(lp.stats().backend, "epoll");
    let t = lp.submit(op::Nop);
    lp.wait(t).unwrap().unwrap();
}

#[test]
fn eperm_falls_back_and_blames_seccomp() {
    assert_falls_back(
        |b| b.simulate_uring_setup_error(libc::EPERM),
        &["EPERM", "seccomp", "io_uring_disabled"],
    );
}

#[test]
fn enosys_falls_back() {
    assert_falls_back(
        |b| b.simulate_uring_setup_error(libc::ENOSYS),
        &["ENOSYS", "kernel"],
    );
}

#[test]
fn enomem_falls_back_and_names_memlock() {
    assert_falls_back(
        |b| b.simulate_uring_setup_error(libc::ENOMEM),
        &["ENOMEM", "RLIMIT_MEMLOCK", "ulimit -l"],
    );
}

#[test]
fn missing_opcode_falls_back() {
    assert_falls_back(
        |b| b.simulate_missing_opcode("SENDMSG"),
        &["IORING_OP_SENDMSG"],
    );
}

#[test]
fn forced_uring_with_failure_is_an_error_that_says_why() {
    install_logger();
    for (errno, word) in [
        (libc::EPERM, "EPERM"),
        (libc::ENOSYS, "ENOSYS"),
        (libc::ENOMEM, "ENOMEM"),
    ] {
        let err = EventLoop::builder()
            .backend(Backend::Uring)
            .simulate_uring_setup_error(errno)
            .build()
            .expect_err("forced io_uring cannot fall back");
        assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
        let msg = err.to_string();
        assert!(msg.contains("io_uring") && msg.contains(word), "{msg}");
    }
    let err = EventLoop::builder()
        .backend(Backend::Uring)
        .simulate_missing_opcode("ASYNC_CANCEL")
        .build()
        .expect_err("forced io_uring cannot fall back");
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    assert!(err.to_string().contains("IORING_OP_ASYNC_CANCEL"), "{err}");
    assert!(my_info_lines().is_empty(), "an error, not a fallback line");
}

#[test]
fn requested_epoll_is_not_a_fallback() {
    install_logger();
    let lp = EventLoop::builder()
        .backend(Backend::Epoll)
        .simulate_uring_setup_error(libc::EPERM)
        .build()
        .unwrap();
    assert_eq!(lp.backend().kind, Backend::Epoll);
    assert_eq!(lp.backend().fallback_reason, None);
    assert_eq!(lp.backend().to_string(), "epoll (requested)");
    assert!(
        my_info_lines().is_empty(),
        "nothing to explain: {:?}",
        my_info_lines()
    );
}

#[test]
fn auto_without_failure_uses_uring_quietly() {
    install_logger();
    let lp = EventLoop::builder().backend(Backend::Auto).build().unwrap();
    assert_eq!(
        lp.backend().kind,
        Backend::Uring,
        "this kernel has io_uring"
    );
    assert_eq!(lp.backend().fallback_reason, None);
    assert!(lp.backend().to_string().starts_with("io_uring ("));
    assert!(my_info_lines().is_empty(), "{:?}", my_info_lines());
}

#[test]
fn bad_recv_buffer_count_is_invalid_input() {
    let err = EventLoop::builder()
        .recv_buffers(3, 64)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
