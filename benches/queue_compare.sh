#!/usr/bin/env bash
# queue_compare.sh — job hand-off: the ringloop broker (io_uring, epoll) against redis-server, in
# one run, with examples/queue_bench as the client.
#
# One producer LPUSHes JOBS 64-byte jobs (pipelined 16 deep) as fast as it can; 1, 4 and 100
# consumers take them with BRPOP. Server pinned to CPU 0, client to CPU 1. Reported: jobs/s,
# push-to-pop latency (it includes the time a job waits in the list while the producer is ahead
# of the consumers), server CPU per job (utime+stime, /proc), lost or duplicated jobs.
#
# Usage: benches/queue_compare.sh   (env: JOBS=100000, CONSUMERS="1 4 100",
#                                    SERVERS="ringloop-uring ringloop-epoll redis")
# Output: Markdown on stdout and in target/queue_compare.md.

set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${JOBS:-100000}
CONSUMERS=${CONSUMERS:-1 4 100}
SERVERS=${SERVERS:-ringloop-uring ringloop-epoll redis}
OUT=${OUT:-$ROOT/target/queue_compare.md}
PORT=${PORT:-16430}
BIN=$ROOT/target/release/examples
BROKER=$BIN/broker
(cd "$ROOT" && cargo build --release --example broker --example queue_bench) >&2 || exit 1

# shellcheck source=benches/redis_servers.sh
source "$ROOT/benches/redis_servers.sh"

{
echo "# Job hand-off (LPUSH → BRPOP): broker vs redis-server"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs. Server on CPU 0, queue_bench on CPU 1;"
echo "$JOBS jobs of 64 bytes, LPUSH pipelined 16 deep."
echo
echo "| server | consumers | jobs/s | p50 µs | p99 µs | server CPU µs/job | lost or duplicated |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for server in $SERVERS; do
    for consumers in $CONSUMERS; do
        start_server "$server" || continue
        line=$(taskset -c 1 "$BIN/queue_bench" --port "$PORT" --consumers "$consumers" \
            --jobs "$JOBS" --server-pid "$PID" | grep '^RESULT')
        cleanup
        get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
        echo "| $server | $consumers | $(get jobs_per_sec) | $(get p50_us) | $(get p99_us) | $(get server_cpu_us_per_job) | $(get errors) |"
    done
done
} | tee "$OUT"
