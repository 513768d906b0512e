#!/usr/bin/env bash
# The whole suite on SQLite and on PostgreSQL. The non-browser tests of the two engines run at the same time
# (two processes: both cores are used, and the PostgreSQL run's waits on the server overlap the SQLite run's
# work); each writes its own log, printed when both have finished. The browser tests (tests/e2e: real servers,
# Chromium, WebRTC between two browsers) then run one engine after the other, so two browser suites never
# compete for the CPU. The exit status fails if any part failed. SERIAL=1 runs everything one after the other.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "${SERIAL:-0}" = "1" ]; then
  .venv/bin/pytest --db=sqlite "$@"; a=$?
  .venv/bin/pytest --db=postgresql "$@"; b=$?
  exit $(( a || b ))
fi
logs=$(mktemp -d)
.venv/bin/pytest --db=sqlite --ignore=tests/e2e "$@" >"$logs/sqlite.log" 2>&1 &
sqlite_pid=$!
.venv/bin/pytest --db=postgresql --ignore=tests/e2e "$@" >"$logs/postgresql.log" 2>&1 &
pg_pid=$!
wait $sqlite_pid; a=$?
wait $pg_pid; b=$?
for engine in sqlite postgresql; do
  echo "================================ $engine (without the browser tests) ================================"
  cat "$logs/$engine.log"
done
rm -rf "$logs"
echo "================================ browser tests, sqlite ================================"
.venv/bin/pytest --db=sqlite tests/e2e "$@"; c=$?
echo "================================ browser tests, postgresql ================================"
.venv/bin/pytest --db=postgresql tests/e2e "$@"; d=$?
echo "sqlite: exit $a · postgresql: exit $b · browser sqlite: exit $c · browser postgresql: exit $d"
exit $(( a || b || c || d ))
