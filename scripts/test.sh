#!/usr/bin/env bash
# The whole test suite (make test): sanitizer build, C unit tests, ops
# checks, integration tests against the real binary, and a fuzz smoke run.
# Each part prints "N passed, N failed"; this script adds them up and ends
# with the total on its own line.
set -uo pipefail
cd "$(dirname "$0")/.."

total_pass=0
total_fail=0
failed_parts=()

count() { # name, log file: add the part's last summary line to the totals
    local name=$1 log=$2 line p f
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    if [[ -z $line ]]; then
        echo "!! $name printed no summary: counted as 1 failure"
        p=0 f=1
    else
        p=${line%% passed*}
        f=${line#*passed, }
        f=${f%% failed*}
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    ((f > 0)) && failed_parts+=("$name")
    echo "== $name: $p passed, $f failed"
}

run_part() { # name, command...
    local name=$1
    shift
    local log
    log=$(mktemp)
    echo "== $name"
    "$@" 2>&1 | tee "$log"
    count "$name" "$log"
    rm -f "$log"
}

echo "== build (ASan + UBSan)"
if ! make -s asan; then
    echo "build failed"
    echo "0 passed, 1 failed"
    exit 1
fi
make -s ragws || { echo "0 passed, 1 failed"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# tests/unit mirrors the source tree (build/asan/tests/base/test_utf8, ...).
while read -r t; do
    run_part "unit ${t#build/asan/tests/}" "$t"
done < <(find build/asan/tests -type f -name 'test_*' -perm -u+x | sort)

run_part "ops checks" scripts/check-ops.sh

# The layer rules of README "Layout" (include directions, SQL and wire JSON
# placement, function and file sizes).
run_part "layer rules" /usr/bin/python3 scripts/check-layers.py

run_part "integration" /usr/bin/python3 tests/integration/run.py --bin build/asan/ragws

# Node suites with node's test runner, whose summary ("# pass N",
# "# fail N") is turned into the common line: tests/node (socket.io-client,
# ws from npm) and tests/browser (headless Debian chromium driven by
# playwright-core; scripts/deps.sh installs both).
node_suite() { # test directory
    local log rc
    log=$(mktemp)
    node --test --test-reporter=tap "$1" >"$log" 2>&1
    rc=$?
    cat "$log"
    local p f
    p=$(grep -E '^# pass [0-9]+' "$log" | tail -1 | awk '{print $3}')
    f=$(grep -E '^# fail [0-9]+' "$log" | tail -1 | awk '{print $3}')
    # a timed-out test is reported as cancelled, not failed
    local cancelled
    cancelled=$(grep -E '^# cancelled [0-9]+' "$log" | tail -1 | awk '{print $3}')
    [[ -n $f && -n $cancelled ]] && f=$((f + cancelled))
    rm -f "$log"
    if [[ -z $p || -z $f ]]; then
        echo "0 passed, 1 failed"
    else
        ((rc != 0 && f == 0)) && f=1
        echo "$p passed, $f failed"
    fi
}
if compgen -G "tests/node/*.test.js" >/dev/null; then
    run_part "node (socket.io)" node_suite tests/node/
fi
if compgen -G "tests/browser/*.test.js" >/dev/null; then
    run_part "browser (headless chromium)" node_suite tests/browser/
fi

# Fuzz smoke: each target briefly, from its seed corpus.
fuzz_pass=0 fuzz_fail=0
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    echo "== fuzz smoke $name"
    if make -s "build/fuzz/$name" && mkdir -p "build/fuzz/corpus-$name" &&
        "build/fuzz/$name" -max_total_time="${FUZZ_SECONDS:-15}" -print_final_stats=0 \
            "build/fuzz/corpus-$name" "tests/fuzz/corpus/$name" >"build/fuzz/$name.log" 2>&1; then
        echo "ok - fuzz $name"
        fuzz_pass=$((fuzz_pass + 1))
    else
        echo "not ok - fuzz $name"
        tail -40 "build/fuzz/$name.log"
        fuzz_fail=$((fuzz_fail + 1))
        failed_parts+=("fuzz $name")
    fi
done
total_pass=$((total_pass + fuzz_pass))
total_fail=$((total_fail + fuzz_fail))

echo
if ((${#failed_parts[@]})); then
    echo "failed parts: ${failed_parts[*]}"
fi
echo "$total_pass passed, $total_fail failed"
((total_fail == 0))
