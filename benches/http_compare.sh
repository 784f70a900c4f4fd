#!/usr/bin/env bash
# http_compare.sh — the broker's HTTP front, in one run: SSE fan-out next to RESP fan-out, memory
# per idle SSE stream, long-poll round trips, and following a channel by polling vs long polling
# vs SSE at a fixed publish rate. Clients: examples/pubsub_bench and examples/http_bench.
#
# The broker (release, `--port 0 --http-port 0`, addresses read from its stdout) is pinned to
# CPU 0 and the clients to CPU 1 when there are 2+ CPUs and taskset (PIN=0: no pinning).
#
# 1. Fan-out: pubsub_bench publishes 64-byte messages over RESP (PUBLISH pipelined 16 deep) to
#    SUBS subscribers, first RESP SUBSCRIBE connections, then SSE streams (`--sse`, GET
#    /channels/{ch}/events) on the same broker, ~DELIVERIES deliveries per cell; every subscriber
#    checks every message's sequence. Reported: deliveries/s, publish-to-receive latency, server
#    CPU per delivery (utime+stime from /proc, 10 ms ticks: hence a million deliveries per
#    cell). The SSE channel also keeps its --history, which a RESP-only channel does not.
# 2. Memory per idle SSE stream: a fresh broker; its VmRSS before and after `http_bench --mode
#    idle` opens IDLE_STREAMS streams (10,000 if the open-files limit allows, else 1,000),
#    divided by the streams. User space only: kernel socket buffers are not in RSS.
# 3. Long-poll round trips: `http_bench --mode longpoll-max`, LP_FOLLOWERS long-pollers for
#    LP_SECS, the publisher in lock-step (it publishes as soon as every follower has the previous
#    message): completed long polls/s, messages/s, how many requests parked (broker /stats),
#    server CPU per round trip (schedstat, ns resolution).
# 4. Follow: `http_bench --mode all`: FOLLOWERS followers per mode follow a channel published at
#    RATE msg/s for SECS s: poll every POLL_INTERVAL s, long poll, SSE. Per delivered message:
#    requests, bytes received (heads included), bytes sent; latency; server CPU; errors.
#
# Usage: benches/http_compare.sh
#   env: DELIVERIES=1000000 SUBS="100 1000" IDLE_STREAMS=auto IDLE_HOLD=2 LP_FOLLOWERS="10 100"
#        LP_SECS=5 FOLLOWERS=10 RATE=10 SECS=10 POLL_INTERVAL=1 BACKEND=auto PIN=1
#        SKIP="fanout idle longpoll follow" (parts to leave out)
# Output: Markdown on stdout and in target/http_compare.md; every client's full output and the
# brokers' logs in target/http_compare/. Runtime with the defaults: about 1.5 minutes.

set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DELIVERIES=${DELIVERIES:-1000000}
SUBS=${SUBS:-100 1000}
IDLE_STREAMS=${IDLE_STREAMS:-auto}
IDLE_HOLD=${IDLE_HOLD:-2}
LP_FOLLOWERS=${LP_FOLLOWERS:-10 100}
LP_SECS=${LP_SECS:-5}
FOLLOWERS=${FOLLOWERS:-10}
RATE=${RATE:-10}
SECS=${SECS:-10}
POLL_INTERVAL=${POLL_INTERVAL:-1}
BACKEND=${BACKEND:-auto}
PIN=${PIN:-1}
SKIP=${SKIP:-}
OUT=${OUT:-$TARGET/http_compare.md}
LOGDIR=${LOGDIR:-$TARGET/http_compare}
BIN=$TARGET/release/examples

log() { echo "http_compare: $*" >&2; }
skipped() { [[ " $SKIP " == *" $1 "* ]]; }

(cd "$ROOT" && cargo build --release --example broker --example pubsub_bench --example http_bench) >&2 || exit 1
mkdir -p "$LOGDIR" "$(dirname "$OUT")" || exit 1
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ $IDLE_STREAMS == auto ]]; then
    # The client and the broker each need one fd per stream, plus some slack.
    if (( $(ulimit -n) >= 10500 )); then IDLE_STREAMS=10000; else IDLE_STREAMS=1000; fi
fi

SRV_PIN=() CLI_PIN=()
if [[ $PIN == 1 ]]; then
    if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
        SRV_PIN=(taskset -c 0)
        CLI_PIN=(taskset -c 1)
    else
        log "taskset missing or fewer than 2 CPUs: running unpinned"
        PIN=0
    fi
fi

# Busy % of all CPUs over half a second: anything else running skews every number.
cpu_busy_pct() {
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6; exit}' /proc/stat)
    sleep 0.5
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6; exit}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
        busy = y[1] - x[1]; idle = y[2] - x[2];
        printf "%.0f", (busy + idle > 0) ? 100 * busy / (busy + idle) : 0 }'
}

# start_broker NAME [ARGS...] -> BPID, HTTP_ADDR, RESP_ADDR (RESP_HOST, RESP_PORT)
BPID=
start_broker() {
    local name=$1
    shift
    local out=$LOGDIR/broker-$name.out
    # taskset execs the broker, so $! is the broker's own pid.
    "${SRV_PIN[@]}" "$BIN/broker" --port 0 --http-port 0 --backend "$BACKEND" "$@" \
        >"$out" 2>"$LOGDIR/broker-$name.log" &
    BPID=$!
    HTTP_ADDR='' RESP_ADDR=''
    for _ in $(seq 100); do
        HTTP_ADDR=$(sed -n 's/^HTTP LISTENING //p' "$out")
        RESP_ADDR=$(sed -n 's/^LISTENING //p' "$out")
        [[ -n $HTTP_ADDR && -n $RESP_ADDR ]] && break
        kill -0 "$BPID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z $HTTP_ADDR || -z $RESP_ADDR ]]; then
        log "the broker did not start: $(tail -n 3 "$LOGDIR/broker-$name.log" | tr '\n' ' ')"
        stop_broker
        return 1
    fi
    RESP_HOST=${RESP_ADDR%:*} RESP_PORT=${RESP_ADDR##*:}
    log "broker $name: pid $BPID, RESP $RESP_ADDR, HTTP $HTTP_ADDR"
}
stop_broker() {
    [[ -n $BPID ]] || return 0
    kill "$BPID" 2>/dev/null
    wait "$BPID" 2>/dev/null
    BPID=
}
trap stop_broker EXIT INT TERM

# client NAME ARGS... -> runs a client pinned to the client CPU, output in $LOGDIR/NAME.out;
# prints its RESULT lines.
client() {
    local name=$1
    shift
    "${CLI_PIN[@]}" "$@" >"$LOGDIR/$name.out" 2>&1
    local rc=$?
    (( rc != 0 )) && log "$name exited with status $rc (see $LOGDIR/$name.out)"
    grep '^RESULT' "$LOGDIR/$name.out"
}
get() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
ms() { awk -v x="$1" 'BEGIN { if (x == "" || x == "n/a") print "n/a"; else printf "%.1f", x / 1000 }'; }
fail_row() { echo "| $1 | failed: see $LOGDIR/$2.out |"; }

BUSY=$(cpu_busy_pct)
(( BUSY > 10 )) && log "warning: CPUs are ${BUSY}% busy before starting: other processes will skew the numbers"

{
# This block runs in a subshell (the pipe to tee): stop its broker when it ends.
trap stop_broker EXIT INT TERM
echo "# The broker's HTTP front: SSE fan-out, idle streams, long polling, poll vs long poll vs SSE"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs, backend $BACKEND."
if [[ $PIN == 1 ]]; then echo "Broker on CPU 0, clients on CPU 1."; else echo "Unpinned."; fi
echo "CPUs busy before the run: ${BUSY}% (other processes compete with the broker and the clients; it should be ~0)."

if ! skipped fanout; then
    echo
    echo "## Fan-out: RESP subscribers vs SSE streams"
    echo
    echo "One broker; 64-byte payloads published over RESP, PUBLISH pipelined 16 deep, ~$DELIVERIES deliveries per cell."
    echo
    echo "| subscribers | via | messages | deliveries/s | p50 µs | p99 µs | p99.9 µs | server CPU µs/delivery | errors |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    start_broker fanout || exit 1
    for subs in $SUBS; do
        msgs=$(( DELIVERIES / subs )); (( msgs < 300 )) && msgs=300
        for via in resp sse; do
            kill -0 "$BPID" 2>/dev/null || { stop_broker; start_broker fanout || exit 1; }
            sse=()
            [[ $via == sse ]] && sse=(--sse "$HTTP_ADDR")
            name=fanout-$via-$subs
            line=$(client "$name" "$BIN/pubsub_bench" --host "$RESP_HOST" --port "$RESP_PORT" "${sse[@]}" \
                --subs "$subs" --msgs "$msgs" --pipeline 16 --channel "$name" --server-pid "$BPID")
            if [[ -z $line ]]; then fail_row "$subs | $via" "$name"; continue; fi
            echo "| $subs | $via | $msgs | $(get "$line" deliveries_per_sec) | $(get "$line" p50_us) | $(get "$line" p99_us) | $(get "$line" p999_us) | $(get "$line" server_cpu_us_per_delivery) | $(get "$line" errors) |"
        done
    done
    stop_broker
fi

if ! skipped idle; then
    echo
    echo "## Memory per idle SSE stream"
    echo
    echo "A fresh broker; its VmRSS before and after $IDLE_STREAMS SSE streams are open (held ${IDLE_HOLD} s), divided by the streams. User space only: kernel socket buffers are not in RSS."
    echo
    echo "| SSE streams | opened | broker counts | RSS before KiB | RSS after KiB | bytes/stream | errors |"
    echo "|---:|---:|---:|---:|---:|---:|---:|"
    if start_broker idle --maxclients $(( IDLE_STREAMS + 100 )); then
        sleep 0.5
        line=$(client idle "$BIN/http_bench" --http "$HTTP_ADDR" --mode idle --followers "$IDLE_STREAMS" \
            --hold "$IDLE_HOLD" --server-pid "$BPID")
        if [[ -z $line ]]; then
            fail_row "$IDLE_STREAMS" idle
        else
            echo "| $IDLE_STREAMS | $(get "$line" opened) | $(get "$line" server_sse) | $(get "$line" rss_before_kib) | $(get "$line" rss_after_kib) | $(get "$line" bytes_per_stream) | $(get "$line" errors) |"
        fi
        stop_broker
    fi
fi

if ! skipped longpoll || ! skipped follow; then
    start_broker http || exit 1
fi

if ! skipped longpoll; then
    echo
    echo "## Long-poll round trips"
    echo
    echo "N followers long-poll (\`after=LAST&wait=25\`) for $LP_SECS s; the publisher (RESP) publishes as soon as every follower has the previous message, so each answer carries one message. *parked*: requests that waited for a publish; *at once*: answered on arrival (their message was already there). Server CPU per round trip includes 1/N of the PUBLISH that answered it."
    echo
    echo "| followers | round trips/s | messages/s | msgs/answer | parked | at once | p50 µs | p99 µs | server CPU µs/round trip | errors |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for n in $LP_FOLLOWERS; do
        kill -0 "$BPID" 2>/dev/null || { stop_broker; start_broker http || exit 1; }
        line=$(client "longpoll-max-$n" "$BIN/http_bench" --http "$HTTP_ADDR" --resp "$RESP_ADDR" \
            --mode longpoll-max --followers "$n" --secs "$LP_SECS" --window 1 --server-pid "$BPID")
        if [[ -z $line ]]; then fail_row "$n" "longpoll-max-$n"; continue; fi
        echo "| $n | $(get "$line" round_trips_per_sec) | $(get "$line" msgs_per_sec) | $(get "$line" msgs_per_response) | $(get "$line" parked) | $(get "$line" immediate) | $(get "$line" p50_us) | $(get "$line" p99_us) | $(get "$line" server_cpu_us_per_round_trip) | $(get "$line" errors) |"
    done
fi

if ! skipped follow; then
    echo
    echo "## Following a channel: polling vs long polling vs SSE"
    echo
    echo "$FOLLOWERS followers per mode, keep-alive HTTP/1.1; the publisher sends $RATE msg/s for $SECS s over RESP (64-byte payloads). poll: \`GET /channels/{ch}/messages?after=LAST\` every $POLL_INTERVAL s per follower (phases spread); long poll: the same with \`&wait=25\`, re-sent at once; SSE: one \`GET /channels/{ch}/events\`. Per delivered message (summed over followers): requests sent, bytes received (every byte read: status lines, headers, JSON or SSE framing, heartbeats), bytes sent. Server CPU per delivered message includes the PUBLISHes (the same in every mode)."
    echo
    echo "| mode | followers | published | delivered | requests/msg | bytes in/msg | bytes out/msg | p50 ms | p99 ms | max ms | server CPU µs/msg | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    kill -0 "$BPID" 2>/dev/null || { stop_broker; start_broker http || exit 1; }
    lines=$(client follow "$BIN/http_bench" --http "$HTTP_ADDR" --resp "$RESP_ADDR" --mode all \
        --followers "$FOLLOWERS" --rate "$RATE" --secs "$SECS" --poll-interval "$POLL_INTERVAL" \
        --server-pid "$BPID")
    [[ -z $lines ]] && fail_row "all" follow
    while IFS= read -r line; do
        [[ -z $line ]] && continue
        echo "| $(get "$line" mode) | $(get "$line" followers) | $(get "$line" published) | $(get "$line" delivered) | $(get "$line" requests_per_msg) | $(get "$line" bytes_in_per_msg) | $(get "$line" bytes_out_per_msg) | $(ms "$(get "$line" p50_us)") | $(ms "$(get "$line" p99_us)") | $(ms "$(get "$line" max_us)") | $(get "$line" server_cpu_us_per_msg) | $(get "$line" errors) |"
    done <<<"$lines"
fi
stop_broker
echo
echo "Raw client output: $LOGDIR/"
} | tee "$OUT"
