#!/usr/bin/env bash
# A private PostgreSQL cluster for development and tests (SPEC S5:
# postgres.conninfo = auto). Unix socket only, no TCP listener.
#
#   scripts/pg-local.sh start  [DIR]   initdb if needed, start, create db "ragws";
#                                      the last line on stdout is the conninfo
#   scripts/pg-local.sh stop   [DIR]   fast shutdown (exit 0 when not running)
#   scripts/pg-local.sh status [DIR]   exit 0 when running, 3 when not
#
# DIR defaults to var/pg under the repository root; a relative DIR is taken
# from the current directory. Layout: DIR/data (cluster), DIR/run (socket
# directory), DIR/log/postgres.log (server log).
#
# PostgreSQL refuses to run as root: when invoked as root the cluster
# belongs to and runs as the `postgres` user (DIR is chowned to it and its
# parent directories are made traversable); otherwise it runs as the
# invoking user. Authentication is `trust` for local socket connections,
# and DIR/run is mode 0700, so only the cluster's owner (and root) can
# connect. Connect with:
#   psql "$(scripts/pg-local.sh start | tail -1)"
#
# Everything but the conninfo goes to stderr, so
#   conninfo=$(scripts/pg-local.sh start)
# works. Environment: PG_BINDIR (default: newest /usr/lib/postgresql/*/bin).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=5432
DBNAME=ragws

say() { echo "pg-local: $*" >&2; }
die() {
    say "$*"
    exit 1
}

usage() {
    echo "usage: $0 start|stop|status [DIR]" >&2
    exit 2
}

(($# >= 1 && $# <= 2)) || usage
cmd=$1
dir=${2:-$repo/var/pg}

if [[ -z ${PG_BINDIR:-} ]]; then
    PG_BINDIR=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
[[ -n $PG_BINDIR && -x $PG_BINDIR/pg_ctl ]] ||
    die "PostgreSQL server binaries not found (install postgresql-15 or set PG_BINDIR)"

# Absolute path; DIR need not exist yet (start creates it).
dir=$(realpath -m -- "$dir")
data=$dir/data
run=$dir/run
logfile=$dir/log/postgres.log
conninfo="host=$run port=$PORT dbname=$DBNAME user=postgres"

# A Unix socket path (run/.s.PGSQL.5432) is limited to 107 bytes.
((${#run} + 16 <= 107)) || die "$dir is too long a path for a Unix socket directory"

if ((EUID == 0)); then
    owner=postgres
    id -u "$owner" >/dev/null 2>&1 || die "user postgres does not exist (install postgresql-15)"
    # cd /: the postgres user may not be allowed into the caller's directory.
    as_owner() { (cd / && runuser -u "$owner" -- "$@"); }
else
    owner=$(id -un)
    as_owner() { (cd / && "$@"); }
fi

pgctl() { as_owner "$PG_BINDIR/pg_ctl" -D "$data" "$@"; }

is_running() {
    [[ -f $data/PG_VERSION ]] || return 1
    pgctl status >/dev/null 2>&1
}

# Every parent of DIR must be searchable by the owner, or the server cannot
# reach its data directory (mktemp directories are 0700, for instance).
make_reachable() {
    local d=$dir
    while [[ $d != / && -n $d ]]; do
        d=$(dirname "$d")
        if ! as_owner test -x "$d"; then
            say "making $d traversable (chmod o+x) for user $owner"
            chmod o+x "$d"
        fi
    done
}

ensure_database() {
    local exists
    exists=$(as_owner "$PG_BINDIR/psql" -X -h "$run" -p "$PORT" -U postgres -d postgres -Atq \
        -c "SELECT 1 FROM pg_database WHERE datname = '$DBNAME'") ||
        die "cannot query the cluster in $dir (see $logfile)"
    if [[ $exists != 1 ]]; then
        say "creating database $DBNAME"
        as_owner "$PG_BINDIR/createdb" -h "$run" -p "$PORT" -U postgres "$DBNAME"
    fi
}

start() {
    if is_running; then
        ensure_database
        echo "$conninfo"
        return 0
    fi
    mkdir -p "$dir" "$data" "$run" "$dir/log"
    if ((EUID == 0)); then
        chown -R "$owner:" "$dir"
        make_reachable
    fi
    chmod 0700 "$data" "$run"

    if [[ ! -f $data/PG_VERSION ]]; then
        say "initdb $data (owner $owner)"
        as_owner "$PG_BINDIR/initdb" -D "$data" -U postgres --auth=trust -E UTF8 \
            --locale=C.UTF-8 >"$dir/log/initdb.log" 2>&1 ||
            die "initdb failed: $(tail -5 "$dir/log/initdb.log")"
        # Appended last, so these win over the defaults above them.
        local run_quoted=${run//"'"/"''"}
        as_owner tee -a "$data/postgresql.conf" >/dev/null <<EOF

# --- scripts/pg-local.sh: private cluster, Unix socket only ---
listen_addresses = ''
unix_socket_directories = '$run_quoted'
port = $PORT
max_connections = 100
shared_buffers = 32MB
work_mem = 4MB
maintenance_work_mem = 32MB
max_wal_size = 256MB
logging_collector = off
log_min_messages = warning
EOF
    fi

    say "starting PostgreSQL ($data, log $logfile)"
    if ! pgctl -l "$logfile" -w -t 60 start >&2; then
        tail -20 "$logfile" >&2 || true
        die "PostgreSQL did not start"
    fi
    ensure_database
    echo "$conninfo"
}

stop() {
    if ! is_running; then
        say "not running ($dir)"
        return 0
    fi
    pgctl -m fast -w -t 60 stop >&2
}

status() {
    if is_running; then
        echo "running: $conninfo"
        return 0
    fi
    echo "not running ($dir)"
    return 3
}

case $cmd in
start) start ;;
stop) stop ;;
status) status ;;
*) usage ;;
esac
