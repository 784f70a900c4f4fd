#!/usr/bin/env bash
# echo_compare.sh — measure several TCP echo servers side by side with
# examples/loadgen, in one run, and write a Markdown report.
#
# For every server in the list and every cell of the matrix it starts a fresh
# server pinned to one CPU, runs loadgen pinned to another, and records
# msgs/s, latency percentiles (from loadgen's RESULT line), the server's CPU
# time per message (utime+stime from /proc/PID/stat sampled exactly when
# loadgen prints "WINDOW start" / "WINDOW end", i.e. warm-up excluded), and
# syscalls per message where the server can report them (see HOOK below).
# Then, per server, the resident memory per idle connection: VmRSS before and
# after `loadgen --idle N`.
#
# Servers whose binary is missing or that fail to start are skipped with a
# message; the run carries on with the others.
#
# Usage: benches/echo_compare.sh [--servers LIST] [--out FILE] [--no-build] [--no-idle] [-h]
#
# Environment (flags win over environment):
#   SERVERS      servers to run, comma or space separated. Known names:
#                ringloop-uring-callback ringloop-uring-polling ringloop-uring-blocking
#                ringloop-epoll-callback ringloop-epoll-polling ringloop-epoll-blocking
#                (append -nodefer to a ringloop-uring-* name: IORING_SETUP_DEFER_TASKRUN off;
#                append -base to any ringloop name to run the binary ECHO_SERVER_BASE instead,
#                e.g. a copy of an earlier build, for an interleaved before/after comparison)
#                sync tokio mio liburing   (default: the first four, sync, tokio, mio;
#                liburing = benches/peers/liburing_echo, a hand-tuned C floor, needs liburing-dev)
#   SECS=5       measured seconds per cell        WARMUP=1   warm-up seconds per cell
#   MATRIX       cells as "conns:size:depth ..."
#                (default: 1,16,256,1000 conns x 64,4096 B at depth 1, plus 16:64:16)
#   REPEAT=1     runs of every (server, cell). With REPEAT>1 the runs are interleaved:
#                repetition by repetition, cell by cell, every server in turn (the order
#                rotates each repetition), so drift on the machine hits all servers alike;
#                the report then adds a summary table: per server and cell the MEDIAN
#                (and min-max) of server CPU us/msg, and the medians of msgs/s, p99.9 and
#                syscalls/msg. The per-run table stays as it is (one row per run).
#   IDLE_CONNS=10000   connections for the idle-memory measurement (0 or --no-idle: skip)
#   IDLE_HOLD=8        seconds loadgen holds them (RSS is read once all are up)
#   OUT=target/echo_compare.md   report file (also printed to stdout)
#   LOGDIR=<dir of OUT>/echo_compare_logs   server and loadgen logs
#   SERVER_CPU=0 LOADGEN_CPU=1   CPUs to pin to (PIN=0: no pinning)
#   BASE_PORT=17000              first port tried; each cell gets a fresh one
#   NO_BUILD=1                   do not build anything
#   Binary overrides (setting one also skips building it):
#   LOADGEN ECHO_SERVER SYNC_SERVER TOKIO_SERVER MIO_SERVER LIBURING_SERVER
#
# Output: a Markdown report (one row per cell: msgs/s, MB/s, p50/p99/p99.9 µs,
# server CPU µs/msg and %, loadgen CPU %, other CPU % on the machine — high
# means the cell was disturbed —, syscalls/msg, errors; then the idle-memory
# table, skipped servers and the raw loadgen RESULT lines), on stdout and in
# OUT. Progress goes to stderr.
#
# Example: SERVERS=sync,mio SECS=2 WARMUP=1 benches/echo_compare.sh

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

SERVERS=${SERVERS:-ringloop-uring-callback,ringloop-uring-polling,ringloop-uring-blocking,ringloop-epoll-callback,sync,tokio,mio}
OUT=${OUT:-$TARGET/echo_compare.md}
NO_BUILD=${NO_BUILD:-0}
IDLE_CONNS=${IDLE_CONNS:-10000}
while [[ $# -gt 0 ]]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --servers) SERVERS=${2:?--servers needs a value}; shift 2 ;;
        --servers=*) SERVERS=${1#*=}; shift ;;
        --out) OUT=${2:?--out needs a value}; shift 2 ;;
        --out=*) OUT=${1#*=}; shift ;;
        --no-build) NO_BUILD=1; shift ;;
        --no-idle) IDLE_CONNS=0; shift ;;
        *) echo "echo_compare: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

SECS=${SECS:-5}
WARMUP=${WARMUP:-1}
REPEAT=${REPEAT:-1}
MATRIX=${MATRIX:-"1:64:1 1:4096:1 16:64:1 16:4096:1 256:64:1 256:4096:1 1000:64:1 1000:4096:1 16:64:16"}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
PIN=${PIN:-1}
BASE_PORT=${BASE_PORT:-17000}
LOGDIR=${LOGDIR:-$(dirname "$OUT")/echo_compare_logs}
# How long to hold the idle connections (RSS is read once they are all up).
IDLE_HOLD=${IDLE_HOLD:-8}

# Binaries: remember which ones were overridden so they are not rebuilt.
declare -A OVERRIDDEN=()
for v in LOADGEN ECHO_SERVER SYNC_SERVER TOKIO_SERVER MIO_SERVER LIBURING_SERVER; do
    [[ -n ${!v:-} ]] && OVERRIDDEN[$v]=1
done
LOADGEN=${LOADGEN:-$TARGET/release/examples/loadgen}
ECHO_SERVER=${ECHO_SERVER:-$TARGET/release/examples/echo_server}
SYNC_SERVER=${SYNC_SERVER:-$TARGET/release/examples/sync_echo_server}
TOKIO_SERVER=${TOKIO_SERVER:-$ROOT/benches/peers/tokio_echo/target/release/tokio_echo}
MIO_SERVER=${MIO_SERVER:-$ROOT/benches/peers/mio_echo/target/release/mio_echo}
LIBURING_SERVER=${LIBURING_SERVER:-$TARGET/liburing_echo}

log() { echo "echo_compare: $*" >&2; }

[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || { echo "echo_compare: REPEAT must be a positive integer (got '$REPEAT')" >&2; exit 2; }
for n in "$SECS" "$WARMUP" "$IDLE_CONNS" "$IDLE_HOLD"; do
    [[ $n =~ ^[0-9]+(\.[0-9]+)?$ ]] || { log "SECS/WARMUP/IDLE_CONNS/IDLE_HOLD must be numbers (got '$n')"; exit 2; }
done
read -r -a SERVER_LIST <<<"${SERVERS//,/ }"
# wants PATTERN -> success if a selected server name matches the glob PATTERN.
wants() {
    local s
    for s in "${SERVER_LIST[@]}"; do
        # shellcheck disable=SC2053  # $1 is a glob on purpose
        [[ $s == $1 ]] && return 0
    done
    return 1
}
read -r -a CELLS <<<"$MATRIX"
for cell in "${CELLS[@]}"; do
    [[ $cell =~ ^[0-9]+:[0-9]+:[0-9]+$ ]] || { log "bad MATRIX cell '$cell' (want conns:size:depth)"; exit 2; }
done

# ---------------------------------------------------------------------------
# Server registry: sets SRV_BIN, SRV_ARGS (after --addr) and SRV_STATS (the
# stats hook function, empty if the server cannot report syscalls).
# ---------------------------------------------------------------------------
server_spec() {
    SRV_ARGS=()
    SRV_STATS=
    case $1 in
        ringloop-uring-*|ringloop-epoll-*)
            # ringloop-<backend>-<style>[-nodefer]; -nodefer turns off IORING_SETUP_DEFER_TASKRUN.
            # A -base suffix runs ECHO_SERVER_BASE instead (an earlier build, for an
            # interleaved before/after comparison).
            local rest=${1#ringloop-} defer=on bin=$ECHO_SERVER
            if [[ $rest == *-base ]]; then
                rest=${rest%-base}; bin=${ECHO_SERVER_BASE:-}
                [[ -n $bin ]] || return 1
            fi
            if [[ $rest == *-nodefer ]]; then rest=${rest%-nodefer}; defer=off; fi
            case ${rest#*-} in callback|polling|blocking) ;; *) return 1 ;; esac
            SRV_BIN=$bin
            SRV_ARGS=(--backend "${rest%%-*}" --style "${rest#*-}" --defer-taskrun "$defer")
            SRV_STATS=ringloop_stats ;;
        sync)  SRV_BIN=$SYNC_SERVER ;;
        tokio) SRV_BIN=$TOKIO_SERVER ;;
        mio)   SRV_BIN=$MIO_SERVER ;;
        liburing) SRV_BIN=$LIBURING_SERVER ;;
        *) return 1 ;;
    esac
}

# ---------------------------------------------------------------------------
# HOOK: server-side syscall counts  (stats_cmd)
#
# A server's SRV_STATS names a function called as `FN PID LOGFILE` at the start
# and at the end of the measured window. It must set STATS_SYSCALLS to the
# server's *cumulative* syscall count, or to "" if unknown (the table then says
# n/a). syscalls/msg = (end - start) / msgs measured by loadgen.
#
# It runs inside the measured window, so it uses bash builtins only: a forked
# grep, awk or sleep takes a core for a moment (there are two, one for the
# server and one for loadgen) and showed up as extra tail latency in the cells
# of the servers that have this hook, and only theirs.
#
# ringloop's examples/echo_server is expected to print, on SIGUSR1 (and on
# exit), one line to stdout or stderr of the form
#     STATS ... syscalls=<cumulative count> ...
# To support another server, write a function like this one and set SRV_STATS
# for it in server_spec above.
# ---------------------------------------------------------------------------
STATS_SYSCALLS=
# stats_lines LOGFILE -> STATS_COUNT (lines starting with STATS), STATS_LAST (the last one)
stats_lines() {
    local l
    STATS_COUNT=0 STATS_LAST=
    while IFS= read -r l; do
        [[ $l == STATS* ]] && { STATS_COUNT=$((STATS_COUNT + 1)); STATS_LAST=$l; }
    done <"$1"
}
ringloop_stats() {
    local pid=$1 logf=$2 before i key val caught=0
    STATS_SYSCALLS=
    # Only signal a server that catches or blocks SIGUSR1 (bit 10 of the
    # masks): for one that does not, the default action would kill it.
    while read -r key val; do
        [[ $key == SigCgt: || $key == SigBlk: ]] && (( (16#$val >> 9) & 1 )) && caught=1
    done <"/proc/$pid/status" 2>/dev/null
    (( caught )) || return 0
    stats_lines "$logf"; before=$STATS_COUNT
    kill -USR1 "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 500; i++)); do
        stats_lines "$logf"
        if (( STATS_COUNT > before )); then
            [[ $STATS_LAST =~ syscalls=([0-9]+) ]] && STATS_SYSCALLS=${BASH_REMATCH[1]}
            return 0
        fi
        read -r -t 0.001 -u "$PAUSE_FD" || :   # a 1 ms pause without forking `sleep`
    done
}
# --------------------------------------------------------------------------- end HOOK

# ---------------------------------------------------------------------------
# Process bookkeeping: everything started here is killed by PID on exit.
# ---------------------------------------------------------------------------
SRV_PID=
LG_PID=
WORK=$(mktemp -d "${TMPDIR:-/tmp}/echo_compare.XXXXXX")
# A FIFO held open read-write never delivers data: `read -t` on it is a sleep without a fork.
mkfifo "$WORK/pause"
exec {PAUSE_FD}<>"$WORK/pause"
cleanup() {
    [[ -n $LG_PID ]] && kill "$LG_PID" 2>/dev/null
    [[ -n $SRV_PID ]] && kill -KILL "$SRV_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

accept_queue() { # port -> connections waiting in the listener's accept queue
    ss -Hltn "sport = :$1" 2>/dev/null | awk '{print $2; exit}'
}

NEXT_PORT=$BASE_PORT

cpu_ticks() { # pid -> CPU_TICKS: utime+stime of the whole process, USER_TICKS: utime, in clock ticks
    local s
    CPU_TICKS= USER_TICKS=
    { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
    s=${s##*) }            # drop "pid (comm) ", comm may contain spaces
    # shellcheck disable=SC2086
    set -- $s              # now $1 is field 3 (state): utime is field 14, stime 15
    CPU_TICKS=$(( ${12} + ${13} ))
    USER_TICKS=${12}
}

machine_busy_ticks() { # -> BUSY_TICKS: busy clock ticks summed over all CPUs (from /proc/stat)
    local _cpu user nice sys _idle _iowait irq softirq steal
    read -r _cpu user nice sys _idle _iowait irq softirq steal _ </proc/stat
    BUSY_TICKS=$(( user + nice + sys + irq + softirq + steal ))
}

vmrss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null; }

kv() { # kv "LINE" key -> value of key=value in LINE
    [[ " $1 " =~ [[:space:]]$2=([^[:space:]]*) ]] && echo "${BASH_REMATCH[1]}"
}

# start_server NAME PORT LOGFILE -> SRV_PID, or failure with START_ERR set
start_server() {
    server_spec "$1" || { START_ERR="unknown server name"; return 1; }
    if [[ ! -x $SRV_BIN ]]; then
        START_ERR="binary not found: $SRV_BIN"
        return 1
    fi
    # A plain background command (no function or subshell around it), and
    # taskset execs the server, so $! is the server's own PID.
    "${SRV_PIN[@]}" "$SRV_BIN" --addr "127.0.0.1:$2" "${SRV_ARGS[@]}" >"$3" 2>&1 &
    SRV_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$SRV_PID" 2>/dev/null; then
            wait "$SRV_PID" 2>/dev/null
            START_ERR="exited at startup (status $?): $(tail -n 3 "$3" | tr '\n' ' ')"
            SRV_PID=
            return 1
        fi
        listening "$2" && return 0
        sleep 0.05
    done
    START_ERR="not listening on port $2 after 5 s"
    stop_server
    return 1
}

stop_server() {
    [[ -z $SRV_PID ]] && return
    kill -TERM "$SRV_PID" 2>/dev/null
    local i
    for ((i = 0; i < 40; i++)); do
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
    SRV_PID=
}

# start_loadgen ARGS... -> LG_PID, loadgen's stdout readable on fd 3
start_loadgen() {
    local fifo=$WORK/lg.fifo
    rm -f "$fifo"
    mkfifo "$fifo"
    "${LG_PIN[@]}" "$LOADGEN" "$@" >"$fifo" 2>>"$LOGDIR/loadgen.stderr" &
    LG_PID=$!
    exec 3<"$fifo"
}

finish_loadgen() {
    exec 3<&-
    # Normally it has exited by itself; the kill is for the timeout path.
    kill "$LG_PID" 2>/dev/null
    wait "$LG_PID" 2>/dev/null
    LG_PID=
}

fmt() { awk -v x="$1" -v f="$2" 'BEGIN { if (x == "" || x == "n/a") print "n/a"; else printf f, x }'; }

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")" "$LOGDIR" || exit 1
: >"$LOGDIR/loadgen.stderr"
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if (( $(ulimit -n) < IDLE_CONNS + 100 )); then
    log "warning: open-files limit $(ulimit -n) is low for $IDLE_CONNS idle connections"
fi
if [[ $PIN == 1 ]] && { ! command -v taskset >/dev/null || (( $(nproc) < 2 )); }; then
    log "warning: taskset missing or fewer than 2 CPUs: running unpinned"
    PIN=0
fi
SRV_PIN=() LG_PIN=()
if [[ $PIN == 1 ]]; then
    SRV_PIN=(taskset -c "$SERVER_CPU")
    LG_PIN=(taskset -c "$LOADGEN_CPU")
fi
CLK_TCK=$(getconf CLK_TCK)
# Anything else running (a build, say) steals CPU from the pinned server and
# loadgen and skews every number: measure how busy the machine is before
# starting (load average would lag, and counts our own past runs) and report it.
cpu_busy_pct() { # busy % of all CPUs over the next half second
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6; exit}' /proc/stat)
    sleep 0.5
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6; exit}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
        busy = y[1] - x[1]; idle = y[2] - x[2];
        printf "%.0f", (busy + idle > 0) ? 100 * busy / (busy + idle) : 0 }'
}
BUSY_START=$(cpu_busy_pct)
if (( BUSY_START > 10 )); then
    log "warning: CPUs are ${BUSY_START}% busy before starting; other processes will disturb the measurements"
fi

if [[ $NO_BUILD != 1 ]]; then
    examples=()
    [[ -z ${OVERRIDDEN[LOADGEN]:-} ]] && examples+=(loadgen)
    wants 'ringloop-*' && [[ -z ${OVERRIDDEN[ECHO_SERVER]:-} ]] && examples+=(echo_server)
    wants sync && [[ -z ${OVERRIDDEN[SYNC_SERVER]:-} ]] && examples+=(sync_echo_server)
    if (( ${#examples[@]} )); then
        args=()
        for e in "${examples[@]}"; do args+=(--example "$e"); done
        log "building ${examples[*]}"
        if ! (cd "$ROOT" && cargo build --release "${args[@]}"); then
            # One missing or broken example must not stop the others.
            for e in "${examples[@]}"; do
                (cd "$ROOT" && cargo build --release --example "$e") || log "build of example $e failed"
            done
        fi
    fi
    if wants liburing && [[ -z ${OVERRIDDEN[LIBURING_SERVER]:-} ]]; then
        # The C floor: needs liburing-dev (Debian) and a C compiler.
        log "building benches/peers/liburing_echo"
        cc -O2 -o "$LIBURING_SERVER" "$ROOT/benches/peers/liburing_echo/echo.c" -luring \
            || log "build of liburing_echo failed (apt-get install liburing-dev)"
    fi
    for p in tokio mio; do
        v=${p^^}_SERVER
        if wants "$p" && [[ -z ${OVERRIDDEN[$v]:-} ]]; then
            log "building benches/peers/${p}_echo"
            (cd "$ROOT/benches/peers/${p}_echo" && cargo build --release) || log "build of ${p}_echo failed"
        fi
    done
fi
if [[ ! -x $LOADGEN ]]; then
    log "loadgen not found at $LOADGEN (build failed? set LOADGEN=...)"
    exit 1
fi

# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------
ROWS=()       # Markdown table rows
IDLE_ROWS=()
RAW=()        # "server=NAME RESULT ..." lines
SKIPPED=()
# Every line loadgen prints should come within this many seconds (connecting
# 1000s of connections to a slow server can take a while).
LINE_TIMEOUT=$(awk -v w="$WARMUP" -v s="$SECS" -v h="$IDLE_HOLD" 'BEGIN { printf "%d", w + s + h + 120 }')

# run_cell NAME CONNS SIZE DEPTH [REP] -> 0, or 1 if the server did not start.
# Also leaves the cell's figures in LAST_CPU LAST_USER LAST_P999 LAST_MPS LAST_SC (empty if unknown).
run_cell() {
    local name=$1 conns=$2 size=$3 depth=$4 rep=${5:-}
    local tag="$name-c$conns-s$size-d$depth${rep:+-r$rep}"
    LAST_CPU= LAST_USER= LAST_P999= LAST_MPS= LAST_SC=
    local slog=$LOGDIR/$tag.server.log
    next_port
    if ! start_server "$name" "$PORT" "$slog"; then
        return 1
    fi
    local line result='' cpu0='' cpu1='' usr0='' usr1='' m0='' m1='' t0='' t1='' sc0='' sc1='' lg_pct=n/a alive=1
    start_loadgen --addr "127.0.0.1:$PORT" --conns "$conns" --size "$size" --depth "$depth" \
        --secs "$SECS" --warmup "$WARMUP"
    while IFS= read -r -t "$LINE_TIMEOUT" line <&3; do
        echo "$line" >>"$LOGDIR/$tag.loadgen.out"
        case $line in
            "WINDOW start")
                # Sample first, then ask for stats: the CPU numbers must be as
                # close to the window edge as possible.
                # Builtins only from here to "WINDOW end" (see the stats hook).
                cpu_ticks "$SRV_PID"; cpu0=$CPU_TICKS usr0=$USER_TICKS; machine_busy_ticks; m0=$BUSY_TICKS
                t0=$EPOCHREALTIME
                [[ -n $SRV_STATS ]] && { $SRV_STATS "$SRV_PID" "$slog"; sc0=$STATS_SYSCALLS; }
                ;;
            "WINDOW end")
                cpu_ticks "$SRV_PID" || alive=0; cpu1=$CPU_TICKS usr1=$USER_TICKS; machine_busy_ticks; m1=$BUSY_TICKS
                t1=$EPOCHREALTIME
                [[ -n $SRV_STATS ]] && { $SRV_STATS "$SRV_PID" "$slog"; sc1=$STATS_SYSCALLS; }
                ;;
            # loadgen measures its own CPU use over the window (getrusage).
            "loadgen cpu: "*) lg_pct=${line#loadgen cpu: }; lg_pct=${lg_pct%%%*} ;;
            RESULT*) result=$line ;;
        esac
    done
    finish_loadgen
    kill -0 "$SRV_PID" 2>/dev/null || alive=0
    stop_server
    if [[ -z $result ]]; then
        SKIPPED+=("$name $conns:$size:$depth: loadgen produced no RESULT (see $LOGDIR)")
        return 0
    fi
    (( alive )) || SKIPPED+=("$name $conns:$size:$depth: server died during the run")
    RAW+=("server=$name $result")
    local msgs mps
    msgs=$(kv "$result" msgs)
    mps=$(kv "$result" msgs_per_sec)
    local cpu_per_msg=n/a user_per_msg=n/a cpu_pct=n/a other_pct=n/a sc_per_msg=n/a
    if [[ -n $cpu0 && -n $cpu1 && -n $t0 && -n $t1 ]]; then
        read -r cpu_per_msg user_per_msg cpu_pct < <(awk -v a="$cpu0" -v b="$cpu1" -v ua="$usr0" -v ub="$usr1" \
            -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" -v m="$msgs" \
            'BEGIN { s = (b - a) / hz; u = (ub - ua) / hz
                     printf "%s %s %.0f\n", (m > 0 ? sprintf("%.2f", s * 1e6 / m) : "n/a"),
                         (m > 0 ? sprintf("%.2f", u * 1e6 / m) : "n/a"), 100 * s / (t1 - t0) }')
    fi
    # CPU time of everything else on the machine (in % of one core): should
    # be a few % (interrupt accounting); more means the cell was disturbed.
    if [[ $cpu_pct != n/a && $lg_pct =~ ^[0-9]+$ && -n $m0 && -n $m1 ]]; then
        other_pct=$(awk -v a="$m0" -v b="$m1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" -v s="$cpu_pct" -v l="$lg_pct" \
            'BEGIN { o = 100 * (b - a) / hz / (t1 - t0) - s - l; printf "%.0f", (o < 0 ? 0 : o) }')
    fi
    if [[ $sc0 =~ ^[0-9]+$ && $sc1 =~ ^[0-9]+$ ]] && (( msgs > 0 )); then
        sc_per_msg=$(awk -v a="$sc0" -v b="$sc1" -v m="$msgs" 'BEGIN { printf "%.2f", (b - a) / m }')
    fi
    LAST_CPU=$cpu_per_msg LAST_USER=$user_per_msg LAST_P999=$(kv "$result" p999_us) LAST_MPS=$mps LAST_SC=$sc_per_msg
    local row
    row="| $name | $conns | $size | $depth | $(fmt "$mps" %.0f) | $(fmt "$(kv "$result" mb_per_sec)" %.2f) \
| $(fmt "$(kv "$result" p50_us)" %.1f) | $(fmt "$(kv "$result" p99_us)" %.1f) | $(fmt "$(kv "$result" p999_us)" %.1f) \
| $cpu_per_msg | $user_per_msg | $cpu_pct | $lg_pct | $other_pct | $sc_per_msg | $(kv "$result" errors) |"
    ROWS+=("$row")
    log "$row"
    return 0
}

run_idle() { # run_idle NAME
    local name=$1 slog=$LOGDIR/$1-idle.server.log
    next_port
    start_server "$name" "$PORT" "$slog" || { SKIPPED+=("$name idle: $START_ERR"); return; }
    sleep 0.5
    local rss0 rss1='' prev line connected='' idle_result='' i q
    rss0=$(vmrss_kib "$SRV_PID")
    start_loadgen --addr "127.0.0.1:$PORT" --idle "$IDLE_CONNS" --secs "$IDLE_HOLD"
    while IFS= read -r -t "$LINE_TIMEOUT" line <&3; do
        echo "$line" >>"$LOGDIR/$name-idle.loadgen.out"
        case $line in
            "connected "*) connected=${line#connected }; connected=${connected%%/*} ;;
            "WINDOW start")
                # Every connection is up on the client side, but the server may
                # still be accepting: wait (at most ~5 s) until its accept queue
                # is empty and its RSS has stopped moving.
                prev=
                for ((i = 0; i < 20; i++)); do
                    sleep 0.25
                    q=$(accept_queue "$PORT")
                    rss1=$(vmrss_kib "$SRV_PID")
                    [[ ${q:-0} == 0 && -n $prev && $rss1 == "$prev" ]] && break
                    prev=$rss1
                done
                ;;
            IDLE_RESULT*) idle_result=$line ;;
        esac
    done
    finish_loadgen
    stop_server
    if [[ -z $rss1 || -z $rss0 || -z $connected || $connected == 0 ]]; then
        SKIPPED+=("$name idle: no measurement (connected=${connected:-?}, see $LOGDIR)")
        return
    fi
    RAW+=("server=$name ${idle_result:-IDLE_RESULT missing} rss_before_kib=$rss0 rss_after_kib=$rss1")
    local per
    per=$(awk -v a="$rss0" -v b="$rss1" -v n="$connected" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
    IDLE_ROWS+=("| $name | $connected | $rss0 | $rss1 | $per | $(kv "${idle_result:-}" errors) |")
    log "idle: $name connected=$connected rss ${rss0} -> ${rss1} KiB = $per B/conn"
}

VALID=()
for name in "${SERVER_LIST[@]}"; do
    if ! server_spec "$name"; then
        log "skipping $name: unknown server name"
        SKIPPED+=("$name: unknown server name")
        continue
    fi
    VALID+=("$name")
done

# Per (server, cell) samples of the repeated runs: "v1 v2 ..." keyed by "name|cell".
declare -A S_CPU=() S_USER=() S_P999=() S_MPS=() S_SC=() DEAD=()
add_sample() { # add_sample ARRAY KEY VALUE (numbers only)
    local -n arr=$1
    [[ $3 =~ ^[0-9]+(\.[0-9]+)?$ ]] && arr[$2]+="$3 "
    return 0
}

if (( REPEAT == 1 )); then
    for name in "${VALID[@]}"; do
        log "=== $name"
        started=0
        for cell in "${CELLS[@]}"; do
            IFS=: read -r c s d <<<"$cell"
            if ! run_cell "$name" "$c" "$s" "$d"; then
                log "skipping $name: $START_ERR"
                SKIPPED+=("$name: $START_ERR")
                break
            fi
            started=1
        done
        if (( started && IDLE_CONNS > 0 )); then
            run_idle "$name"
        fi
    done
else
    n_valid=${#VALID[@]}
    for ((rep = 1; rep <= REPEAT; rep++)); do
        log "=== repetition $rep/$REPEAT"
        for cell in "${CELLS[@]}"; do
            IFS=: read -r c s d <<<"$cell"
            for ((k = 0; k < n_valid; k++)); do
                # Rotate the order every repetition: no server always runs first (or last).
                name=${VALID[$(( (k + rep - 1) % n_valid ))]}
                [[ -n ${DEAD[$name]:-} ]] && continue
                if ! run_cell "$name" "$c" "$s" "$d" "$rep"; then
                    log "skipping $name: $START_ERR"
                    SKIPPED+=("$name: $START_ERR")
                    DEAD[$name]=1
                    continue
                fi
                key="$name|$cell"
                add_sample S_CPU "$key" "$LAST_CPU"
                add_sample S_USER "$key" "$LAST_USER"
                add_sample S_P999 "$key" "$LAST_P999"
                add_sample S_MPS "$key" "$LAST_MPS"
                add_sample S_SC "$key" "$LAST_SC"
            done
        done
    done
    if (( IDLE_CONNS > 0 )); then
        for name in "${VALID[@]}"; do
            [[ -z ${DEAD[$name]:-} ]] && run_idle "$name"
        done
    fi
fi

# sample_stat "v1 v2 ..." median|min|max FORMAT -> the statistic, or n/a without samples
sample_stat() {
    [[ -z ${1// /} ]] && { echo n/a; return; }
    tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk -v what="$2" -v f="$3" '
        { v[NR] = $1 }
        END {
            if (what == "min") x = v[1]
            else if (what == "max") x = v[NR]
            else x = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf f, x
        }'
}
count() { awk '{ print NF }' <<<"$1"; }

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
{
    echo "# Echo server comparison"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs."
    if [[ $PIN == 1 ]]; then
        echo "Server pinned to CPU $SERVER_CPU, loadgen (1 thread, closed loop) to CPU $LOADGEN_CPU."
    else
        echo "Unpinned; loadgen 1 thread, closed loop."
    fi
    echo "CPUs busy before the run: ${BUSY_START}% (other processes compete with the pinned server and loadgen; it should be ~0)."
    echo "Each cell: fresh server, ${WARMUP} s warm-up, ${SECS} s measured. Latency is round-trip as seen by loadgen."
    echo "srv CPU = server utime+stime over the measured window (clock-tick resolution: 1/${CLK_TCK} s); srv user = its utime alone, the part spent in the server's own code and libraries (the kernel's TCP work, which dominates, is the same for every server; utime is sampled at each tick, so a single run's figure is rough); lg CPU = loadgen's own (getrusage), to spot a client-bound cell (near 100 %). other CPU = all other CPU use on the machine during the window, in % of one core (a few % is interrupt accounting; more means the cell was disturbed)."
    echo
    if (( REPEAT > 1 )); then
        echo "Repeated runs: $REPEAT per server and cell, interleaved (per repetition, per cell, every server in turn, order rotated each repetition)."
        echo "Summary: medians over the runs (min-max for server CPU). Every single run is in the table after it."
        echo
        echo "| server | conns | size B | depth | runs | msgs/s (median) | p99.9 µs (median) | srv CPU µs/msg (median) | srv CPU µs/msg (min-max) | srv user µs/msg (median) | syscalls/msg (median) |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for cell in "${CELLS[@]}"; do
            IFS=: read -r c s d <<<"$cell"
            for name in "${VALID[@]}"; do
                key="$name|$cell"
                [[ -z ${S_CPU[$key]:-}${S_MPS[$key]:-} ]] && continue
                echo "| $name | $c | $s | $d | $(count "${S_MPS[$key]:-}") | $(sample_stat "${S_MPS[$key]:-}" median %.0f) \
| $(sample_stat "${S_P999[$key]:-}" median %.1f) | $(sample_stat "${S_CPU[$key]:-}" median %.2f) \
| $(sample_stat "${S_CPU[$key]:-}" min %.2f)-$(sample_stat "${S_CPU[$key]:-}" max %.2f) \
| $(sample_stat "${S_USER[$key]:-}" median %.2f) | $(sample_stat "${S_SC[$key]:-}" median %.2f) |"
            done
        done
        echo
        echo "Every run:"
        echo
    fi
    echo "| server | conns | size B | depth | msgs/s | MB/s | p50 µs | p99 µs | p99.9 µs | srv CPU µs/msg | srv user µs/msg | srv CPU % | lg CPU % | other CPU % | syscalls/msg | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for r in "${ROWS[@]}"; do echo "$r"; done
    if (( ${#IDLE_ROWS[@]} )); then
        echo
        echo "Resident memory per idle connection (server VmRSS before/after \`loadgen --idle $IDLE_CONNS\`; user-space memory only, kernel socket buffers are not in RSS):"
        echo
        echo "| server | idle conns | RSS before KiB | RSS after KiB | bytes/conn | errors |"
        echo "|---|---:|---:|---:|---:|---:|"
        for r in "${IDLE_ROWS[@]}"; do echo "$r"; done
    fi
    if (( ${#SKIPPED[@]} )); then
        echo
        echo "Skipped / problems:"
        echo
        for s in "${SKIPPED[@]}"; do echo "- $s"; done
    fi
    echo
    echo "Raw loadgen results:"
    echo
    echo '```'
    for r in "${RAW[@]}"; do echo "$r"; done
    echo '```'
} | tee "$OUT"
log "report written to $OUT, logs in $LOGDIR"
