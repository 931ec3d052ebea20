#!/usr/bin/env bash
# Query benchmark (part of make bench): queries per second end to end with
# the builtin backend, and the latency the gateway adds per token between
# the LLM backend's stream and the client's frame, at BENCH_STREAMS
# concurrent streams, beside a Node.js reference gateway (bench/reference/
# query_gateway.js) relaying the same backend. Appends its table to
# build/bench/last.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${BENCH_SECONDS:-10}
STREAMS=${BENCH_STREAMS:-100}
QPS_CLIENTS=${BENCH_QPS_CLIENTS:-50}
TOKENS=${BENCH_TOKENS:-50}
TOKEN_DELAY_MS=${BENCH_TOKEN_DELAY_MS:-20}
OUT=build/bench
mkdir -p "$OUT"
PGDIR=$(mktemp -d /tmp/ragws-bench-pg.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    scripts/pg-local.sh stop "$PGDIR" >/dev/null 2>&1 || true
    rm -rf "$PGDIR"
}
trap cleanup EXIT

# free_port, wait_http, start_bg
. scripts/bench-lib.sh
stop_pid() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
result() { grep '^RESULT' "$1" | tail -1; }
field() { sed -n "s/.* $2=\\([^ ]*\\).*/\\1/p; s/^RESULT $2=\\([^ ]*\\).*/\\1/p" <<<"$1" | head -1; }

echo "query bench: PostgreSQL, schema, sample documents"
CONNINFO=$(scripts/pg-local.sh start "$PGDIR" 2>/dev/null | tail -1)
./ragws migrate -o "postgres.conninfo=$CONNINFO" >/dev/null
./ragws ingest documents docs/samples/*.md -o "postgres.conninfo=$CONNINFO" >/dev/null

LLM_PORT=$(free_port)
llm=$(start_bg "$OUT/fake_llm.log" node bench/fake_llm_stamp.js "$LLM_PORT" "$TOKENS" "$TOKEN_DELAY_MS")
sleep 0.3
common=(-c ragws.conf -o server.workers=2 -o "postgres.conninfo=$CONNINFO" -o log.level=warn
        -o limits.max_connections_per_ip=0 -o limits.rate_limit=100000 -o limits.rate_burst=100000
        -o limits.max_inflight_per_connection=64)

echo "query bench: ragws, token latency ($STREAMS streams, $TOKENS tokens every ${TOKEN_DELAY_MS} ms)"
PORT=$(free_port)
srv=$(start_bg "$OUT/ragws-query.log" ./ragws "${common[@]}" -o "server.listen=127.0.0.1:$PORT" \
      -o llm.backend=openai -o "llm.url=http://127.0.0.1:$LLM_PORT")
wait_http "http://127.0.0.1:$PORT/ready" 20
node bench/query_bench.js tokens "ws://127.0.0.1:$PORT/ws/query" "$STREAMS" "$SECONDS_RUN" >"$OUT/q-ragws-tokens.log"
# ragws's own histogram: LLM token read from the backend's socket -> its
# frame handed to the kernel, i.e. what the gateway itself adds.
internal=$(curl -fsS "http://127.0.0.1:$PORT/metrics" | /usr/bin/python3 -c '
import sys, re
b = [(float(m.group(1)) if m.group(1) != "+Inf" else float("inf"), float(m.group(2)))
     for m in re.finditer(r"ragws_token_latency_seconds_bucket\{le=\"([^\"]+)\"\} (\S+)", sys.stdin.read())]
total = b[-1][1] if b else 0
def q(p):
    for le, c in b:
        if total and c >= p * total: return "<=%g" % (le * 1e6)
    return "-"
print("count=%d p50_us=%s p99_us=%s p999_us=%s" % (total, q(0.5), q(0.99), q(0.999)))')
stop_pid "$srv"
r_tok=$(result "$OUT/q-ragws-tokens.log")

echo "query bench: ragws, queries per second (builtin backend, $QPS_CLIENTS clients)"
PORT=$(free_port)
srv=$(start_bg "$OUT/ragws-qps.log" ./ragws "${common[@]}" -o "server.listen=127.0.0.1:$PORT" \
      -o llm.backend=builtin -o llm.builtin_token_delay=1ms)
wait_http "http://127.0.0.1:$PORT/ready" 20
node bench/query_bench.js qps "ws://127.0.0.1:$PORT/ws/query" "$QPS_CLIENTS" "$SECONDS_RUN" >"$OUT/q-ragws-qps.log"
stop_pid "$srv"
r_qps=$(result "$OUT/q-ragws-qps.log")

echo "query bench: reference gateway (node + ws), token latency"
PORT=$(free_port)
ref=$(start_bg "$OUT/ref-query.log" node bench/reference/query_gateway.js "$PORT" "$LLM_PORT")
wait_http "http://127.0.0.1:$PORT/health" 20
node bench/query_bench.js tokens "ws://127.0.0.1:$PORT/ws/query" "$STREAMS" "$SECONDS_RUN" >"$OUT/q-ref-tokens.log"
stop_pid "$ref"
f_tok=$(result "$OUT/q-ref-tokens.log")

echo "query bench: baseline, the backend's stream read directly (no gateway)"
node bench/query_bench.js direct "$LLM_PORT" "$STREAMS" "$SECONDS_RUN" >"$OUT/q-direct-tokens.log"
d_tok=$(result "$OUT/q-direct-tokens.log")
stop_pid "$llm"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
{
    echo
    echo "query benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $STREAMS concurrent streams, $TOKENS tokens each, one every ${TOKEN_DELAY_MS} ms"
    echo "token latency = backend's write of the token -> client's receipt of its frame (same monotonic clock)"
    printf '%-52s | %14s | %14s | %8s\n' figure ragws reference ratio
    printf '%-52s-+-%14s-+-%14s-+-%8s\n' "$(printf -- '-%.0s' {1..52})" "--------------" "--------------" "--------"
    for k in p50_us p99_us p999_us; do
        a=$(field "$r_tok" "$k"); b=$(field "$f_tok" "$k")
        printf '%-52s | %14s | %14s | %8s\n' "token latency $k (lower is better)" "$a" "$b" "$(ratio "$a" "$b")"
    done
    printf '%-52s | %14s | %14s | %8s\n' "tokens measured" "$(field "$r_tok" tokens)" "$(field "$f_tok" tokens)" ""
    for k in p50_us p99_us; do
        d=$(field "$d_tok" "$k")
        a=$(awk -v x="$(field "$r_tok" "$k")" -v y="$d" 'BEGIN { printf "%d", x - y }')
        b=$(awk -v x="$(field "$f_tok" "$k")" -v y="$d" 'BEGIN { printf "%d", x - y }')
        printf '%-52s | %14s | %14s | %8s\n' "added by the gateway, $k (minus direct $d)" "$a" "$b" "$(ratio "$a" "$b")"
    done
    printf '%-52s | %14s | %14s | %8s\n' "ragws internal: token arrival -> frame written" "" "" ""
    for k in p50_us p99_us p999_us; do
        printf '%-52s | %14s | %14s | %8s\n' "  $k (histogram bucket bound)" "$(sed -n "s/.*$k=\([^ ]*\).*/\1/p" <<<"$internal")" "n/a" ""
    done
    printf '%-52s | %14s | %14s | %8s\n' "queries/s end to end, builtin, $QPS_CLIENTS clients" "$(field "$r_qps" qps)" "n/a" ""
    printf '%-52s | %14s | %14s | %8s\n' "  errors during the qps run" "$(field "$r_qps" errors)" "" ""
} | tee -a "$OUT/last.txt"
