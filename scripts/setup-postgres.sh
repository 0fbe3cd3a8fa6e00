#!/usr/bin/env bash
# Starts the local PostgreSQL if it is down and (re)creates the test database.
set -euo pipefail
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
DB=${PINGAN_TEST_PG_DB:-pingan_test}
if ! pg_isready -q -h "$PGHOST" -p "$PGPORT"; then
  if ! command -v pg_ctlcluster >/dev/null; then
    echo "==> installing postgresql"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
  fi
  echo "==> starting PostgreSQL"
  version=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && break; sleep 1; done
fi
pg_isready -h "$PGHOST" -p "$PGPORT"
exists=$(psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" || true)
if [[ "$exists" != "1" ]]; then
  psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -qc "CREATE DATABASE $DB"
fi
echo "postgresql://postgres@$PGHOST:$PGPORT/$DB"
