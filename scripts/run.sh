#!/usr/bin/env bash
# make run: serve on :8000 in the foreground with ragws.conf.
# (scripts/deps.sh and the build already ran through the Makefile.)
#
#   1. with postgres.conninfo = auto, start the private PostgreSQL cluster
#      under postgres.auto_dir (scripts/pg-local.sh; it keeps running after
#      ragws stops: `scripts/pg-local.sh stop var/pg` stops it);
#   2. ragws migrate;
#   3. load docs/samples/*.md into rag.default_collection ("documents")
#      when that collection has no document yet (checked with psql), so a
#      second `make run` does not load them twice;
#   4. start ragws, wait until /ready answers 200, then print "serving"
#      (a ragws that exits first, e.g. "address already in use", ends make
#      run with its status).
#
# Extra arguments (-o section.key=value ...) apply to every step.
set -euo pipefail
cd "$(dirname "$0")/.."

conf=ragws.conf
step() { echo "run: $*"; }

# The settings as ragws itself resolves them (file plus overrides).
settings=$(./ragws check-config -v -c "$conf" "$@")
setting() { # section key
    awk -v sect="[$1]" -v key="$2" '
        $0 == sect { inside = 1; next }
        /^\[/ { inside = 0 }
        inside && index($0, key " =") == 1 {
            v = substr($0, length(key) + 3); sub(/^ /, "", v); print v; exit
        }' <<<"$settings"
}

conninfo=$(setting postgres conninfo)
if [[ $conninfo == auto ]]; then
    dir=$(setting postgres auto_dir)
    step "starting the private PostgreSQL cluster in $dir"
    conninfo=$(scripts/pg-local.sh start "$dir")
fi

step "applying database migrations"
./ragws migrate -c "$conf" "$@"

collection=$(setting rag default_collection)
count=$(psql -X -At -v ON_ERROR_STOP=1 -v coll="$collection" -d "$conninfo" <<'SQL'
SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id
 WHERE c.name = :'coll';
SQL
)
if [[ $count == 0 ]]; then
    step "loading the sample documents into collection \"$collection\""
    ./ragws ingest "$collection" docs/samples/*.md -c "$conf" "$@"
else
    step "collection \"$collection\" has $count documents: samples not loaded again"
fi

listen=$(setting server listen)
step "starting ragws on $listen"
./ragws -c "$conf" "$@" &
pid=$!
# Signals for this script go to ragws (Ctrl-C stops it, SIGHUP reloads).
trap 'kill -TERM $pid 2>/dev/null' INT TERM
trap 'kill -HUP $pid 2>/dev/null' HUP
# "serving" only once /ready answers 200; a ragws that exits (port in use
# ...) ends make run with its exit status, and never says "serving".
host=${listen%:*}; port=${listen##*:}
[[ $host == 0.0.0.0 || $host == "::" || $host == "[::]" || -z $host ]] && host=127.0.0.1
[[ $host == *:* && $host != \[* ]] && host="[$host]"
until curl -fsS -o /dev/null --max-time 1 "http://$host:$port/ready" 2>/dev/null; do
    if ! kill -0 $pid 2>/dev/null; then
        rc=0; wait $pid || rc=$?
        echo "run: ragws exited with status $rc before it was ready" >&2
        exit $(( rc ? rc : 1 ))
    fi
    sleep 0.2
done
step "serving on http://$listen (Ctrl-C stops; SIGHUP reloads $conf)"
rc=0
while :; do
    wait $pid && rc=0 || rc=$?
    kill -0 $pid 2>/dev/null || break # a trapped signal interrupted wait: go on
done
exit $rc
