#!/usr/bin/env bash
# sidecar_compare.sh — the sidecar benchmark of issue 7: the latency one proxy hop adds and the
# CPU it spends per request, for the ringloop sidecar (examples/sidecar, --mode tcp and
# --mode resp) next to twemproxy (Debian's nutcracker) and haproxy in TCP mode, against the
# broker reached directly, with the same client (redis-benchmark), in one run.
#
# Rows (each gets a fresh broker, release build, `--port 0 --http-port off`):
#   direct        redis-benchmark -> broker
#   sidecar-tcp   -> sidecar --mode tcp  (one pooled upstream connection per client)
#   sidecar-resp  -> sidecar --mode resp (clients multiplexed onto --lane-conns connections)
#   nutcracker    -> /usr/sbin/nutcracker (generated YAML: redis: true, one server,
#                    server_connections: NC_CONNS, preconnect)
#   haproxy       -> /usr/sbin/haproxy -f CFG -db (generated: mode tcp, nbthread 1)
# A missing nutcracker or haproxy is skipped with a note. Before a proxied row is measured, a
# probe SETs a random value through the proxy, reads it back from the broker directly and
# through the proxy; if that fails the row is dropped with a note.
#
# Measurements, per row, for SET and GET (3-byte values, one key), after a short warm-up:
#   latency  redis-benchmark -c 1 (one connection, no pipelining: a pure round trip, so the
#            hop shows) --csv: p50/p99 as redis-benchmark reports them, and the mean round trip
#            1/(requests/s). Added latency = row − direct.
#   CPU      the same -c 1 run, then -c CLIENTS, then -c CLIENTS -P PIPELINE: utime+stime of
#            the proxy and of the broker (/proc/PID/stat, all threads) over the run ÷ requests.
# Pinning: broker and proxy on SERVER_CPU (0), redis-benchmark on CLIENT_CPU (1).
#
# Usage: benches/sidecar_compare.sh [-h]
# Environment:
#   ROWS="direct sidecar-tcp sidecar-resp nutcracker haproxy"   rows, in this order
#   N_LAT=50000      requests per latency test (-c 1)
#   N_CPU=300000     requests per test at -c CLIENTS
#   N_PIPE=2000000   requests per test at -c CLIENTS -P PIPELINE (0: skip that load)
#   N_WARM=20000     warm-up requests per row (SET and GET, -c CLIENTS, not measured)
#   CLIENTS=50  PIPELINE=16
#   NC_CONNS=2       nutcracker server_connections (2 = the sidecar's default --lane-conns)
#   RESP_POOL=8 RESP_LANES=2     sidecar --mode resp: --pool-size, --lane-conns (the defaults)
#   TCP_POOL=CLIENTS+16          sidecar --mode tcp: --pool-size (one upstream conn per client)
#   SERVER_CPU=0 CLIENT_CPU=1    BASE_PORT=16500 (ports for nutcracker, haproxy, their stats)
#   NUTCRACKER=/usr/sbin/nutcracker  HAPROXY=/usr/sbin/haproxy
#   OUT=target/sidecar_compare.md   LOGDIR=target/sidecar_compare_logs   NO_BUILD=1: no cargo
# Needs redis-benchmark and redis-cli (apt-get install redis-tools), taskset, 2+ CPUs;
# optional: apt-get install nutcracker haproxy.
# Output: a Markdown report on stdout and in OUT; progress on stderr; logs and generated
# configs in LOGDIR.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
case ${1:-} in
    -h|--help) usage; exit 0 ;;
    "") ;;
    *) echo "sidecar_compare: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

ROWS=${ROWS:-direct sidecar-tcp sidecar-resp nutcracker haproxy}
N_LAT=${N_LAT:-50000}
N_CPU=${N_CPU:-300000}
N_PIPE=${N_PIPE:-2000000}
N_WARM=${N_WARM:-20000}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}
NC_CONNS=${NC_CONNS:-2}
RESP_POOL=${RESP_POOL:-8}
RESP_LANES=${RESP_LANES:-2}
TCP_POOL=${TCP_POOL:-$((CLIENTS + 16))}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BASE_PORT=${BASE_PORT:-16500}
NUTCRACKER=${NUTCRACKER:-/usr/sbin/nutcracker}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
OUT=${OUT:-$TARGET/sidecar_compare.md}
LOGDIR=${LOGDIR:-$(dirname "$OUT")/sidecar_compare_logs}
NO_BUILD=${NO_BUILD:-0}
BROKER=${BROKER:-$TARGET/release/examples/broker}
SIDECAR=${SIDECAR:-$TARGET/release/examples/sidecar}
# A redis-benchmark that cannot connect retries forever at 100 % CPU: bound every run.
BENCH_TIMEOUT=${BENCH_TIMEOUT:-60}

log() { echo "sidecar_compare: $*" >&2; }

for v in N_LAT N_CPU N_PIPE N_WARM CLIENTS PIPELINE NC_CONNS RESP_POOL RESP_LANES TCP_POOL \
         SERVER_CPU CLIENT_CPU BASE_PORT BENCH_TIMEOUT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { log "$v must be a non-negative integer (got '${!v}')"; exit 2; }
done
for t in redis-benchmark redis-cli taskset timeout awk; do
    command -v "$t" >/dev/null || { log "$t not found (redis-benchmark, redis-cli: apt-get install redis-tools)"; exit 1; }
done
(( $(nproc) >= 2 )) || { log "needs at least 2 CPUs (client and servers on different CPUs)"; exit 1; }
mkdir -p "$(dirname "$OUT")" "$LOGDIR" || exit 1

if [[ $NO_BUILD != 1 ]]; then
    log "building the broker and the sidecar (release)"
    (cd "$ROOT" && cargo build --release --example broker --example sidecar) >"$LOGDIR/build.log" 2>&1 \
        || { log "cargo build failed, see $LOGDIR/build.log"; exit 1; }
fi
for b in "$BROKER" "$SIDECAR"; do
    [[ -x $b ]] || { log "binary not found: $b"; exit 1; }
done

CLK_TCK=$(getconf CLK_TCK)
SRV_PIN=(taskset -c "$SERVER_CPU")
CLI_PIN=(taskset -c "$CLIENT_CPU")

# ---------------------------------------------------------------------------
# Processes: the broker and at most one proxy at a time, stopped by PID.
# ---------------------------------------------------------------------------
BROKER_PID='' PROXY_PID=''

stop_pid() { # PID: SIGTERM, up to 3 s, then SIGKILL
    local pid=$1 i
    [[ -z $pid ]] && return
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 60; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}
stop_all() { # the proxy first, so the broker has no connections left when it stops
    stop_pid "$PROXY_PID"; PROXY_PID=
    stop_pid "$BROKER_PID"; BROKER_PID=
}
trap stop_all EXIT
trap 'log "interrupted"; exit 130' INT TERM

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"
NEXT_PORT=$BASE_PORT

# wait_up PID WHAT LOGFILE [PORT]: until LOGFILE has "LISTENING addr" (sets ADDR), or, with
# PORT, until something listens on it. Fails (START_ERR set) if PID dies or after 5 s.
wait_up() {
    local pid=$1 what=$2 file=$3 port=${4:-} i line
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            START_ERR="$what exited at startup: $(tail -q -n 3 "$file" "${file%.out}.err" 2>/dev/null | tr '\n' ' ')"
            return 1
        fi
        if [[ -n $port ]]; then
            listening "$port" && { ADDR=127.0.0.1:$port; return 0; }
        else
            line=$(grep -m1 '^LISTENING ' "$file" 2>/dev/null)
            [[ -n $line ]] && { ADDR=${line#LISTENING }; return 0; }
        fi
        sleep 0.05
    done
    START_ERR="$what not listening after 5 s (log: $file)"
    return 1
}

start_broker() { # -> BROKER_PID, UPSTREAM (host:port)
    local out=$LOGDIR/$1.broker.out
    "${SRV_PIN[@]}" "$BROKER" --port 0 --http-port off >"$out" 2>"${out%.out}.err" &
    BROKER_PID=$!
    wait_up "$BROKER_PID" broker "$out" || return 1
    UPSTREAM=$ADDR
    BROKER_BACKEND=$(grep -o -m1 'backend: [a-z_]*' "${out%.out}.err" | cut -d' ' -f2)
}

# start_proxy ROW -> PROXY_PID, PROXY_ADDR, PROXY_DESC; or failure with START_ERR (SKIP=1: the
# program is not installed).
start_proxy() {
    local row=$1 out=$LOGDIR/$1.out cfg
    SKIP=0
    case $row in
        sidecar-tcp|sidecar-resp)
            local mode=${row#sidecar-} args
            if [[ $mode == tcp ]]; then
                args=(--pool-size "$TCP_POOL")
            else
                args=(--pool-size "$RESP_POOL" --lane-conns "$RESP_LANES")
            fi
            "${SRV_PIN[@]}" "$SIDECAR" --mode "$mode" --listen 127.0.0.1:0 --upstream "$UPSTREAM" \
                "${args[@]}" --stats-interval 0 --grace 500 >"$out" 2>"${out%.out}.err" &
            PROXY_PID=$!
            wait_up "$PROXY_PID" "sidecar --mode $mode" "$out" || return 1
            PROXY_ADDR=$ADDR
            PROXY_DESC="\`sidecar --mode $mode ${args[*]}\`, backend $(grep -o -m1 'backend: [a-z_]*' "${out%.out}.err" | cut -d' ' -f2)" ;;
        nutcracker)
            [[ -x $NUTCRACKER ]] || { SKIP=1; START_ERR="$NUTCRACKER not found (apt-get install nutcracker)"; return 1; }
            local stats_port
            next_port; stats_port=$PORT
            next_port
            cfg=$LOGDIR/nutcracker.yml
            cat >"$cfg" <<EOF
bench:
  listen: 127.0.0.1:$PORT
  hash: fnv1a_64
  distribution: ketama
  redis: true
  preconnect: true
  auto_eject_hosts: false
  server_connections: $NC_CONNS
  servers:
   - $UPSTREAM:1
EOF
            "${SRV_PIN[@]}" "$NUTCRACKER" -c "$cfg" -s "$stats_port" -a 127.0.0.1 -o "$LOGDIR/nutcracker.log" \
                >"$out" 2>&1 &
            PROXY_PID=$!
            wait_up "$PROXY_PID" nutcracker "$out" "$PORT" || return 1
            PROXY_ADDR=$ADDR
            PROXY_DESC="$("$NUTCRACKER" --version 2>&1 | grep -o -m1 'nutcracker-[0-9.]*'), \`server_connections: $NC_CONNS\`, \`preconnect: true\`" ;;
        haproxy)
            [[ -x $HAPROXY ]] || { SKIP=1; START_ERR="$HAPROXY not found (apt-get install haproxy)"; return 1; }
            next_port
            cfg=$LOGDIR/haproxy.cfg
            cat >"$cfg" <<EOF
global
    nbthread 1
    maxconn 2000

defaults
    mode tcp
    timeout connect 2s
    timeout client 2m
    timeout server 2m

frontend fe
    bind 127.0.0.1:$PORT
    default_backend be

backend be
    server broker $UPSTREAM
EOF
            "${SRV_PIN[@]}" "$HAPROXY" -f "$cfg" -db >"$out" 2>&1 &
            PROXY_PID=$!
            wait_up "$PROXY_PID" haproxy "$out" "$PORT" || return 1
            PROXY_ADDR=$ADDR
            PROXY_DESC="HAProxy $("$HAPROXY" -v 2>/dev/null | awk 'NR == 1 {print $3; exit}'), \`mode tcp\`, \`nbthread 1\`" ;;
        *) START_ERR="unknown row '$row'"; return 1 ;;
    esac
}

# probe ADDR: SET a random value through the proxy, GET it from the broker directly, GET it
# through the proxy. Fails (PROBE_ERR set) unless both GETs return it.
probe() {
    local port=${1##*:} bport=${UPSTREAM##*:} key val r1 r2 r3
    key="sidecar_compare:probe:$$:$RANDOM"
    val="v$RANDOM$RANDOM"
    r1=$(timeout 5 redis-cli -p "$port" SET "$key" "$val" 2>&1)
    r2=$(timeout 5 redis-cli -p "$bport" GET "$key" 2>&1)
    r3=$(timeout 5 redis-cli -p "$port" GET "$key" 2>&1)
    if [[ $r1 == OK && $r2 == "$val" && $r3 == "$val" ]]; then
        return 0
    fi
    PROBE_ERR="SET via proxy: '${r1//$'\n'/ }', GET from broker: '${r2//$'\n'/ }', GET via proxy: '${r3//$'\n'/ }'"
    return 1
}

cpu_ticks() { # pid -> utime+stime of the whole process (all threads), in clock ticks
    local s
    { s=$(<"/proc/$1/stat"); } 2>/dev/null || { echo 0; return 1; }
    s=${s##*) }            # drop "pid (comm) ", comm may contain spaces
    # shellcheck disable=SC2086
    set -- $s              # now $1 is field 3 (state): utime is field 14, stime 15
    echo $(( ${12} + ${13} ))
}
cpu_line() { # N -> "busy total" ticks of CPU N (/proc/stat)
    awk -v c="cpu$1" '$1 == c { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9; exit }' /proc/stat
}
busy_pct() { # "busy total" before, after -> busy %
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2];
        printf "%.0f", (t > 0) ? 100 * (y[1] - x[1]) / t : 0 }'
}
cpu_busy_pct() { # busy % of all CPUs over the next half second
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9; exit}' /proc/stat)
    sleep 0.5
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9; exit}' /proc/stat)
    busy_pct "$a" "$b"
}

# interrupted STATUS: a client killed by SIGINT/SIGTERM (Ctrl-C reaches it, and bash then carries
# on as if it had handled the signal): stop here too.
interrupted() {
    if (( $1 == 130 || $1 == 143 )); then log "interrupted"; exit 130; fi
}

# bench PORT TEST CONNS PIPE N: one redis-benchmark run, with the CPU of the broker and the
# proxy around it. Sets RPS P50 P99 (ms, as printed), B_TICKS P_TICKS (proxy: empty if none),
# CPU0 CPU1 (busy %), BENCH_ERR.
bench() {
    local port=$1 test=$2 conns=$3 pipe=$4 n=$5 line b0 b1 p0=0 p1=0 c00 c01 c10 c11 rc
    RPS='' P50='' P99='' BENCH_ERR=''
    c00=$(cpu_line "$SERVER_CPU"); c10=$(cpu_line "$CLIENT_CPU")
    b0=$(cpu_ticks "$BROKER_PID")
    [[ -n $PROXY_PID ]] && p0=$(cpu_ticks "$PROXY_PID")
    line=$(timeout --foreground "$BENCH_TIMEOUT" "${CLI_PIN[@]}" redis-benchmark -p "$port" -c "$conns" -P "$pipe" \
        -n "$n" -t "$test" --csv 2>>"$LOGDIR/redis-benchmark.err")
    rc=$?
    interrupted "$rc"
    b1=$(cpu_ticks "$BROKER_PID")
    [[ -n $PROXY_PID ]] && p1=$(cpu_ticks "$PROXY_PID")
    c01=$(cpu_line "$SERVER_CPU"); c11=$(cpu_line "$CLIENT_CPU")
    echo "$line" >>"$LOGDIR/redis-benchmark.csv"
    line=$(grep -m1 "^\"${test^^}\"," <<<"$line")
    # CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    IFS=, read -r _ RPS _ _ P50 _ P99 _ <<<"${line//\"/}"
    if (( rc != 0 )) || [[ -z $RPS ]]; then
        BENCH_ERR="redis-benchmark -c $conns -P $pipe -t $test failed (exit $rc)"
        RPS='' P50='' P99=''
    fi
    B_TICKS=$((b1 - b0))
    P_TICKS=
    [[ -n $PROXY_PID ]] && P_TICKS=$((p1 - p0))
    CPU0=$(busy_pct "$c00" "$c01"); CPU1=$(busy_pct "$c10" "$c11")
}

us_per_req() { # ticks n -> CPU µs per request
    [[ -z $1 ]] && { echo n/a; return; }
    awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }'
}
ms_to_us() { [[ -z $1 ]] && { echo n/a; return; }; awk -v x="$1" 'BEGIN { printf "%.0f", x * 1000 }'; }
mean_us() { [[ -z $1 ]] && { echo n/a; return; }; awk -v r="$1" 'BEGIN { printf "%.1f", 1e6 / r }'; }
delta() { # a b fmt -> a - b, or n/a
    [[ $1 == n/a || $2 == n/a || -z $1 || -z $2 ]] && { echo n/a; return; }
    awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { printf f, a - b }'
}

# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------
: >"$LOGDIR/redis-benchmark.err"
: >"$LOGDIR/redis-benchmark.csv"
ulimit -n "$(ulimit -Hn)" 2>/dev/null
BUSY_START=$(cpu_busy_pct)
(( BUSY_START > 10 )) && log "warning: CPUs are ${BUSY_START}% busy before starting; other processes will disturb the measurements"
RUN_START=$EPOCHREALTIME
RUN_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')

LOADS=("1:1:$N_LAT" "$CLIENTS:1:$N_CPU")
(( N_PIPE > 0 )) && LOADS+=("$CLIENTS:$PIPELINE:$N_PIPE")

declare -A LAT=()      # "row test" -> "rps mean_us p50_us p99_us"
LAT_ROWS=() CPU_ROWS=() NOTES=() DESCS=()
declare -A PROXY_CPU=() # "row test conns:pipe" -> proxy µs/request
declare -A TOTAL_CPU=() # "row test conns:pipe" -> broker+proxy µs/request

for row in $ROWS; do
    log "$row"
    if ! start_broker "$row"; then
        NOTES+=("**$row**: skipped, the broker did not start: $START_ERR")
        stop_all; continue
    fi
    if [[ $row == direct ]]; then
        port=${UPSTREAM##*:}
        DESCS+=("**direct**: the broker itself (backend $BROKER_BACKEND)")
    else
        if ! start_proxy "$row"; then
            if (( SKIP )); then NOTES+=("**$row**: skipped, $START_ERR")
            else NOTES+=("**$row**: skipped, did not start: $START_ERR"); fi
            stop_all; continue
        fi
        if ! probe "$PROXY_ADDR"; then
            NOTES+=("**$row**: skipped, the forwarding probe failed ($PROBE_ERR)")
            stop_all; continue
        fi
        port=${PROXY_ADDR##*:}
        DESCS+=("**$row**: $PROXY_DESC (forwarding probe passed)")
    fi
    # Warm-up (not measured): connections, pools, page faults, the key.
    for test in set get; do
        timeout --foreground "$BENCH_TIMEOUT" "${CLI_PIN[@]}" redis-benchmark -p "$port" -c "$CLIENTS" -n "$N_WARM" \
            -t "$test" -q >/dev/null 2>>"$LOGDIR/redis-benchmark.err"
        interrupted $?
    done
    for load in "${LOADS[@]}"; do
        IFS=: read -r conns pipe n <<<"$load"
        for test in set get; do
            T=${test^^}
            bench "$port" "$test" "$conns" "$pipe" "$n"
            if ! kill -0 "$BROKER_PID" 2>/dev/null || { [[ -n $PROXY_PID ]] && ! kill -0 "$PROXY_PID" 2>/dev/null; }; then
                NOTES+=("**$row** $T -c $conns -P $pipe: the broker or the proxy died during the run; rest of the row dropped (logs in $LOGDIR)")
                break 2
            fi
            if [[ -n $BENCH_ERR ]]; then
                NOTES+=("**$row** $T -c $conns -P $pipe: $BENCH_ERR")
                continue
            fi
            pcpu=$(us_per_req "$P_TICKS" "$n")
            bcpu=$(us_per_req "$B_TICKS" "$n")
            tcpu=$(us_per_req "$((B_TICKS + ${P_TICKS:-0}))" "$n")
            key="$row $T $conns:$pipe"
            PROXY_CPU[$key]=$pcpu
            TOTAL_CPU[$key]=$tcpu
            label="c=$conns"
            (( pipe > 1 )) && label+=" P=$pipe"
            CPU_ROWS+=("$row|$T|$label|$RPS|$pcpu|$bcpu|$tcpu|$key|$CPU0|$CPU1")
            if (( conns == 1 && pipe == 1 )); then
                LAT["$row $T"]="$RPS $(mean_us "$RPS") $(ms_to_us "$P50") $(ms_to_us "$P99")"
                LAT_ROWS+=("$row $T")
            fi
            log "  $T $label: $RPS req/s, p50 $P50 ms, p99 $P99 ms, proxy $pcpu µs/req, broker $bcpu µs/req"
        done
    done
    stop_all
done
RUN_SECS=$(awk -v a="$RUN_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')

# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------
model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
rustc_v=$(rustc --version 2>/dev/null | cut -d' ' -f1-2)
{
echo "# Sidecar: added latency and CPU per request (issue 7)"
echo
echo "$RUN_DATE, $(uname -sr), $(nproc) CPUs (${model:-unknown}), $mem${rustc_v:+, $rustc_v}; $(redis-benchmark --version | cut -d' ' -f1-2)."
echo "CPUs busy before the run: ${BUSY_START}%. Whole run: ${RUN_SECS} s."
echo
echo "Command: \`benches/sidecar_compare.sh\` with ROWS=\"$ROWS\" N_LAT=$N_LAT N_CPU=$N_CPU N_PIPE=$N_PIPE N_WARM=$N_WARM CLIENTS=$CLIENTS PIPELINE=$PIPELINE NC_CONNS=$NC_CONNS RESP_POOL=$RESP_POOL RESP_LANES=$RESP_LANES TCP_POOL=$TCP_POOL."
echo
echo "* upstream: \`examples/broker\` (release) \`--port 0 --http-port off\`, a fresh one per row;"
echo "* pinning: broker **and** proxy on CPU $SERVER_CPU (they share it), redis-benchmark on CPU $CLIENT_CPU;"
echo "* client: redis-benchmark, \`-t set\` / \`-t get\` (3-byte values, one key), \`--csv\`; each row first"
echo "  passes a forwarding probe (SET through the proxy, GET from the broker and through the proxy)"
echo "  and a warm-up of $N_WARM requests per test at \`-c $CLIENTS\`;"
for d in "${DESCS[@]}"; do echo "* $d;"; done
echo "* CPU = utime+stime from \`/proc/PID/stat\` (all threads) over the run ÷ requests; tick = $((1000 / CLK_TCK)) ms."
echo
echo "## Latency: one connection, no pipelining (\`-c 1\`, $N_LAT requests per test)"
echo
echo "mean = 1 / (requests/s), the exact mean round trip with one connection; p50/p99 are"
echo "redis-benchmark's, whose histogram has **8 µs buckets** below 16 ms (lowest discernible value"
echo "10 µs), so p50/p99 and their differences move in steps of 8 µs. added = row − direct."
echo
echo "| row | test | requests/s | mean µs | p50 µs | p99 µs | added mean µs | added p50 µs | added p99 µs |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for k in "${LAT_ROWS[@]}"; do
    read -r row T <<<"$k"
    read -r rps mean p50 p99 <<<"${LAT[$k]}"
    d=${LAT["direct $T"]:-"n/a n/a n/a n/a"}
    read -r _ dmean dp50 dp99 <<<"$d"
    if [[ $row == direct ]]; then am=— ap50=— ap99=—
    else am=$(delta "$mean" "$dmean" "%+.1f"); ap50=$(delta "$p50" "$dp50" "%+.0f"); ap99=$(delta "$p99" "$dp99" "%+.0f"); fi
    echo "| $row | $T | $rps | $mean | $p50 | $p99 | $am | $ap50 | $ap99 |"
done
echo
echo "## CPU per request"
echo
echo "proxy / broker = that process's CPU µs per request; total = both; added = total − direct's"
echo "total for the same test and load, i.e. what the hop costs the machine. CPU $SERVER_CPU / CPU $CLIENT_CPU %"
echo "= how busy each core was (CPU $CLIENT_CPU near 100 %: the client is the limit, not the proxy)."
echo "Requests per test: $N_LAT at c=1, $N_CPU at c=$CLIENTS$( (( N_PIPE > 0 )) && echo ", $N_PIPE at c=$CLIENTS P=$PIPELINE")."
echo
echo "| row | test | load | requests/s | proxy µs/req | broker µs/req | total µs/req | added µs/req | CPU $SERVER_CPU % | CPU $CLIENT_CPU % |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
for r in "${CPU_ROWS[@]}"; do
    IFS='|' read -r row T label rps pcpu bcpu tcpu key c0 c1 <<<"$r"
    dkey="direct ${key#* }"
    if [[ $row == direct ]]; then added=—
    else added=$(delta "$tcpu" "${TOTAL_CPU[$dkey]:-n/a}" "%+.2f"); fi
    echo "| $row | $T | $label | $rps | $pcpu | $bcpu | $tcpu | $added | $c0 | $c1 |"
done
echo
echo "## Against the targets of issue 7"
echo
echo "Target 1, at most 10 µs added at p50 on loopback (c=1):"
echo
t1=0
for row in sidecar-tcp sidecar-resp; do
    for T in SET GET; do
        [[ -n ${LAT["$row $T"]:-} && -n ${LAT["direct $T"]:-} ]] || continue
        read -r _ mean p50 _ <<<"${LAT["$row $T"]}"
        read -r _ dmean dp50 _ <<<"${LAT["direct $T"]}"
        ap50=$(delta "$p50" "$dp50" "%.0f"); am=$(delta "$mean" "$dmean" "%.1f")
        verdict=$(awk -v a="$ap50" 'BEGIN { print ((a <= 10) ? "met" : "not met") }')
        echo "* $row $T: added p50 $ap50 µs (added mean $am µs): **$verdict**"
        t1=1
    done
done
(( t1 )) || echo "* not measured (needs the direct row and a sidecar row)"
echo
echo "Target 2, less CPU per request than twemproxy (proxy µs/req, sidecar vs nutcracker):"
echo
t2=0
for load in "${LOADS[@]}"; do
    IFS=: read -r conns pipe _ <<<"$load"
    for T in SET GET; do
        nc=${PROXY_CPU["nutcracker $T $conns:$pipe"]:-}
        [[ -n $nc ]] || continue
        for row in sidecar-tcp sidecar-resp; do
            sc=${PROXY_CPU["$row $T $conns:$pipe"]:-}
            [[ -n $sc ]] || continue
            awk -v s="$sc" -v n="$nc" -v r="$row" -v t="$T" -v c="$conns" -v p="$pipe" 'BEGIN {
                printf "* %s %s c=%s%s: %.2f vs %.2f µs/req (%+.0f %%): **%s**\n", r, t, c,
                    (p > 1 ? " P=" p : ""), s, n, (n > 0 ? 100 * (s - n) / n : 0), (s < n ? "met" : "not met") }'
            t2=1
        done
    done
done
(( t2 )) || echo "* not measured (needs the nutcracker row and a sidecar row)"
if (( ${#NOTES[@]} )); then
    echo
    echo "## Notes"
    echo
    for n in "${NOTES[@]}"; do echo "* $n"; done
fi
echo
echo "Logs and generated configs: \`${LOGDIR#"$ROOT"/}\`."
} | tee "$OUT"
