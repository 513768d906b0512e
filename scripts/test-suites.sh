#!/usr/bin/env bash
# The whole suite on SQLite and on PostgreSQL at the same time (two processes: the machine's two cores are
# both used, and the PostgreSQL run's waits on the server overlap the SQLite run's work). Each run writes its
# own log; both are printed when both have finished, and the exit status fails if either failed.
# SERIAL=1 runs them one after the other instead (e.g. on a one-core machine).
set -uo pipefail
cd "$(dirname "$0")/.."
logs=$(mktemp -d)
if [ "${SERIAL:-0}" = "1" ]; then
  .venv/bin/pytest --db=sqlite "$@"; a=$?
  .venv/bin/pytest --db=postgresql "$@"; b=$?
  exit $(( a || b ))
fi
.venv/bin/pytest --db=sqlite "$@" >"$logs/sqlite.log" 2>&1 &
sqlite_pid=$!
.venv/bin/pytest --db=postgresql "$@" >"$logs/postgresql.log" 2>&1 &
pg_pid=$!
wait $sqlite_pid; a=$?
wait $pg_pid; b=$?
for engine in sqlite postgresql; do
  echo "================================ $engine ================================"
  cat "$logs/$engine.log"
done
echo "sqlite: exit $a · postgresql: exit $b"
rm -rf "$logs"
exit $(( a || b ))
