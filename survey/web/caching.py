"""HTTP caching of the app's own resources, in one place: ETag revalidation.

Signed-in resources (the dashboard's charts) are answered with a strong ETag and
``Cache-Control: private, no-cache`` — a browser or proxy may keep them only for this user and
must ask again each time, and an unchanged chart is answered ``304 Not Modified`` without its
body. Where the security rules require ``no-store`` for signed-in responses, that header is set
elsewhere (``survey.web.security``) and wins; the ETag still spares the body on a conditional
request.
"""

from __future__ import annotations

import hashlib
from typing import Any

from litestar import Request, Response

PRIVATE_REVALIDATE = "private, no-cache"


def etag_of(content: bytes) -> str:
    return '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


def matches(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header holds ``etag`` (weak tags compare equal; ``*`` matches)."""
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def revalidated(
    request: Request[Any, Any, Any], content: bytes, media_type: str
) -> Response[bytes]:
    """``content`` with its ETag, or an empty ``304`` when the request already holds it."""
    etag = etag_of(content)
    headers = {"ETag": etag, "Cache-Control": PRIVATE_REVALIDATE}
    if matches(request.headers.get("if-none-match"), etag):
        return Response(b"", status_code=304, headers=headers, media_type=media_type)
    return Response(content, media_type=media_type, headers=headers)
