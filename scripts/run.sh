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
#   4. exec ragws.
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

step "serving on http://$(setting server listen) (Ctrl-C stops; SIGHUP reloads $conf)"
exec ./ragws -c "$conf" "$@"
