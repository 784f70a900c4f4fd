//! `RINGLOOP_BACKEND` beats the program's own choice. The environment is process-global, so this
//! binary holds a single test that changes it, step by step.

use std::io::ErrorKind;

use ringloop::{Backend, EventLoop};

fn build(backend: Backend) -> std::io::Result<EventLoop> {
    EventLoop::builder().backend(backend).build()
}

#[test]
fn ringloop_backend_env_overrides_the_builder() {
    // SAFETY (edition 2024 marks these unsafe): this binary has no other test, and no other
    // thread reads the environment while it runs.
    std::env::set_var("RINGLOOP_BACKEND", "epoll");
    for asked in [Backend::Auto, Backend::Uring, Backend::Epoll] {
        let lp = build(asked).unwrap();
        assert_eq!(lp.backend().kind, Backend::Epoll, "asked {asked:?}");
        assert_eq!(lp.backend().fallback_reason, None, "forced, not a fallback");
    }

    std::env::set_var("RINGLOOP_BACKEND", "uring");
    let lp = build(Backend::Epoll).unwrap();
    assert_eq!(lp.backend().kind, Backend::Uring, "env forces io_uring too");
    drop(lp);
    // Forced io_uring through the env cannot fall back either.
    let err = EventLoop::builder()
        .backend(Backend::Auto)
        .simulate_uring_setup_error(libc::EPERM)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);

    std::env::set_var("RINGLOOP_BACKEND", " Auto ");
    let lp = EventLoop::builder()
        .backend(Backend::Epoll)
        .simulate_uring_setup_error(libc::ENOSYS)
        .build()
        .unwrap();
    assert_eq!(
        lp.backend().kind,
        Backend::Epoll,
        "auto, and io_uring 'failed'"
    );
    assert!(lp.backend().fallback_reason.is_some());

    std::env::set_var("RINGLOOP_BACKEND", "kqueue");
    let err = build(Backend::Auto).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let msg = err.to_string();
    assert!(
        msg.contains("RINGLOOP_BACKEND") && msg.contains("kqueue"),
        "the error names the variable and the bad value: {msg}"
    );

    std::env::remove_var("RINGLOOP_BACKEND");
    assert_eq!(
        build(Backend::Epoll).unwrap().backend().kind,
        Backend::Epoll
    );
}
