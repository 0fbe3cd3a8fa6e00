#!/usr/bin/env bash
# Runs the suite on SQLite and the database tests on PostgreSQL side by side (the machine has
# two cores; one after the other they take twice as long). Each run's output goes to its own
# log, printed whole when both have ended; the script fails when either run fails — including
# pytest's exit 5, "no test selected", which means a broken marker, not a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
PGURL=${PGURL:-postgresql://postgres@127.0.0.1:5432/pingan_test}
LOGS=$(mktemp -d)
.venv/bin/pytest -q -p no:cacheprovider --db sqlite >"$LOGS/sqlite.log" 2>&1 &
SQLITE=$!
PINGAN_TEST_PG_URL=$PGURL .venv/bin/pytest -q -p no:cacheprovider --db postgres -m db >"$LOGS/postgres.log" 2>&1 &
POSTGRES=$!
wait $SQLITE; SQLITE_RC=$?
wait $POSTGRES; POSTGRES_RC=$?
echo "===== SQLite: the whole suite (exit $SQLITE_RC) ====="
cat "$LOGS/sqlite.log"
echo "===== PostgreSQL: the database tests (exit $POSTGRES_RC) ====="
cat "$LOGS/postgres.log"
rm -rf "$LOGS"
if [ "$SQLITE_RC" -ne 0 ] || [ "$POSTGRES_RC" -ne 0 ]; then
    echo "test run failed: SQLite exit $SQLITE_RC, PostgreSQL exit $POSTGRES_RC" >&2
    exit 1
fi
