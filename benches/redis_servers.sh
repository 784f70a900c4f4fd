# shellcheck shell=bash
# redis_servers.sh — sourced by broker_compare.sh, fanout_compare.sh and queue_compare.sh:
# starting one Redis-protocol server under test pinned to CPU 0 and stopping it by PID (and,
# through lib.sh, the shared helpers such as median_of).
#
# The sourcing script sets BROKER (the broker binary) and PORT; start_server NAME starts
# `ringloop-uring`, `ringloop-epoll` (the broker on that backend), `ringloop-uring-base` /
# `ringloop-epoll-base` (the broker binary in BROKER_BASE, for A/B runs) or `redis`
# (redis-server, no persistence) and sets PID; cleanup stops it. An EXIT/INT/TERM trap makes sure it is stopped.

# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=; }
trap cleanup EXIT INT TERM

start_server() {
    case $1 in
        ringloop-uring|ringloop-epoll)
            taskset -c 0 "$BROKER" --port "$PORT" --backend "${1#ringloop-}" >/dev/null 2>&1 & ;;
        ringloop-uring-base|ringloop-epoll-base)
            # An earlier build (BROKER_BASE), to measure a change interleaved with its base.
            [[ -x ${BROKER_BASE:-} ]] || { echo "$1: set BROKER_BASE to a broker binary" >&2; return 1; }
            local backend=${1#ringloop-}
            taskset -c 0 "$BROKER_BASE" --port "$PORT" --backend "${backend%-base}" >/dev/null 2>&1 & ;;
        redis)
            command -v redis-server >/dev/null || { echo "redis-server not found: skipped (apt-get install redis-server)" >&2; return 1; }
            taskset -c 0 redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
                --maxclients 10000 --loglevel warning >/dev/null 2>&1 & ;;
        *) echo "unknown server $1" >&2; return 1 ;;
    esac
    PID=$!
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$1 did not start" >&2
    cleanup
    return 1
}

# cpu_ticks -> utime+stime of the server, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
