"""Security headers on every response: a CSP without inline script, no sniffing, no framing,
no caching of anything but the static files (signed-in pages show residents' numbers, downloads
are microdata), and HSTS when the platform is served over TLS (``PINGAN_SECURE_COOKIES=1``).

Pages may use inline ``style`` attributes (CI bars are sized that way) but never inline script:
JavaScript, where a page has any, is a file under ``/static/``.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Survey links carry a one-time token in the path: never send it to another site.
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


STATIC_PREFIX = "/static/"
# One year, the usual preload value; sent only when the deployment says it is behind TLS.
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"


async def add_security_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook: adds ``SECURITY_HEADERS`` to every HTTP response start (also to the
    404/405 answers the router gives before any route middleware runs), and ``Cache-Control:
    no-store`` to every response but the static files' — forced for a signed-in user, so
    neither the browser's cache nor a proxy keeps a page or a download."""
    if message["type"] == "http.response.start":
        headers = MutableScopeHeaders.from_message(message)
        for name, value in SECURITY_HEADERS.items():
            if name not in headers:
                headers[name] = value
        signed_in = scope.get("user") is not None
        static = str(scope.get("path", "")).startswith(STATIC_PREFIX)
        if signed_in or ("Cache-Control" not in headers and not static):
            headers["Cache-Control"] = "no-store"


async def add_hsts(message: Message, scope: Scope) -> None:
    """``before_send`` hook for TLS deployments (``PINGAN_SECURE_COOKIES=1``): browsers must
    use https for this host from now on."""
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)["Strict-Transport-Security"] = (
            STRICT_TRANSPORT_SECURITY
        )
