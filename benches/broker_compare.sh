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
# With pipelining the rate of every server flips between two levels from run to run on a VM:
# REPEAT=N runs the whole set N times, the server order rotated each time, and adds a table of
# medians with min–max. `ringloop-uring-base` / `ringloop-epoll-base` run BROKER_BASE (A/B).
#
# Usage: benches/broker_compare.sh            (env: N=200000 requests per test, CLIENTS=50,
#                                              SERVERS="ringloop-uring ringloop-epoll redis",
#                                              REPEAT=1, BROKER_BASE=path)
# Needs redis-server and redis-benchmark (Debian: apt-get install redis-server redis-tools).
# Output: a Markdown table on stdout (and in target/broker_compare.md).

set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
SERVERS=${SERVERS:-ringloop-uring ringloop-epoll redis}
REPEAT=${REPEAT:-1}
OUT=${OUT:-$ROOT/target/broker_compare.md}
PORT=${PORT:-16390}
BROKER=${BROKER:-$ROOT/target/release/examples/broker}

command -v redis-benchmark >/dev/null || { echo "redis-benchmark not found (apt-get install redis-tools)" >&2; exit 1; }
[[ -x $BROKER ]] || (cd "$ROOT" && cargo build --release --example broker) || exit 1

# shellcheck source=benches/redis_servers.sh
source "$ROOT/benches/redis_servers.sh"

ticks_per_sec=$(getconf CLK_TCK)
TESTS=(PING_INLINE PING_MBULK LPUSH RPOP PUBLISH)
read -r -a SERVER_LIST <<<"$SERVERS"
RESULTS=$(mktemp)
trap 'cleanup; rm -f "$RESULTS"' EXIT

# run_server SERVER -> rows "server|test|pipeline|rps|p50|p99|cpu" for every test, one server
# process for the whole set (as redis-benchmark users run it).
run_server() {
    local server=$1 pipeline test args line rps p50 p99 t0 t1 cpu
    start_server "$server" || return
    for pipeline in 1 16; do
        for test in "${TESTS[@]}"; do
            if [[ $test == PUBLISH ]]; then
                args=(-n "$N" -c "$CLIENTS" -P "$pipeline" -q --csv publish news hello)
            else
                args=(-n "$N" -c "$CLIENTS" -P "$pipeline" -q --csv -t "${test,,}")
            fi
            t0=$(cpu_ticks)
            # redis-benchmark retries a dead server forever: the timeout bounds a crash.
            line=$(timeout 300 taskset -c 1 redis-benchmark -p "$PORT" "${args[@]}" 2>/dev/null | grep -v '^"test"' | tail -1)
            t1=$(cpu_ticks)
            # CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
            IFS=, read -r _ rps _ _ p50 _ p99 _ <<<"${line//\"/}"
            cpu=$(awk -v a="$t0" -v b="$t1" -v n="$N" -v hz="$ticks_per_sec" 'BEGIN { printf "%.2f", (b - a) / hz * 1e6 / n }')
            echo "$server|$test|$pipeline|${rps:-n/a}|${p50:-n/a}|${p99:-n/a}|$cpu" >>"$RESULTS"
        done
    done
    cleanup
}

n=${#SERVER_LIST[@]}
for (( rep = 0; rep < REPEAT; rep++ )); do
    for (( i = 0; i < n; i++ )); do
        run_server "${SERVER_LIST[$(( (i + rep) % n ))]}"
    done
done

column_of() { # server test pipeline field -> values over the repetitions
    awk -F'|' -v s="$1" -v t="$2" -v p="$3" -v f="$4" \
        '$1 == s && $2 == t && $3 == p && $f != "n/a" { printf "%s ", $f }' "$RESULTS"
}

{
echo "# Broker vs redis-server (redis-benchmark)"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs; $(redis-server --version | cut -d' ' -f1-3)."
echo "Server pinned to CPU 0, redis-benchmark to CPU 1; $CLIENTS clients, $N requests per test, 3-byte values."
echo "Runs per test: $REPEAT."
if (( REPEAT > 1 )); then
    echo
    echo "Medians of $REPEAT runs (min–max):"
    echo
    echo "| server | test | pipeline | requests/s | p50 ms | p99 ms | server CPU µs/request |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for pipeline in 1 16; do
        for test in "${TESTS[@]}"; do
            for server in "${SERVER_LIST[@]}"; do
                echo "| $server | $test | $pipeline | $(median_of "$(column_of "$server" "$test" "$pipeline" 4)") | $(median_of "$(column_of "$server" "$test" "$pipeline" 5)") | $(median_of "$(column_of "$server" "$test" "$pipeline" 6)") | $(median_of "$(column_of "$server" "$test" "$pipeline" 7)") |"
            done
        done
    done
fi
echo
echo "Every run:"
echo
echo "| server | test | pipeline | requests/s | p50 ms | p99 ms | server CPU µs/request |"
echo "|---|---|---:|---:|---:|---:|---:|"
while IFS='|' read -r server test pipeline rps p50 p99 cpu; do
    echo "| $server | $test | $pipeline | $rps | $p50 | $p99 | $cpu |"
done <"$RESULTS"
} | tee "$OUT"
