"""The Litestar application factory."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

from questionnaires import default_instruments
from survey.db.migrate import prepare_engine
from survey.settings import Settings, get_settings
from survey.web.auth import password_change_guard, session_auth
from survey.web.errors import handle_exception
from survey.web.ratelimit import rate_limit_middleware_factory
from survey.web.security import add_security_headers
from survey.web.sessions import DatabaseSessionStore, LeanSessionConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = REPO_ROOT / "templates"
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

# gzip for every answer of 500 bytes or more whose client accepts it (HTML, CSS, JS, JSON, SVG,
# CSV); level 6 is within a few per cent of 9 at half the CPU. Routes whose body is already
# compressed (the PDF report) set ``opt={"skip_compression": True}``. See docs/benchmarks.md.
COMPRESSION = CompressionConfig(
    backend="gzip", minimum_size=500, gzip_compress_level=6, exclude_opt_key="skip_compression"
)

# Modules that contribute route handlers; each exposes ``ROUTES`` (a list of controllers and
# handlers). An area that is not built yet is skipped, so areas plug in without editing here.
_ROUTE_MODULES: tuple[str, ...] = (
    "survey.web.controllers.auth",
    "survey.web.controllers.pages",
    "survey.web.controllers.admin",
    "survey.web.controllers.programmes",
    "survey.web.controllers.api",
    "survey.web.controllers.survey_pages",
    "survey.web.controllers.design",
    "survey.web.controllers.cati",
    "survey.web.controllers.results",
)


def route_handlers() -> list[Any]:
    """Every area's route handlers, in the order of ``_ROUTE_MODULES``."""
    handlers: list[Any] = []
    for module_name in _ROUTE_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # area not built yet
            raise
        handlers.extend(module.ROUTES)
    return handlers


async def _keep_session(connection: Any) -> None:
    """Pool ``reset`` hook: nothing beyond asyncpg's own release step, which always rolls back
    an open transaction. The app sets no session state (no ``SET``, ``LISTEN``, advisory locks
    or held cursors), so asyncpg's default reset query (``pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL``) would only cost one more round trip per query (measured: it is
    about a third of a final submit's database time, docs/benchmarks.md)."""


def _load_instruments() -> None:
    """Load every questionnaire at start-up (``survey serve`` checks them before this and lists
    every problem): a bad file in ``PINGAN_QUESTIONNAIRES`` stops the start instead of failing
    residents' pages later."""
    default_instruments()


async def _start_pool() -> None:
    await prepare_engine()
    engine = engine_finder()
    if isinstance(engine, PostgresEngine) and engine.pool is None:  # none started by the caller
        await engine.start_connection_pool(max_size=10, reset=_keep_session)


async def _close_pool() -> None:
    engine = engine_finder()
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the web application for ``settings`` (default: from the environment)."""
    settings = settings or get_settings()
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("piccolo").setLevel(logging.WARNING)
    session_config = LeanSessionConfig(
        key="pingan_session",
        max_age=settings.session_max_age,
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    auth = session_auth(session_config)
    return Litestar(
        route_handlers=[
            *route_handlers(),
            create_static_files_router(
                path="/static", directories=[STATIC_DIR], opt={"exclude_from_auth": True}
            ),
        ],
        on_app_init=[auth.on_app_init],
        guards=[password_change_guard],
        before_send=[add_security_headers],
        middleware=[rate_limit_middleware_factory()],
        stores={"sessions": DatabaseSessionStore(settings.session_max_age)},
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name="pingan_csrf",
            cookie_secure=settings.secure_cookies,
            cookie_httponly=False,
            cookie_samesite="lax",
        ),
        template_config=TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine),
        compression_config=COMPRESSION,
        exception_handlers={Exception: handle_exception},
        on_startup=[_load_instruments, _start_pool],
        on_shutdown=[_close_pool],
        debug=False,
    )
