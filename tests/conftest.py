"""Test configuration: every database test runs on the engine chosen by ``--db``.

``pytest --db sqlite`` (default) uses a fresh SQLite file; ``pytest --db postgres`` uses
``PINGAN_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/pingan_test``), whose
schema is dropped and re-created at the start of the run. The environment is set here, before
any ``survey`` module builds its engine. Tests that use the ``db`` fixture are marked ``db``.
Async test modules declare ``pytestmark = pytest.mark.anyio`` (asyncio backend).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = REPO.parent / "shared" / "reference"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/pingan_test"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="database engine for tests that touch the database",
    )


def pytest_configure(config: pytest.Config) -> None:
    engine = config.getoption("--db")
    if engine == "postgres":
        url = os.environ.get("PINGAN_TEST_PG_URL", DEFAULT_PG_URL)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="pingan-test-"))
        url = f"sqlite:///{tmp / 'test.sqlite'}"
    os.environ["PINGAN_DATABASE_URL"] = url
    os.environ["PICCOLO_CONF"] = "survey.piccolo_conf"
    os.environ.setdefault("PINGAN_SECRET_KEY", "test-secret-key-not-for-production-0123456789")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "db" in fixtures or "live_server" in fixtures:
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def db_engine_name(pytestconfig: pytest.Config) -> str:
    """``"sqlite"`` or ``"postgres"``: the engine this run tests."""
    return str(pytestconfig.getoption("--db"))


@pytest.fixture(scope="session")
def _migrated_database(db_engine_name: str) -> Iterator[None]:
    from survey.db import testing

    asyncio.run(testing.reset_schema())
    yield


@pytest.fixture()
def db(_migrated_database: None) -> Iterator[None]:
    """An empty, migrated database (every table emptied after the test)."""
    from survey.db import testing

    yield
    asyncio.run(testing.empty_all_tables())
