# 平安测评 — the two commands of the README, and a few helpers.
.PHONY: demo test test-sqlite test-postgres lint setup

PGURL ?= postgresql://postgres@127.0.0.1:5432/pingan_test
DEMO_DB ?= sqlite:///var/demo.sqlite
PORT ?= 8000

setup:
	@./scripts/setup-system.sh

## make demo: install everything, build the demo city on embedded SQLite and serve it.
demo: setup
	@mkdir -p var
	@PINGAN_DATABASE_URL=$(DEMO_DB) .venv/bin/survey demo --base-url http://127.0.0.1:$(PORT)
	@PINGAN_DATABASE_URL=$(DEMO_DB) .venv/bin/survey serve --port $(PORT)

## make test: install everything, then lint, type-check and run the suite on SQLite and on PostgreSQL.
test:
	@WITH_BROWSER=1 ./scripts/setup-system.sh
	@./scripts/setup-postgres.sh >/dev/null
	@./scripts/setup-redis.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	PGURL=$(PGURL) ./scripts/test-engines.sh

test-sqlite:
	.venv/bin/pytest -q -p no:cacheprovider --db sqlite

test-postgres:
	PINGAN_TEST_PG_URL=$(PGURL) .venv/bin/pytest -q -p no:cacheprovider --db postgres -m db

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy
