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
# Usage: benches/fanout_compare.sh     (env: DELIVERIES=300000 per cell, SUBS="1 10 100 1000",
#                                       SERVERS="ringloop-uring ringloop-epoll redis", PIPELINE=16,
#                                       FIXED="100:10000 1000:1000" as subscribers:messages/s,
#                                       FIXED_SECS=5)
# Output: Markdown on stdout and in target/fanout_compare.md.

set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DELIVERIES=${DELIVERIES:-300000}
SUBS=${SUBS:-1 10 100 1000}
SERVERS=${SERVERS:-ringloop-uring ringloop-epoll redis}
PIPELINE=${PIPELINE:-16}
FIXED=${FIXED:-100:10000 1000:1000}
FIXED_SECS=${FIXED_SECS:-5}
OUT=${OUT:-$ROOT/target/fanout_compare.md}
PORT=${PORT:-16410}
BIN=$ROOT/target/release/examples
BROKER=$BIN/broker
(cd "$ROOT" && cargo build --release --example broker --example pubsub_bench) >&2 || exit 1

# shellcheck source=benches/redis_servers.sh
source "$ROOT/benches/redis_servers.sh"
ulimit -n 65536 2>/dev/null || true

{
echo "# Pub/sub fan-out: broker vs redis-server"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs. Server on CPU 0, pubsub_bench on CPU 1;"
echo "64-byte payloads, PUBLISH pipelined $PIPELINE deep, ~$DELIVERIES deliveries per cell."
echo
echo "| server | subscribers | messages | deliveries/s | p50 µs | p99 µs | p99.9 µs | server CPU µs/delivery | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for server in $SERVERS; do
    for subs in $SUBS; do
        start_server "$server" || continue
        msgs=$(( DELIVERIES / subs )); (( msgs < 300 )) && msgs=300
        line=$(taskset -c 1 "$BIN/pubsub_bench" --port "$PORT" --subs "$subs" --msgs "$msgs" \
            --pipeline "$PIPELINE" --server-pid "$PID" | grep '^RESULT')
        cleanup
        get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
        echo "| $server | $subs | $msgs | $(get deliveries_per_sec) | $(get p50_us) | $(get p99_us) | $(get p999_us) | $(get server_cpu_us_per_delivery) | $(get errors) |"
    done
done
[ -n "$FIXED" ] && {
echo
echo "At a fixed publish rate ($FIXED_SECS s per cell, open loop: latency from the schedule):"
echo
echo "| server | subscribers | messages/s | deliveries/s | p50 µs | p99 µs | p99.9 µs | server CPU µs/delivery | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for server in $SERVERS; do
    for cell in $FIXED; do
        subs=${cell%%:*} rate=${cell##*:}
        start_server "$server" || continue
        line=$(taskset -c 1 "$BIN/pubsub_bench" --port "$PORT" --subs "$subs" \
            --msgs $(( rate * FIXED_SECS )) --rate "$rate" --pipeline "$PIPELINE" \
            --server-pid "$PID" | grep '^RESULT')
        cleanup
        get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
        echo "| $server | $subs | $rate | $(get deliveries_per_sec) | $(get p50_us) | $(get p99_us) | $(get p999_us) | $(get server_cpu_us_per_delivery) | $(get errors) |"
    done
done
}
} | tee "$OUT"
