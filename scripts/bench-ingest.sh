#!/usr/bin/env bash
# Ingestion benchmark (part of make bench; alone: scripts/bench-ingest.sh).
#   - throughput: pages/s of a generated BENCH_INGEST_PAGES-page text PDF
#     and MB/s of a BENCH_INGEST_MB MB plain text file, each from the POST
#     to its upload_complete on /ws/upload (bench/ingest_bench.py);
#   - serving while ingesting: broadcast latency (loadgen fanout, paced),
#     then /ws/query token latency (bench/query_bench.js against the
#     stamping fake LLM), each for BENCH_INGEST_LAT_SECONDS, first on an idle
#     server, then each while a BENCH_INGEST_MB MB ingest runs. Goal: the
#     figures under ingest within 20 % of the idle ones.
# One ragws (2 workers, release build ./ragws), one private PostgreSQL.
# Appends its table to build/bench/last.txt. About a minute in all.
set -euo pipefail
cd "$(dirname "$0")/.."
PAGES=${BENCH_INGEST_PAGES:-100}
MB=${BENCH_INGEST_MB:-50}
LAT_SECONDS=${BENCH_INGEST_LAT_SECONDS:-6}
SUBS=${BENCH_INGEST_SUBS:-500}
RATE=${BENCH_INGEST_RATE:-200}
STREAMS=${BENCH_INGEST_STREAMS:-20}
TOKENS=${BENCH_TOKENS:-50}
TOKEN_DELAY_MS=${BENCH_TOKEN_DELAY_MS:-20}
OUT=build/bench
LOADGEN=$OUT/loadgen
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/ragws-bench-ingest.XXXXXX)
PGDIR=$WORK/pg
mkdir -p "$PGDIR" "$WORK/uploads"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    scripts/pg-local.sh stop "$PGDIR" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
T0=$SECONDS

# free_port, wait_http, start_bg
. scripts/bench-lib.sh
result() { grep '^RESULT' "$1" | tail -1; }
field() { sed -n "s/.* $2=\\([^ ]*\\).*/\\1/p; s/^RESULT $2=\\([^ ]*\\).*/\\1/p" <<<"$1" | head -1; }

[ -x ./ragws ] || { echo "bench-ingest: ./ragws is missing (make ragws)" >&2; exit 1; }
[ -x "$LOADGEN" ] || cc -std=c11 -O2 -Wall -Wextra -Werror -o "$LOADGEN" bench/loadgen.c -lm

echo "ingest bench: documents ($PAGES-page PDF, 3 x $MB MB text)"
/usr/bin/python3 bench/ingest_bench.py gen-pdf "$WORK/report-$PAGES-pages.pdf" "$PAGES"
/usr/bin/python3 bench/ingest_bench.py gen-text "$WORK/texte-a.txt" "$MB" a
/usr/bin/python3 bench/ingest_bench.py gen-text "$WORK/texte-b.txt" "$MB" b
/usr/bin/python3 bench/ingest_bench.py gen-text "$WORK/texte-c.txt" "$MB" c

echo "ingest bench: PostgreSQL, schema, sample documents"
CONNINFO=$(scripts/pg-local.sh start "$PGDIR" 2>/dev/null | tail -1)
./ragws migrate -o "postgres.conninfo=$CONNINFO" >/dev/null
./ragws ingest documents docs/samples/*.md -o "postgres.conninfo=$CONNINFO" >/dev/null

LLM_PORT=$(free_port)
start_bg "$OUT/ingest-fake-llm.log" node bench/fake_llm_stamp.js "$LLM_PORT" "$TOKENS" "$TOKEN_DELAY_MS" >/dev/null
PORT=$(free_port)
start_bg "$OUT/ragws-ingest.log" ./ragws -c ragws.conf -o server.workers=2 -o "server.listen=127.0.0.1:$PORT" \
    -o "postgres.conninfo=$CONNINFO" -o log.level=warn -o limits.max_connections_per_ip=0 \
    -o limits.rate_limit=100000 -o limits.rate_burst=100000 -o limits.max_inflight_per_connection=64 \
    -o llm.backend=openai -o "llm.url=http://127.0.0.1:$LLM_PORT" \
    -o "ingest.upload_dir=$WORK/uploads" -o limits.max_upload_bytes=1GiB \
    -o ingest.max_extract_bytes=1GiB >/dev/null
wait_http "http://127.0.0.1:$PORT/ready" 20

# Serving figures, each alone (the token streams' answers broadcast
# follow-up questions to /api/v1/ws, which would mix into the fan-out run).
fanout() { # LABEL
    "$LOADGEN" fanout --port "$PORT" --subs "$SUBS" --size 64 --seconds "$LAT_SECONDS" --warmup 1 \
        --rate "$RATE" --timeout 120 >"$OUT/ingest-fanout-$1.log" 2>&1 || true
}
tokens() { # LABEL
    node bench/query_bench.js tokens "ws://127.0.0.1:$PORT/ws/query" "$STREAMS" "$LAT_SECONDS" \
        >"$OUT/ingest-tokens-$1.log" 2>&1 || true
}
# under_ingest FILE LABEL MEASURE: starts ingesting FILE, runs MEASURE once
# the upload was accepted, then waits for the ingest; prints its seconds and
# whether it outlasted the measurement.
under_ingest() {
    local log="$OUT/ingest-under-$2.log" end t_start t_meas
    /usr/bin/python3 bench/ingest_bench.py upload "$PORT" "bench_$2" "$1" "text/plain; charset=utf-8" >"$log" 2>&1 &
    local up=$!
    pids+=("$up")
    end=$((SECONDS + 60))
    until grep -q '^UPLOADED' "$log" 2>/dev/null; do
        ((SECONDS < end)) || { echo "bench-ingest: the $MB MB upload was not accepted" >&2; return 1; }
        sleep 0.05
    done
    t_start=$(date +%s.%N)
    "$3" "$2"
    t_meas=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    wait "$up" || true
    grep -q '^RESULT' "$log" || { echo "bench-ingest: the $MB MB ingest did not complete" >&2; return 1; }
    echo "$t_meas" >"$OUT/ingest-under-$2.meas"
}

echo "ingest bench: serving, idle: fan-out ($SUBS subscribers at $RATE msg/s, $LAT_SECONDS s)"
fanout idle
echo "ingest bench: serving, idle: $STREAMS token streams, $LAT_SECONDS s"
tokens idle

echo "ingest bench: throughput, $PAGES-page PDF"
/usr/bin/python3 bench/ingest_bench.py upload "$PORT" bench_pdf "$WORK/report-$PAGES-pages.pdf" application/pdf \
    >"$OUT/ingest-pdf.log"
r_pdf=$(result "$OUT/ingest-pdf.log")
echo "  $r_pdf"
echo "ingest bench: throughput, $MB MB text"
/usr/bin/python3 bench/ingest_bench.py upload "$PORT" bench_text "$WORK/texte-a.txt" "text/plain; charset=utf-8" \
    >"$OUT/ingest-text.log"
r_txt=$(result "$OUT/ingest-text.log")
echo "  $r_txt"

echo "ingest bench: fan-out while $MB MB are ingested"
under_ingest "$WORK/texte-b.txt" fanout fanout
echo "ingest bench: token streams while $MB MB are ingested"
under_ingest "$WORK/texte-c.txt" tokens tokens
r_uf=$(result "$OUT/ingest-under-fanout.log")
r_ut=$(result "$OUT/ingest-under-tokens.log")
covered() { # LABEL: did the ingest end after the measurement did (both from the 202)?
    local log="$OUT/ingest-under-$1.log" up
    up=$(sed -n 's/^UPLOADED t=\([^ ]*\).*/\1/p' "$log")
    awk -v u="$(field "$(result "$log")" seconds)" -v t="$up" -v m="$(cat "$OUT/ingest-under-$1.meas")" \
        'BEGIN { print (u - t >= m ? "yes" : "no") }'
}
cov_f=$(covered fanout)
cov_t=$(covered tokens)

bi=$(result "$OUT/ingest-fanout-idle.log"); bu=$(result "$OUT/ingest-fanout-fanout.log")
ti=$(result "$OUT/ingest-tokens-idle.log"); tu=$(result "$OUT/ingest-tokens-tokens.log")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
verdict() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0 || a == "") print "-"; else if (a <= 1.2 * b) print "met"; else print "missed" }'; }
{
    echo
    echo "ingestion benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), ragws 2 workers; throughput = POST sent -> upload_complete"
    echo "serving figures: $SUBS /api/v1/ws subscribers at $RATE broadcasts/s (64 B), then $STREAMS /ws/query token streams" \
         "($TOKENS tokens, one every $TOKEN_DELAY_MS ms), ${LAT_SECONDS} s each, idle and while a $MB MB text is ingested;" \
         "goal: under ingest within 20 % of idle"
    printf '%-52s | %14s | %14s | %8s | %s\n' figure idle "under ingest" ratio "goal <= 1.20x"
    printf '%-52s-+-%14s-+-%14s-+-%8s-+-%s\n' "$(printf -- '-%.0s' {1..52})" "--------------" "--------------" "--------" "------"
    for k in p50_us p99_us; do
        a=$(field "$bi" "$k"); b=$(field "$bu" "$k")
        printf '%-52s | %14s | %14s | %8s | %s\n' "broadcast latency $k" "$a" "$b" "$(ratio "$b" "$a")" \
            "$([ "$k" = p99_us ] && verdict "$b" "$a" || echo)"
    done
    printf '%-52s | %14s | %14s | %8s | %s\n' "  delivered %" "$(field "$bi" delivered_pct)" "$(field "$bu" delivered_pct)" "" ""
    printf '%-52s | %14s | %14s | %8s | %s\n' "  other messages (indexing_progress ...)" "$(field "$bi" other)" "$(field "$bu" other)" "" ""
    for k in p50_us p99_us; do
        a=$(field "$ti" "$k"); b=$(field "$tu" "$k")
        printf '%-52s | %14s | %14s | %8s | %s\n' "/ws/query token latency $k" "$a" "$b" "$(ratio "$b" "$a")" \
            "$([ "$k" = p99_us ] && verdict "$b" "$a" || echo)"
    done
    printf '%-52s | %14s | %14s | %8s | %s\n' "  tokens measured" "$(field "$ti" tokens)" "$(field "$tu" tokens)" "" ""
    printf '%-52s | %14s | %14s | %8s | %s\n' "  (fan-out) the ingest outlasted the measurement" "" "$cov_f" "" ""
    printf '%-52s | %14s | %14s | %8s | %s\n' "  (tokens) the ingest outlasted the measurement" "" "$cov_t" "" ""
    echo
    p=$(field "$r_pdf" pages); s=$(field "$r_pdf" seconds)
    printf '%-52s | %14s\n' "ingest throughput, $PAGES-page text PDF, pages/s" \
        "$(awk -v p="$p" -v s="$s" 'BEGIN { if (s > 0) printf "%.1f", p / s; else print "-" }')"
    printf '%-52s | %14s\n' "  seconds, status, chunks" "$s $(field "$r_pdf" status) $(field "$r_pdf" chunks)"
    b=$(field "$r_txt" bytes); s=$(field "$r_txt" seconds)
    printf '%-52s | %14s\n' "ingest throughput, $MB MB plain text, MB/s" \
        "$(awk -v b="$b" -v s="$s" 'BEGIN { if (s > 0) printf "%.2f", b / 1e6 / s; else print "-" }')"
    printf '%-52s | %14s\n' "  seconds, status, chunks" "$s $(field "$r_txt" status) $(field "$r_txt" chunks)"
    printf '%-52s | %14s\n' "  the same during the fan-out / token runs, seconds" "$(field "$r_uf" seconds) / $(field "$r_ut" seconds)"
} | tee -a "$OUT/last.txt"
echo "ingest bench: done in $((SECONDS - T0)) s" >&2
