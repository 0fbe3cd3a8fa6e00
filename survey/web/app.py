"""The Litestar application factory."""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType
from typing import Any

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from questionnaires import default_instruments
from survey import __version__
from survey.db import close_pool, start_pool
from survey.results.records import REVIEW_NAMES
from survey.settings import Settings, get_settings, local_time
from survey.tabular import start_upload_workers
from survey.web.auth import password_change_guard, session_auth
from survey.web.controllers import (
    account,
    admin,
    api,
    auth,
    cati,
    design,
    fieldwork,
    pages,
    programmes,
    results,
    survey_pages,
)
from survey.web.errors import handle_exception
from survey.web.ratelimit import rate_limit_middleware_factory
from survey.web.security import add_hsts, add_security_headers
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
# handlers). A new area adds one import above and one entry here.
ROUTE_MODULES: tuple[ModuleType, ...] = (
    auth,
    pages,
    admin,
    programmes,
    api,
    survey_pages,
    design,
    cati,
    fieldwork,
    results,
    account,
)


def route_handlers() -> list[Any]:
    """Every area's route handlers, in the order of ``ROUTE_MODULES``."""
    return [handler for module in ROUTE_MODULES for handler in module.ROUTES]


def _load_instruments() -> None:
    """Load every questionnaire at start-up (``survey serve`` checks them before this and lists
    every problem): a bad file in ``PINGAN_QUESTIONNAIRES`` stops the start instead of failing
    residents' pages later."""
    default_instruments()


def asgi_app(settings: Settings | None = None) -> Any:
    """The application as servers run it (``survey.web.asgi:app``): ``create_app`` behind
    ``PINGAN_TRUSTED_PROXIES``. Only a request from one of those addresses has its client
    address (rate limits, lockouts, the audit log) and scheme taken from ``X-Forwarded-For`` /
    ``X-Forwarded-Proto``; with none set (the default) the client is the TCP peer whatever
    headers it sends. ``survey serve`` turns the servers' own header handling off (uvicorn
    trusts 127.0.0.1 by default), so this is the one place that decides."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    settings = settings or get_settings()
    app = create_app(settings)
    if not settings.trusted_proxies:
        return app
    return ProxyHeadersMiddleware(app, trusted_hosts=list(settings.trusted_proxies))  # type: ignore[arg-type]


def _template_globals(engine: JinjaTemplateEngine) -> None:
    """Words every page may show: one vocabulary with the report (``survey.results.report``),
    and ``local_time``, the filter that shows a stored (UTC) time in the installation's zone."""
    engine.engine.globals["REVIEW_NAMES"] = REVIEW_NAMES
    engine.engine.filters["local_time"] = local_time


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
        before_send=[add_security_headers, *([add_hsts] if settings.secure_cookies else [])],
        middleware=[rate_limit_middleware_factory()],
        stores={"sessions": DatabaseSessionStore(settings.session_max_age)},
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name="pingan_csrf",
            cookie_secure=settings.secure_cookies,
            cookie_httponly=False,
            cookie_samesite="lax",
        ),
        template_config=TemplateConfig(
            directory=TEMPLATES_DIR, engine=JinjaTemplateEngine, engine_callback=_template_globals
        ),
        compression_config=COMPRESSION,
        # Only /schema/openapi.json, to signed-in users (survey.web.auth): no Swagger/Redoc
        # pages, which load their scripts from a CDN (and the CSP blocks them anyway).
        openapi_config=OpenAPIConfig(
            title="平安测评", version=__version__, render_plugins=[JsonRenderPlugin()]
        ),
        exception_handlers={Exception: handle_exception},
        on_startup=[_load_instruments, start_pool, start_upload_workers],
        on_shutdown=[close_pool],
        debug=False,
    )
