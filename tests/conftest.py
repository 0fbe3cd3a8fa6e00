"""Test configuration: every database test runs on the engine chosen by ``--db``.

``pytest --db sqlite`` (default) uses a fresh SQLite file; ``pytest --db postgres`` uses
``PINGAN_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/pingan_test``), whose
schema is dropped and re-created at the start of the run. The environment is set here, before
any ``survey`` module builds its engine. Tests that use the ``db`` fixture are marked ``db``.
Async test modules declare ``pytestmark = pytest.mark.anyio`` (asyncio backend).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = REPO.parent / "shared" / "reference"
T = TypeVar("T")
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/pingan_test"


#: ``PINGAN_QUESTIONNAIRES`` for the whole test run, and the directory it names.
EXTRA_QUESTIONNAIRES = (
    "PINGAN_QUESTIONNAIRES",
    Path(__file__).parent / "fixtures" / "questionnaires",
)


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
    # The installation's own questionnaires beside the shipped four: a 0–10 rating instrument
    # (tests/fixtures/questionnaires), so every test runs with an extra-instrument directory.
    os.environ[EXTRA_QUESTIONNAIRES[0]] = str(EXTRA_QUESTIONNAIRES[1])
    os.environ.setdefault("PINGAN_SECRET_KEY", "test-secret-key-not-for-production-0123456789")
    # Rendered reports are kept on disk between processes: each test run gets its own folder.
    os.environ["PINGAN_CACHE_DIR"] = tempfile.mkdtemp(prefix="pingan-cache-")
    # No report drawn ahead in the background after each computation (a PDF per recompute would
    # load the machine and outlive the test's database): tests of it switch it on.
    os.environ["PINGAN_DRAW_AHEAD"] = "off"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "db" in fixtures or "live_server" in fixtures:
            item.add_marker(pytest.mark.db)


def run_async(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion in a fresh event loop on a worker thread (safe even when the
    calling thread already runs a loop, as Playwright's sync API does)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(coro_fn())).result()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def db_engine_name(pytestconfig: pytest.Config) -> str:
    """``"sqlite"`` or ``"postgres"``: the engine this run tests."""
    return str(pytestconfig.getoption("--db"))


@pytest.fixture(scope="session")
def _migrated_database(db_engine_name: str) -> Iterator[Any]:
    """The schema migrated once per run; yields the snapshot of its empty tables."""
    from survey.db import testing

    run_async(testing.drop_snapshots)
    run_async(testing.reset_schema)
    empty = run_async(lambda: testing.take_snapshot("empty"))
    _BUILT["empty"] = (empty, None)
    yield empty
    run_async(testing.drop_snapshots)


# Data sets built once per run: key → (snapshot, what the builder returned).
_BUILT: dict[str, tuple[Any, Any]] = {}


async def built_once(key: str, build: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """The data set of ``build`` in the test database, replacing whatever it holds: built (in
    the emptied database) the first time a test asks for ``key`` and saved as a snapshot,
    restored from that snapshot for every later test (ids included, so ``build``'s first
    return value stays true). ``build`` must depend on nothing but ``key``. The in-process
    caches that key on stored rows are emptied, so that no test sees a view cached by an
    earlier test from the same restored rows."""
    from survey.db import testing

    _forget_cached_views()
    known = _BUILT.get(key)
    if known is not None:
        await testing.restore_snapshot(known[0])
        return known[1]  # type: ignore[no-any-return]
    await testing.restore_snapshot(_BUILT["empty"][0])
    value = await build()
    _BUILT[key] = (await testing.take_snapshot(key), value)
    return value


def _forget_cached_views() -> None:
    import survey.collection.respondent
    import survey.results.dashboard

    survey.results.dashboard._CACHE.clear()
    survey.collection.respondent._wave_cache.clear()


@pytest.fixture()
def db(_migrated_database: Any) -> Iterator[None]:
    """An empty, migrated database (every table emptied after the test: the empty snapshot
    restored, a file copy on SQLite)."""
    from survey.db import testing

    yield
    run_async(lambda: testing.restore_snapshot(_migrated_database))


@contextlib.asynccontextmanager
async def pooled_engine() -> AsyncIterator[None]:
    """A small connection pool on PostgreSQL for the block (one connection per query makes a
    demo build several times slower); nothing on SQLite."""
    from piccolo.engine import engine_finder
    from piccolo.engine.postgres import PostgresEngine

    engine = engine_finder()
    pooled = isinstance(engine, PostgresEngine) and engine.pool is None
    if pooled:
        assert isinstance(engine, PostgresEngine)
        await engine.start_connection_pool(min_size=1, max_size=4)
    try:
        yield
    finally:
        if pooled and isinstance(engine, PostgresEngine) and engine.pool is not None:
            await engine.close_connection_pool()


async def build_test_demo(modules: Sequence[ModuleType] | None) -> None:
    """The demo city with only the given areas' demo steps (``None``: every area's,
    ``survey.demo.DEMO_STEPS``), built once per run (``built_once``)."""
    import survey.demo

    async def build() -> None:
        async with pooled_engine():
            await survey.demo.build_demo(steps=modules)

    names = ["all"] if modules is None else [m.__name__.replace(".", "_") for m in modules]
    await built_once("__".join(["demo", *names]), build)


@pytest.fixture()
def demo_modules() -> tuple[ModuleType, ...] | None:
    """The areas' demo steps ``demo_city`` runs: none by default (the registry, users, the
    programme and its open wave only). An area's conftest overrides this with its own step."""
    return ()


@pytest.fixture()
async def demo_city(db: None, demo_modules: tuple[ModuleType, ...] | None) -> None:
    """The demo city in the test database, with the steps of ``demo_modules``."""
    await build_test_demo(demo_modules)


@pytest.fixture()
async def full_demo_city(db: None) -> None:
    """The whole demo city: every area's demo data (samples, links, campaign, results)."""
    await build_test_demo(None)


@pytest.fixture()
async def client(db: None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in this event loop (lifespan started, so the PostgreSQL
    pool lives on the test's loop)."""
    from survey.web.app import create_app

    app = create_app()
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c
