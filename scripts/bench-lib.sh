# Shell helpers of the benchmark scripts (sourced by scripts/bench-query.sh
# and scripts/bench-ingest.sh; they define the `pids` array their cleanup
# kills).

# A free TCP port on 127.0.0.1.
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Wait until url answers 2xx, at most the given seconds.
wait_http() { # url, seconds
    local end=$((SECONDS + $2))
    until curl -fsS -o /dev/null "$1" 2>/dev/null; do
        ((SECONDS < end)) || { echo "timeout waiting for $1" >&2; return 1; }
        sleep 0.1
    done
}

# Run a command in the background with its output in log; its pid is
# printed and added to pids.
start_bg() { # log, command...
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    pids+=($!)
    echo $!
}
