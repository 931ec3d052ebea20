#!/usr/bin/env bash
# make run: serve on :8000 in the foreground with ragws.conf.
# (scripts/deps.sh and the build already ran through the Makefile.)
set -euo pipefail
cd "$(dirname "$0")/.."
echo "ragws: serving on http://0.0.0.0:8000 (Ctrl-C stops; SIGHUP reloads ragws.conf)"
exec ./ragws -c ragws.conf "$@"
