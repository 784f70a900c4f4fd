#!/usr/bin/env bash
# broker_compare.sh — redis-benchmark against the ringloop broker (io_uring and epoll) and a real
# redis-server, in one run, on the same machine, with the same client.
#
# Each server runs pinned to CPU 0 (taskset), redis-benchmark to CPU 1. For every test
# (PING_INLINE, PING_MBULK, LPUSH, RPOP, and PUBLISH as a custom command) with and without
# pipelining (-P 16) it records requests/s, p50/p99 latency as redis-benchmark reports them, and
# the server's CPU time per request (utime+stime from /proc/PID/stat around the test, divided by
# the request count).
#
# Usage: benches/broker_compare.sh            (env: N=200000 requests per test, CLIENTS=50,
#                                              SERVERS="ringloop-uring ringloop-epoll redis")
# Needs redis-server and redis-benchmark (Debian: apt-get install redis-server redis-tools).
# Output: a Markdown table on stdout (and in target/broker_compare.md).

set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
SERVERS=${SERVERS:-ringloop-uring ringloop-epoll redis}
OUT=${OUT:-$ROOT/target/broker_compare.md}
PORT=${PORT:-16390}
BROKER=${BROKER:-$ROOT/target/release/examples/broker}

command -v redis-benchmark >/dev/null || { echo "redis-benchmark not found (apt-get install redis-tools)" >&2; exit 1; }
[[ -x $BROKER ]] || (cd "$ROOT" && cargo build --release --example broker) || exit 1

# shellcheck source=benches/redis_servers.sh
source "$ROOT/benches/redis_servers.sh"

ticks_per_sec=$(getconf CLK_TCK)

{
echo "# Broker vs redis-server (redis-benchmark)"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs; $(redis-server --version | cut -d' ' -f1-3)."
echo "Server pinned to CPU 0, redis-benchmark to CPU 1; $CLIENTS clients, $N requests per test, 3-byte values."
echo
echo "| server | test | pipeline | requests/s | p50 ms | p99 ms | server CPU µs/request |"
echo "|---|---|---:|---:|---:|---:|---:|"
for server in $SERVERS; do
    start_server "$server" || continue
    for pipeline in 1 16; do
        for test in PING_INLINE PING_MBULK LPUSH RPOP PUBLISH; do
            if [[ $test == PUBLISH ]]; then
                args=(-n "$N" -c "$CLIENTS" -P "$pipeline" -q --csv publish news hello)
                label=PUBLISH
            else
                args=(-n "$N" -c "$CLIENTS" -P "$pipeline" -q --csv -t "${test,,}")
                [[ $test == PING_INLINE ]] && args=(-n "$N" -c "$CLIENTS" -P "$pipeline" -q --csv -t ping_inline)
                [[ $test == PING_MBULK ]] && args=(-n "$N" -c "$CLIENTS" -P "$pipeline" -q --csv -t ping_mbulk)
                label=$test
            fi
            t0=$(cpu_ticks)
            line=$(taskset -c 1 redis-benchmark -p "$PORT" "${args[@]}" 2>/dev/null | grep -v '^"test"' | tail -1)
            t1=$(cpu_ticks)
            # CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
            IFS=, read -r _ rps _ _ p50 _ p99 _ <<<"${line//\"/}"
            cpu=$(awk -v a="$t0" -v b="$t1" -v n="$N" -v hz="$ticks_per_sec" 'BEGIN { printf "%.2f", (b - a) / hz * 1e6 / n }')
            echo "| $server | $label | $pipeline | ${rps:-n/a} | ${p50:-n/a} | ${p99:-n/a} | $cpu |"
        done
    done
    cleanup
done
} | tee "$OUT"
