# shellcheck shell=bash
# lib.sh — helpers the benchmark scripts share (sourced by echo_compare.sh, sidecar_compare.sh
# and, through redis_servers.sh, broker_compare.sh, fanout_compare.sh and queue_compare.sh).

listening() { # port -> success if something listens on 127.0.0.1:port
    if command -v ss >/dev/null; then
        [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

# next_port: sets PORT to a free port, counting up from NEXT_PORT (which the caller sets, e.g.
# to its BASE_PORT): a fresh port for each server started avoids TIME_WAIT clashes.
next_port() {
    while listening "$NEXT_PORT"; do NEXT_PORT=$((NEXT_PORT + 1)); done
    # shellcheck disable=SC2034  # PORT is the caller's
    PORT=$NEXT_PORT
    NEXT_PORT=$((NEXT_PORT + 1))
}

# median_of "values..." -> "median (min–max)" ; plain value when there is one.
median_of() {
    tr ' ' '\n' <<<"$*" | grep -v '^$' | sort -g | awk '
        function f(x) { return (x >= 100 || x <= -100) ? sprintf("%.0f", x) : sprintf("%.3f", x) }
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "-"; exit }
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            if (NR == 1) print f(m); else printf "%s (%s–%s)\n", f(m), f(v[1]), f(v[NR])
        }'
}
