#!/usr/bin/env bash
# Benchmarks ragws against a reference Node server built on the `ws` package
# (bench/reference/ws_server.js), with the same load generator
# (bench/loadgen.c) and the same figures for both:
#   - fan-out saturation: deliveries/s with BENCH_SUBS subscribers, 64 B
#   - fan-out latency at half of each server's own saturation rate
#   - resident memory per idle connection at BENCH_IDLE_CONNS connections
#   - WebSocket handshakes per second
#   - Socket.IO room fan-out: BENCH_SIO_SUBS Socket.IO clients (websocket) in
#     project_1, events from POST /api/projects/1/broadcast; the reference
#     for these rows is bench/reference/sio_server.js (npm socket.io)
# Ends with a table (also written to build/bench/last.txt).
#
# Knobs: BENCH_SECONDS (10), BENCH_SUBS (1000), BENCH_IDLE_CONNS (10000),
#        BENCH_ONLY (all | ragws | reference), BENCH_WARMUP (2),
#        BENCH_HANDSHAKE_SECONDS (5),
#        BENCH_SIO (1; 0 skips the Socket.IO case), BENCH_SIO_SUBS (1000),
#        BENCH_SIO_SECONDS (5), BENCH_SIO_WARMUP (1),
#        BENCH_SIO_RATE (msg/s of the latency run; default half of the lower
#        of the two saturation rates).
# Every server this script starts is stopped by PID, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_SUBS=${BENCH_SUBS:-1000}
BENCH_IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
BENCH_ONLY=${BENCH_ONLY:-all}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_HANDSHAKE_SECONDS=${BENCH_HANDSHAKE_SECONDS:-5}
BENCH_SIO=${BENCH_SIO:-1}
BENCH_SIO_SUBS=${BENCH_SIO_SUBS:-1000}
BENCH_SIO_SECONDS=${BENCH_SIO_SECONDS:-5}
BENCH_SIO_WARMUP=${BENCH_SIO_WARMUP:-1}
BENCH_SIO_RATE=${BENCH_SIO_RATE:-}
BENCH_HS_PROCS=${BENCH_HS_PROCS:-2}   # load generator processes for handshakes/s
SIO_PUB_CONNS=4
MSG_SIZE=64

OUT=build/bench
LOADGEN=$OUT/loadgen
mkdir -p "$OUT"

case $BENCH_ONLY in
all) SERVERS="ragws reference" ;;
ragws | reference) SERVERS=$BENCH_ONLY ;;
*) echo "bench: BENCH_ONLY must be all, ragws or reference" >&2; exit 2 ;;
esac

log() { printf 'bench: %s\n' "$*" >&2; }

# ---------------------------------------------------------------- cleanup
SERVER_PID=""
SERVER_NAME=""
SERVER_KIDS=""
SERVER_WHAT=""   # what the current server instance is used for
LOADGEN_PID=""
NOTES=()

# SIGTERM, wait, then SIGKILL; workers the master leaves behind are
# stopped by the PIDs recorded while it was up.
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    local pid=$SERVER_PID kids k now
    now=$(child_ids "$pid" | sort | tr '\n' ' ')
    # A worker that died and was respawned means the figures of this
    # instance include a crash: say so under the table.
    if [ "$now" != "$SERVER_KIDS" ]; then
        NOTES+=("$SERVER_NAME: worker processes changed during $SERVER_WHAT (a crash and respawn?); see $OUT/$SERVER_NAME.log")
    fi
    kids="$SERVER_KIDS $now"
    SERVER_PID=""
    SERVER_KIDS=""
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    for k in $kids; do
        # pid:starttime, so a recycled pid is never hit
        if [ "$(proc_id "${k%%:*}")" = "$k" ]; then
            log "worker ${k%%:*} outlived its master; killing it"
            kill -KILL "${k%%:*}" 2>/dev/null || true
        fi
    done
}

proc_id() {   # "pid:starttime" of a live process, empty if gone
    local pid=$1 stat
    stat=$(cat /proc/"$pid"/stat 2>/dev/null) || return 0
    stat=${stat##*) }               # drop "pid (comm) ": field 3 comes first
    # shellcheck disable=SC2086
    set -- $stat
    echo "$pid:${20}"               # field 22, starttime
}

child_ids() {   # proc_id of every descendant of $1
    local c
    # shellcheck disable=SC2013  # the file is space-separated pids
    for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        proc_id "$c"
        child_ids "$c"
    done
}

# shellcheck disable=SC2317  # invoked by trap
cleanup() {
    local rc=$?
    if [ -n "$LOADGEN_PID" ]; then
        kill -TERM "$LOADGEN_PID" 2>/dev/null || true
        wait "$LOADGEN_PID" 2>/dev/null || true
    fi
    stop_server
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- setup
# 10k+ sockets on each side; servers inherit this limit from us.
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((BENCH_IDLE_CONNS + 1000)) ]; then
    log "warning: open-file limit $(ulimit -n) is low for $BENCH_IDLE_CONNS connections"
fi

for tool in cc curl; do
    command -v "$tool" >/dev/null || { log "missing $tool (run scripts/deps.sh)"; exit 1; }
done
log "building $LOADGEN"
cc -std=c11 -O2 -Wall -Wextra -Werror -o "$LOADGEN" bench/loadgen.c -lm

if [[ " $SERVERS " == *" reference "* ]]; then
    command -v node >/dev/null || { log "missing node"; exit 1; }
    if [ ! -d node_modules/ws ] || [ ! -d node_modules/socket.io ]; then
        log "npm ci"
        npm ci --no-audit --no-fund --loglevel=error >&2
    fi
fi
if [[ " $SERVERS " == *" ragws "* ]] && [ ! -x ./ragws ]; then
    log "./ragws is missing: run make ragws (or BENCH_ONLY=reference)"
    exit 1
fi

# A port below the ephemeral range, so the load generator's own client
# ports can never collide with it, and not currently listening.
pick_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then
            echo "$p"
            return 0
        fi
    done
    log "no free port found"
    return 1
}

wait_health() {   # port pid seconds
    local deadline=$((SECONDS + $3))
    while [ $SECONDS -lt "$deadline" ]; do
        kill -0 "$2" 2>/dev/null || return 1
        if curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$1/health"; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# start_server NAME WHAT: sets SERVER_PID and PORT, or returns non-zero.
start_server() {
    SERVER_NAME=$1
    SERVER_WHAT=$2
    PORT=$(pick_port)
    local logf="$OUT/$1.log"
    if [ "$1" = ragws ]; then
        ./ragws -c ragws.conf -o server.listen=127.0.0.1:"$PORT" -o server.workers=2 \
            -o limits.max_connections=100000 -o limits.max_connections_per_ip=0 \
            -o limits.rate_limit=1000000 -o limits.rate_burst=1000000 \
            -o log.level=warn >>"$logf" 2>&1 &
    elif [ "$1" = sio-reference ]; then
        node bench/reference/sio_server.js "$PORT" >>"$logf" 2>&1 &
    else
        node bench/reference/ws_server.js "$PORT" >>"$logf" 2>&1 &
    fi
    SERVER_PID=$!
    if ! wait_health "$PORT" "$SERVER_PID" 20; then
        log "$1 did not become healthy on port $PORT (last lines of $logf):"
        tail -n 20 "$logf" >&2 || true
        stop_server
        return 1
    fi
    if [[ $1 == *reference ]] && ! grep -q '^ready$' "$logf"; then
        log "reference answered /health before printing ready"
    fi
    sleep 0.2   # let the workers all start before noting who they are
    SERVER_KIDS=$(child_ids "$SERVER_PID" | sort | tr '\n' ' ')
    return 0
}

# ---------------------------------------------------------------- running
declare -A R   # R[server.figure] = value
FAILED=0

# run_loadgen SERVER LABEL ARGS...: prints its output, sets LAST_RESULT.
run_loadgen() {
    local server=$1 label=$2
    shift 2
    local out rc=0
    log "$server: $label: loadgen $*"
    # In the background, so that a signal to this script is handled at once
    # (bash runs traps only between foreground commands).
    timeout -k 5 300 "$LOADGEN" "$@" --port "$PORT" >"$OUT/loadgen.out" 2>&1 &
    LOADGEN_PID=$!
    wait "$LOADGEN_PID" || rc=$?
    LOADGEN_PID=""
    out=$(cat "$OUT/loadgen.out")
    printf '%s\n' "$out" | sed "s/^/  [$server] /" >&2
    printf '%s\n' "$out" >>"$OUT/$server.loadgen.log"
    LAST_RESULT=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n 1 || true)
    if [ $rc -ne 0 ] || [ -z "$LAST_RESULT" ] || [[ $LAST_RESULT == *" error="* ]]; then
        log "$server: $label failed (exit $rc)"
        FAILED=1
        LAST_RESULT=""
        return 1
    fi
    return 0
}

kv() {   # kv KEY: value of KEY in LAST_RESULT
    printf '%s\n' "$LAST_RESULT" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

bench_server() {
    local s=$1
    : >"$OUT/$s.log"
    : >"$OUT/$s.loadgen.log"

    # Fan-out: saturation, then paced at half of this server's own rate.
    if start_server "$s" "fan-out"; then
        if run_loadgen "$s" "fan-out saturation" fanout --subs "$BENCH_SUBS" --size $MSG_SIZE \
            --seconds "$BENCH_SECONDS" --warmup "$BENCH_WARMUP"; then
            R[$s.sat_dps]=$(kv deliveries_per_s)
            R[$s.sat_mps]=$(kv msgs_per_s)
            R[$s.sat_pct]=$(kv delivered_pct)
            R[$s.sat_p99]=$(kv p99_us)
            R[$s.sat_loss]=$(($(kv gaps) + $(kv other) + $(kv reorder) + $(kv closed)))
            R[$s.sat_cpu]=$(kv loadgen_cpu_pct)
            local rate
            rate=$(awk -v m="${R[$s.sat_mps]}" 'BEGIN { r = m / 2; printf "%.1f", (r < 1 ? 1 : r) }')
            R[$s.half_rate]=$rate
            if run_loadgen "$s" "fan-out at $rate msg/s" fanout --subs "$BENCH_SUBS" --size $MSG_SIZE \
                --seconds "$BENCH_SECONDS" --warmup "$BENCH_WARMUP" --rate "$rate"; then
                R[$s.half_p50]=$(kv p50_us)
                R[$s.half_p99]=$(kv p99_us)
                R[$s.half_p999]=$(kv p999_us)
                R[$s.half_pct]=$(kv delivered_pct)
                R[$s.half_loss]=$(($(kv gaps) + $(kv other) + $(kv reorder) + $(kv closed)))
            fi
        fi
        stop_server
    else
        FAILED=1
    fi

    # Idle memory on a fresh server, so earlier runs' heap growth is not
    # mistaken for (or hidden from) per-connection cost.
    if start_server "$s" "idle memory"; then
        if run_loadgen "$s" "idle memory" idle --conns "$BENCH_IDLE_CONNS" --pid "$SERVER_PID"; then
            R[$s.idle_bpc]=$(kv bytes_per_conn)
            R[$s.idle_pss]=$(kv pss_bytes_per_conn)
            R[$s.idle_mib]=$(awk -v a="$(kv rss_after_kb)" 'BEGIN { printf "%.1f", a / 1024 }')
        fi
        stop_server
    else
        FAILED=1
    fi

    if start_server "$s" "handshakes"; then
        # Two generator processes: one alone is the bottleneck before ragws
        # is (it does the same connect/handshake/close work on its side).
        local i hs=0 fail=0 ok=1 gens=()
        for i in $(seq "$BENCH_HS_PROCS"); do
            timeout -k 5 120 "$LOADGEN" handshake --seconds "$BENCH_HANDSHAKE_SECONDS" \
                --concurrency 50 --port "$PORT" >"$OUT/hs.$i.out" 2>&1 &
            gens+=($!)
        done
        # only the generators: a bare `wait` would wait for the server too
        for i in "${gens[@]}"; do wait "$i" || true; done
        for i in $(seq "$BENCH_HS_PROCS"); do
            sed "s/^/  [$s hs $i] /" "$OUT/hs.$i.out" >&2
            LAST_RESULT=$(grep '^RESULT ' "$OUT/hs.$i.out" | tail -n 1 || true)
            if [ -z "$LAST_RESULT" ]; then ok=0; continue; fi
            hs=$(awk -v a="$hs" -v b="$(kv handshakes_per_s)" 'BEGIN { printf "%.0f", a + b }')
            fail=$((fail + $(kv failures)))
        done
        if [ $ok = 1 ]; then
            R[$s.hs]=$hs
            R[$s.hs_fail]=$fail
        else
            log "$s: handshakes: a generator printed no result"
            FAILED=1
        fi
        stop_server
    else
        FAILED=1
    fi
}

# Latency at one common rate too: the reference's half-saturation rate is
# far below ragws's, so "each at half its own" alone compares unlike loads.
same_rate() {
    local rate=${R[reference.half_rate]}
    R[ragws.same_rate]=$rate
    R[reference.same_rate]=$rate
    R[reference.same_p50]=${R[reference.half_p50]:-}
    R[reference.same_p99]=${R[reference.half_p99]:-}
    if start_server ragws "fan-out at one rate"; then
        if run_loadgen ragws "fan-out at the reference's $rate msg/s" fanout --subs "$BENCH_SUBS" \
            --size $MSG_SIZE --seconds "$BENCH_SECONDS" --warmup "$BENCH_WARMUP" --rate "$rate"; then
            R[ragws.same_p50]=$(kv p50_us)
            R[ragws.same_p99]=$(kv p99_us)
        fi
        stop_server
    else
        FAILED=1
    fi
}

# The issue's latency goal: p99 at half of 1,000,000 deliveries/s, i.e.
# 500,000 / BENCH_SUBS messages per second (ragws only; the reference
# cannot sustain that rate).
goal_rate() {
    local rate
    rate=$(awk -v n="$BENCH_SUBS" 'BEGIN { printf "%.1f", 500000 / n }')
    R[ragws.goal_rate]=$rate
    if start_server ragws "fan-out at the goal rate"; then
        if run_loadgen ragws "fan-out at $rate msg/s (500,000 deliveries/s)" fanout --subs "$BENCH_SUBS" \
            --size $MSG_SIZE --seconds "$BENCH_SECONDS" --warmup "$BENCH_WARMUP" --rate "$rate"; then
            R[ragws.goal_p50]=$(kv p50_us)
            R[ragws.goal_p99]=$(kv p99_us)
            R[ragws.goal_p999]=$(kv p999_us)
            R[ragws.goal_pct]=$(kv delivered_pct)
        fi
        stop_server
    else
        FAILED=1
    fi
}

# Socket.IO room fan-out (seed 002 rooms): the same load generator speaks
# Engine.IO/Socket.IO to both servers (mode sio-fanout); the reference is
# the npm socket.io server. Saturation first, for both; then latency at one
# moderate rate for both (BENCH_SIO_RATE, or half of the lower saturation).
sio_server_name() {   # ragws -> ragws, reference -> sio-reference
    if [ "$1" = ragws ]; then echo ragws; else echo sio-reference; fi
}

sio_run() {   # sio_run SERVER LABEL [--rate R]: loadgen sio-fanout on a fresh server
    local s=$1 label=$2
    shift 2
    local name
    name=$(sio_server_name "$s")
    if ! start_server "$name" "Socket.IO $label"; then
        FAILED=1
        return 1
    fi
    local rc=0
    run_loadgen "$s" "Socket.IO room fan-out $label" sio-fanout --subs "$BENCH_SIO_SUBS" \
        --size $MSG_SIZE --seconds "$BENCH_SIO_SECONDS" --warmup "$BENCH_SIO_WARMUP" \
        --project 1 --pub-conns $SIO_PUB_CONNS "$@" || rc=1
    stop_server
    return $rc
}

sio_bench() {
    local s rate
    for s in $SERVERS; do
        if sio_run "$s" saturation; then
            R[$s.sio_sat_dps]=$(kv deliveries_per_s)
            R[$s.sio_sat_mps]=$(kv msgs_per_s)
            R[$s.sio_sat_pct]=$(kv delivered_pct)
            R[$s.sio_sat_p99]=$(kv p99_us)
            R[$s.sio_sat_loss]=$(($(kv gaps) + $(kv other) + $(kv reorder) + $(kv closed)))
        fi
    done
    rate=$BENCH_SIO_RATE
    if [ -z "$rate" ]; then
        rate=$(for s in $SERVERS; do echo "${R[$s.sio_sat_mps]:-}"; done |
            awk 'NF { if (min == "" || $1 < min) min = $1 } END {
                 if (min == "") exit; r = min / 2; printf "%.1f", (r < 1 ? 1 : r) }')
    fi
    if [ -z "$rate" ]; then
        log "Socket.IO: no saturation figure, so no rate for the latency run"
        FAILED=1
        return
    fi
    for s in $SERVERS; do
        R[$s.sio_rate]=$rate
        if sio_run "$s" "at $rate msg/s" --rate "$rate"; then
            R[$s.sio_p50]=$(kv p50_us)
            R[$s.sio_p99]=$(kv p99_us)
            R[$s.sio_p999]=$(kv p999_us)
            R[$s.sio_rate_pct]=$(kv delivered_pct)
            R[$s.sio_rate_loss]=$(($(kv gaps) + $(kv other) + $(kv reorder) + $(kv closed)))
        fi
    done
}

T_START=$SECONDS
for s in $SERVERS; do
    bench_server "$s"
done
if [ "$BENCH_ONLY" = all ] && [ -n "${R[reference.half_rate]:-}" ]; then
    same_rate
fi
if [ "$BENCH_ONLY" != reference ]; then
    goal_rate
fi
if [ "$BENCH_SIO" != 0 ]; then
    T_SIO=$SECONDS
    sio_bench
    log "Socket.IO case took $((SECONDS - T_SIO)) s"
fi

# ---------------------------------------------------------------- table
fmt_int() {   # thousands separators for big counts
    printf '%s\n' "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'
}

row() {   # row LABEL KEY [int]: ratio is ragws / reference
    local a=${R[ragws.$2]:-} b=${R[reference.$2]:-} ratio="-"
    if [ -n "$a" ] && [ -n "$b" ]; then
        ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2fx", a / b }')
    fi
    if [ "${3:-}" = int ]; then
        [ -n "$a" ] && a=$(fmt_int "$a")
        [ -n "$b" ] && b=$(fmt_int "$b")
    fi
    printf '%-52s | %14s | %14s | %8s\n' "$1" "${a:--}" "${b:--}" "$ratio"
}

{
    echo "ragws benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo none)"
    echo "$(nproc) cores, ${BENCH_SUBS} subscribers, ${MSG_SIZE} B messages, ${BENCH_SECONDS} s per fan-out run" \
         "(+${BENCH_WARMUP} s warm-up), ${BENCH_IDLE_CONNS} idle connections; ragws: 2 workers," \
         "reference: node $(node --version 2>/dev/null || echo '?') + ws $(node -p 'require("ws/package.json").version' 2>/dev/null || echo '?')"
    echo "ratio = ragws / reference; saturation = closed loop, at most 256 messages not yet delivered to every subscriber;"
    echo "latency = publisher's send to the frame's arrival in the subscriber's socket (kernel timestamp)"
    if [ "$BENCH_SIO" != 0 ]; then
        echo "Socket.IO rows: reference = node + socket.io $(node -p 'require("socket.io/package.json").version' 2>/dev/null || echo '?')" \
             "(bench/reference/sio_server.js); ${BENCH_SIO_SUBS} Socket.IO websocket clients in room project_1," \
             "${MSG_SIZE} B event data, events from POST /api/projects/1/broadcast pipelined on ${SIO_PUB_CONNS} keep-alive" \
             "connections, ${BENCH_SIO_SECONDS} s per run (+${BENCH_SIO_WARMUP} s warm-up)"
    fi
    echo
    printf '%-52s | %14s | %14s | %8s\n' "figure" "ragws" "ws reference" "ratio"
    printf '%s\n' "-----------------------------------------------------+----------------+----------------+---------"
    row "fan-out saturation, deliveries/s (higher is better)" sat_dps int
    row "  delivered % at saturation" sat_pct
    row "  gaps+other+closed at saturation" sat_loss
    row "  load generator CPU % during saturation" sat_cpu
    row "fan-out half-saturation rate, msg/s (each its own)" half_rate
    row "  p50 latency at that rate, us (lower is better)" half_p50
    row "  p99 latency at that rate, us (lower is better)" half_p99
    row "  p99.9 latency at that rate, us" half_p999
    row "  delivered % at that rate" half_pct
    row "fan-out at one rate for both, msg/s" same_rate
    row "  p50 latency at that rate, us (lower is better)" same_p50
    row "  p99 latency at that rate, us (lower is better)" same_p99
    row "fan-out at 500,000 deliveries/s (goal: p99 < 10 ms)" goal_rate
    row "  p50 latency at that rate, us" goal_p50
    row "  p99 latency at that rate, us" goal_p99
    row "  p99.9 latency at that rate, us" goal_p999
    row "  delivered % at that rate" goal_pct
    row "idle memory, bytes/connection (lower is better)" idle_bpc int
    row "  same, from PSS (shared pages split)" idle_pss int
    row "  resident MiB with ${BENCH_IDLE_CONNS} connections" idle_mib
    row "handshakes/s, ${BENCH_HS_PROCS} generator processes (higher is better)" hs int
    row "  handshake failures" hs_fail
    if [ "$BENCH_SIO" != 0 ]; then
        row "Socket.IO room fan-out saturation, deliveries/s" sio_sat_dps int
        row "  delivered % at saturation" sio_sat_pct
        row "  gaps+other+dup+closed at saturation" sio_sat_loss
        row "Socket.IO room fan-out at one rate for both, msg/s" sio_rate
        row "  p50 latency at that rate, us (lower is better)" sio_p50
        row "  p99 latency at that rate, us (lower is better)" sio_p99
        row "  delivered % at that rate" sio_rate_pct
    fi
    [ $FAILED -eq 0 ] || NOTES+=("some runs failed: '-' marks the figures they did not produce (details above and in $OUT/)")
    for n in "${NOTES[@]}"; do
        echo "NOTE: $n"
    done
} >"$OUT/last.txt"

# Token streaming and queries (the RAG issue): appends its own table.
if [ "${BENCH_QUERY:-1}" != 0 ] && [ "$BENCH_ONLY" = all ]; then
    scripts/bench-query.sh >&2 || FAILED=1
fi
# Ingestion throughput and serving under ingestion (issue 9): its own table.
if [ "${BENCH_INGEST:-1}" != 0 ] && [ "$BENCH_ONLY" != reference ]; then
    scripts/bench-ingest.sh >&2 || FAILED=1
fi

log "done in $((SECONDS - T_START)) s; logs in $OUT/"
echo
cat "$OUT/last.txt"
exit $FAILED
