//! The broker example (`examples/broker`) as a black box: started as a child process on a free
//! port, on io_uring and on epoll (every test runs on both), and driven by real clients — the
//! `redis` crate, raw sockets for byte-exact protocol checks, and `redis-cli` /
//! `redis-benchmark` when installed.

#[macro_use]
#[path = "../support/backends.rs"]
mod backends;
#[path = "../support/child.rs"]
mod child;
mod harness;
#[path = "../support/http_client.rs"]
mod http_client;
#[path = "../support/raw_resp.rs"]
mod raw_resp;

mod browser;
mod conn;
mod expiry;
mod http;
mod lists;
mod pubsub;
mod python;
mod robustness;
mod tools;
mod transactions;

use browser::*;
use conn::*;
use expiry::*;
use http::*;
use lists::*;
use pubsub::*;
use python::*;
use robustness::*;
use tools::*;
use transactions::*;

both_backends!(
    // connection and server commands
    ping_echo_select_and_databases,
    hello_and_resp3_replies,
    auth_and_noauth,
    client_commands,
    keys_strings_and_server_commands,
    config_get_set,
    info_sections,
    error_texts,
    pipelining,
    // lists and blocking pops
    list_commands,
    list_moves_and_wrongtype,
    blocking_timeouts,
    blocking_fifo_across_clients,
    blocked_served_after_pushing_command,
    blocking_moves,
    blocked_client_resumes_pipeline,
    disconnect_while_blocked_leaves_no_trace,
    // expiry
    expire_ttl_and_persist,
    keys_expire_on_time,
    // transactions
    multi_exec_through_the_redis_crate,
    multi_exec_rules,
    watch_aborts_on_a_concurrent_write,
    // pub/sub
    subscribe_and_publish,
    pattern_subscriptions,
    resp2_subscribed_state,
    resp3_pushes,
    thousand_subscribers,
    slow_subscriber_is_disconnected,
    // robustness and operations
    malformed_input,
    inline_commands,
    query_buffer_limit,
    maxclients,
    idle_timeout,
    protected_mode,
    defer_taskrun_modes,
    graceful_shutdown,
    sigint_and_quit,
    redis_cli_session,
    redis_benchmark,
    redis_py_client,
    // the HTTP front
    http_publish_poll_and_long_poll,
    http_long_polls_time_out_on_schedule,
    http_sse_stream_resume_and_gaps,
    http_sse_heartbeats_and_vanished_clients,
    http_thousand_sse_clients,
    http_slow_sse_client_is_disconnected,
    http_queues_shared_with_resp,
    http_errors_and_limits,
    http_auth_cors_page_and_stats,
    browser_sse_page,
);
