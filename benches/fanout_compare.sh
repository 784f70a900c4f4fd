#!/usr/bin/env bash
# fanout_compare.sh — pub/sub fan-out: the ringloop broker (io_uring, epoll) against redis-server,
# in one run, with examples/pubsub_bench as the client.
#
# For 1, 10, 100 and 1,000 subscribers, one publisher pipelines PUBLISH (64-byte payloads) and
# every subscriber must receive every message in order. Server pinned to CPU 0, client (publisher
# and the subscribers' event loop) to CPU 1. Reported: deliveries/s, publish-to-receive latency
# percentiles, server CPU per delivery (utime+stime from /proc), errors (lost/reordered).
#
# Two tables: *flooded* (the publisher pipelines as fast as the server answers, so a backlog
# builds up behind the client's single core and latency mostly measures that backlog), and
# *at a fixed rate* (pubsub_bench --rate: open loop, latency counted from the schedule, below
# what the client can take), which is the fair latency comparison.
#
# Single runs on a VM move by ±10 %: REPEAT=N runs every (server, cell) N times, interleaved
# (repetition by repetition, cell by cell, every server in turn, the server order rotated each
# repetition), and adds a table of medians with min–max. `ringloop-uring-base` /
# `ringloop-epoll-base` in SERVERS run the broker binary in BROKER_BASE, so a change can be
# measured interleaved with the build before it.
#
# Usage: benches/fanout_compare.sh     (env: DELIVERIES=300000 per cell, SUBS="1 10 100 1000",
#                                       SERVERS="ringloop-uring ringloop-epoll redis", PIPELINE=16,
#                                       FIXED="100:10000 1000:1000" as subscribers:messages/s
#                                       ("none" to skip), FIXED_SECS=5, REPEAT=1,
#                                       BROKER_BASE=path)
# Output: Markdown on stdout and in target/fanout_compare.md.

set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DELIVERIES=${DELIVERIES:-300000}
SUBS=${SUBS:-1 10 100 1000}
SERVERS=${SERVERS:-ringloop-uring ringloop-epoll redis}
PIPELINE=${PIPELINE:-16}
FIXED=${FIXED:-100:10000 1000:1000}
[[ $FIXED == none ]] && FIXED=
FIXED_SECS=${FIXED_SECS:-5}
REPEAT=${REPEAT:-1}
OUT=${OUT:-$ROOT/target/fanout_compare.md}
PORT=${PORT:-16410}
BIN=$ROOT/target/release/examples
BROKER=$BIN/broker
(cd "$ROOT" && cargo build --release --example broker --example pubsub_bench) >&2 || exit 1

# shellcheck source=benches/redis_servers.sh
source "$ROOT/benches/redis_servers.sh"
ulimit -n 65536 2>/dev/null || true

# Cells: "flood:SUBS" and "fixed:SUBS:RATE".
CELLS=()
for subs in $SUBS; do CELLS+=("flood:$subs"); done
for cell in $FIXED; do CELLS+=("fixed:$cell"); done
read -r -a SERVER_LIST <<<"$SERVERS"
RESULTS=$(mktemp)
trap 'cleanup; rm -f "$RESULTS"' EXIT

# run_cell SERVER CELL -> one result row "server|kind|subs|rate|dps|p50|p99|p999|cpu|errors"
run_cell() {
    local server=$1 kind subs rate=0 msgs line
    IFS=: read -r kind subs rate <<<"$2"
    start_server "$server" || return
    if [[ $kind == flood ]]; then
        msgs=$(( DELIVERIES / subs )); (( msgs < 300 )) && msgs=300
        rate=0
        line=$(taskset -c 1 "$BIN/pubsub_bench" --port "$PORT" --subs "$subs" --msgs "$msgs" \
            --pipeline "$PIPELINE" --server-pid "$PID" | grep '^RESULT')
    else
        line=$(taskset -c 1 "$BIN/pubsub_bench" --port "$PORT" --subs "$subs" \
            --msgs $(( rate * FIXED_SECS )) --rate "$rate" --pipeline "$PIPELINE" \
            --server-pid "$PID" | grep '^RESULT')
    fi
    cleanup
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
    echo "$server|$kind|$subs|$rate|$(get deliveries_per_sec)|$(get p50_us)|$(get p99_us)|$(get p999_us)|$(get server_cpu_us_per_delivery)|$(get errors)" >>"$RESULTS"
}

n=${#SERVER_LIST[@]}
for (( rep = 0; rep < REPEAT; rep++ )); do
    for cell in "${CELLS[@]}"; do
        for (( i = 0; i < n; i++ )); do
            run_cell "${SERVER_LIST[$(( (i + rep) % n ))]}" "$cell"
        done
    done
done

column_of() { # server kind subs rate field -> values of that field over the repetitions
    awk -F'|' -v s="$1" -v k="$2" -v n="$3" -v r="$4" -v f="$5" \
        '$1 == s && $2 == k && $3 == n && $4 == r { printf "%s ", $f }' "$RESULTS"
}

{
echo "# Pub/sub fan-out: broker vs redis-server"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs. Server on CPU 0, pubsub_bench on CPU 1;"
echo "64-byte payloads, PUBLISH pipelined $PIPELINE deep, ~$DELIVERIES deliveries per flooded cell;"
echo "fixed-rate cells: $FIXED_SECS s each, open loop (latency from the schedule). Runs per cell: $REPEAT."
if (( REPEAT > 1 )); then
    echo
    echo "Medians of $REPEAT interleaved runs (min–max):"
    echo
    echo "| server | subscribers | messages/s | deliveries/s | p50 µs | p99 µs | p99.9 µs | server CPU µs/delivery | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for cell in "${CELLS[@]}"; do
        IFS=: read -r kind subs rate <<<"$cell"
        rate=${rate:-0}
        for server in "${SERVER_LIST[@]}"; do
            errs=$(column_of "$server" "$kind" "$subs" "$rate" 10 | tr ' ' '\n' | awk '{ s += $1 } END { print s + 0 }')
            echo "| $server | $subs | $([[ $kind == flood ]] && echo flooded || echo "$rate") | $(median_of "$(column_of "$server" "$kind" "$subs" "$rate" 5)") | $(median_of "$(column_of "$server" "$kind" "$subs" "$rate" 6)") | $(median_of "$(column_of "$server" "$kind" "$subs" "$rate" 7)") | $(median_of "$(column_of "$server" "$kind" "$subs" "$rate" 8)") | $(median_of "$(column_of "$server" "$kind" "$subs" "$rate" 9)") | $errs |"
        done
    done
fi
echo
echo "Every run:"
echo
echo "| server | subscribers | messages/s | deliveries/s | p50 µs | p99 µs | p99.9 µs | server CPU µs/delivery | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
sort -t'|' -k2,2r -k3,3n -k4,4n -k1,1 -s "$RESULTS" | while IFS='|' read -r server kind subs rate dps p50 p99 p999 cpu errors; do
    echo "| $server | $subs | $([[ $kind == flood ]] && echo flooded || echo "$rate") | $dps | $p50 | $p99 | $p999 | $cpu | $errors |"
done
} | tee "$OUT"
