//! The sidecar example (`examples/sidecar`) as a black box: the broker (`examples/broker`) runs
//! as its upstream, both as child processes on free ports, and real clients talk through it — the
//! `redis` crate (sync API) and raw sockets for byte-exact checks. Every scenario runs with the
//! sidecar on io_uring and on epoll (`--backend`).

#[macro_use]
#[path = "../support/backends.rs"]
mod backends;
#[path = "../support/child.rs"]
mod child;
mod fakes;
mod harness;
#[path = "../support/raw_resp.rs"]
mod raw_resp;

mod health;
mod ops;
mod resp;
mod tcp;

use health::*;
use ops::*;
use resp::*;
use tcp::*;

both_backends!(
    // RESP mode: same answers as direct
    same_results_as_direct,
    upstream_password,
    pipelining_and_demultiplexing,
    resp3_lanes,
    select_and_client_state,
    pubsub_on_a_dedicated_connection,
    pubsub_connection_returns_after_the_last_unsubscribe,
    blocking_pops,
    thousand_clients_few_upstream_connections,
    // upstream health
    upstream_restart_recovers,
    request_timeout,
    blocking_command_deadline,
    blocking_command_with_bad_timeout,
    unanswered_barrier_times_out,
    circuit_breaker,
    down_after_connect_failures,
    // TCP mode
    tcp_forwards_both_ways,
    tcp_large_transfer_with_back_pressure,
    tcp_refused_upstream_closes_client,
    // operations
    graceful_drain,
    stats_on_sigusr1,
);
