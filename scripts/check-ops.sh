#!/usr/bin/env bash
# Checks the operations files: k6 scripts (type-checked against @types/k6),
# the systemd unit (systemd-analyze verify + offline security score), the
# websocat examples, the Grafana dashboard and the Prometheus alert rules
# (scripts/check-grafana.py, promtool). One line per check, "ok - name" or
# "not ok - name" followed by "#"-prefixed detail; last line
# "N passed, N failed"; exit status 1 if any check failed.
#
# Needs what scripts/deps.sh installs (systemd, node/npm, prometheus for
# promtool); the only network access is `npm ci` in scripts/k6/.typecheck
# when its node_modules is missing or older than its package-lock.json.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 2

tc=scripts/k6/.typecheck
unit=scripts/ragws.service
k6_scripts=(scripts/k6/broadcast.js scripts/k6/query.js scripts/k6/monitor.js scripts/k6/ingest.js)
# Exposure score of `systemd-analyze security` (0 = locked down, 10 = none);
# the unit scores about 1.6: fail if hardening is removed.
max_exposure=${MAX_EXPOSURE:-2.5}

passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# report NAME STATUS DETAIL...: prints the check line and, on failure, the
# detail with "# " in front of every line.
report() {
  local name=$1 status=$2
  shift 2
  if ((status == 0)); then
    echo "ok - $name"
    passed=$((passed + 1))
  else
    echo "not ok - $name"
    printf '%s\n' "$@" | sed -e '/^$/d' -e 's/^/#   /'
    failed=$((failed + 1))
  fi
}

# --- k6 scripts ------------------------------------------------------------

check_k6_typecheck() {
  local out rc
  if ! command -v npm >/dev/null 2>&1; then
    report "k6 scripts type-check" 1 "npm not found: run scripts/deps.sh"
    return
  fi
  if [[ ! -x $tc/node_modules/.bin/tsc || $tc/package-lock.json -nt $tc/node_modules ]]; then
    if ! out=$(npm ci --prefix "$tc" --no-audit --no-fund --loglevel=error 2>&1); then
      report "k6 scripts type-check" 1 "npm ci in $tc failed:" "$out"
      return
    fi
    touch "$tc/node_modules"
  fi
  # --prefix: use the tsc pinned in .typecheck, never fetch one.
  out=$(npx --prefix "$tc" --no-install tsc -p "$tc" 2>&1)
  rc=$?
  report "k6 scripts type-check (tsc + @types/k6)" "$rc" "$(grep -v '^npm warn' <<<"$out")"
}

check_k6_api() {
  local f bad=()
  for f in "${k6_scripts[@]}"; do
    if [[ ! -f $f ]]; then
      bad+=("$f: missing")
    elif ! grep -Eq "^import \{ WebSocket \} from 'k6/websockets';" "$f"; then
      bad+=("$f: does not import { WebSocket } from 'k6/websockets'")
    fi
    if grep -Eq "from 'k6/(experimental/websockets|ws)'" "$f" 2>/dev/null; then
      bad+=("$f: uses the deprecated k6/experimental/websockets or k6/ws")
    fi
  done
  report "k6 scripts use k6/websockets" "${#bad[@]}" "${bad[@]}"
}

# --- systemd unit ----------------------------------------------------------

# The unit as installed, with ExecStart*= pointing at /bin/true, so that
# verify does not fail on a /usr/local/bin/ragws that is not installed here.
verifiable_unit() {
  mkdir -p "$tmp/unit"
  sed -E 's#^(Exec[A-Za-z]*=[-@:+!]*)/usr/local/bin/ragws( |$)#\1/bin/true\2#' "$unit" >"$tmp/unit/ragws.service"
  echo "$tmp/unit/ragws.service"
}

check_systemd_verify() {
  local copy out rc ours
  if ! command -v systemd-analyze >/dev/null 2>&1; then
    report "systemd-analyze verify $unit" 1 "systemd-analyze not found: run scripts/deps.sh (package systemd)"
    return
  fi
  copy=$(verifiable_unit)
  out=$(systemd-analyze verify "$copy" 2>&1)
  rc=$?
  out=${out//"$copy"/$unit}
  # verify exits 0 on unknown keys and unparsable values (it only warns), so
  # any diagnostic about this unit is an error; lines about other units it
  # loads (network-online.target, postgresql.service) are not ours to fix.
  ours=$(grep -E "(^|/)ragws\.service" <<<"$out")
  if ((rc != 0)) || [[ -n $ours ]]; then
    report "systemd-analyze verify $unit" 1 "exit status $rc" "${ours:-$out}"
  else
    report "systemd-analyze verify $unit" 0
  fi
}

check_systemd_security() {
  local copy out rc score
  copy=$(verifiable_unit)
  out=$(systemd-analyze security --offline=true "$copy" 2>&1)
  rc=$?
  score=$(grep -oE 'Overall exposure level for ragws\.service: [0-9.]+' <<<"$out" | grep -oE '[0-9.]+$')
  if [[ -z $score ]]; then
    report "systemd security exposure <= $max_exposure" 1 "no score from systemd-analyze security (exit $rc)" "$out"
  elif awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }'; then
    report "systemd security exposure <= $max_exposure (is $score)" 0
  else
    report "systemd security exposure <= $max_exposure (is $score)" 1 "$(grep -E '^✗' <<<"$out")"
  fi
}

check_unit_directives() {
  local d missing=()
  # Lines that must be there exactly ...
  for d in 'Type=notify' 'ExecStart=/usr/local/bin/ragws -c /etc/ragws/ragws.conf' \
    'ExecReload=/bin/kill -HUP $MAINPID' 'LimitNOFILE=1048576' 'Restart=on-failure' 'KillMode=mixed' \
    'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' 'PrivateDevices=yes' \
    'ProtectKernelTunables=yes' 'ProtectKernelModules=yes' 'ProtectControlGroups=yes' \
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'RestrictNamespaces=yes' 'LockPersonality=yes' \
    'MemoryDenyWriteExecute=yes' 'SystemCallArchitectures=native' 'CapabilityBoundingSet='; do
    grep -qxF -- "$d" "$unit" || missing+=("$d")
  done
  # ... and settings whose value is a choice.
  grep -qE '^WatchdogSec=[1-9]' "$unit" || missing+=("WatchdogSec=")
  grep -qE '^(DynamicUser=yes|User=)' "$unit" || missing+=("User= or DynamicUser=yes")
  # TimeoutStopSec must exceed the default drain_timeout (10 s).
  local stop
  stop=$(sed -nE 's/^TimeoutStopSec=([0-9]+)s?$/\1/p' "$unit")
  [[ -n $stop && $stop -gt 10 ]] || missing+=("TimeoutStopSec= in seconds, over 10 (drain_timeout)")
  report "ragws.service has the required directives" "${#missing[@]}" "${missing[@]/#/missing: }"
}

# --- websocat examples -----------------------------------------------------

# The WebSocket paths the server registers (the `.path = "..."` of each
# endpoint in worker/), so the document can neither miss one nor describe
# one that answers 404.
served_ws_paths() {
  grep -rhoE '\.path = "/[^"]*"' worker/ | sed -E 's/^\.path = "(.*)"$/\1/' | sort -u
}

check_websocat_doc() {
  local p missing=() extra=() served
  served=$(served_ws_paths)
  if [[ -z $served ]]; then
    report "websocat.md matches the served endpoints" 1 "no endpoint path found in worker/"
    return
  fi
  for p in $served; do
    grep -qE "websocat [^|]*ws://[^ ]*${p}" scripts/websocat.md || missing+=("no websocat line for $p")
  done
  # Every ws:// path the document uses must be served (query strings and
  # placeholders stripped).
  while read -r p; do
    grep -qxF -- "$p" <<<"$served" || extra+=("websocat.md uses $p, which ragws does not serve")
  done < <(grep -oE 'ws://127\.0\.0\.1:8000/[^ "?`'\'']*' scripts/websocat.md | sed -E 's#^ws://127\.0\.0\.1:8000##' | sort -u)
  report "websocat.md has a command line per served endpoint and no other" \
    $((${#missing[@]} + ${#extra[@]})) "${missing[@]}" "${extra[@]}"
}

# --- Grafana dashboard and Prometheus alert rules ---------------------------

# scripts/check-grafana.py prints its own "ok - " / "not ok - " lines (the
# dashboard's structure and PromQL, promtool check rules, promtool test
# rules); they are counted here. The metric names are checked against a live
# scrape in tests/integration/test_grafana_alerts.py.
check_grafana_alerts() {
  local out line
  out=$(/usr/bin/python3 scripts/check-grafana.py 2>&1)
  if ! grep -qE '^(not )?ok - ' <<<"$out"; then
    report "scripts/check-grafana.py ran" 1 "$out"
    return
  fi
  while IFS= read -r line; do
    case $line in
      "ok - "*) passed=$((passed + 1)); echo "$line" ;;
      "not ok - "*) failed=$((failed + 1)); echo "$line" ;;
      "#"*) echo "$line" ;;
    esac
  done <<<"$out"
}

check_k6_typecheck
check_k6_api
check_systemd_verify
check_systemd_security
check_unit_directives
check_websocat_doc
check_grafana_alerts

echo "$passed passed, $failed failed"
((failed == 0))
