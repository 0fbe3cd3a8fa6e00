"""Error responses: JSON for API routes, friendly Chinese pages (never a stack trace) for HTML."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from survey.db import DATABASE_UNAVAILABLE, UNSTORABLE_TEXT, is_out_of_range
from survey.web.auth import PASSWORD_PATH, PasswordChangeRequired

log = logging.getLogger("survey.web")

MESSAGES: dict[int, tuple[str, str]] = {
    400: ("请求有误", "提交的内容无法处理，请返回后重试。"),
    401: ("需要登录", "请先登录。"),
    403: ("无权访问", "您的账号没有访问此页面的权限。如需开通，请联系系统管理员。"),
    404: ("页面不存在", "您访问的页面不存在或已被移除。"),
    405: ("不支持的操作", "此页面不支持该操作。"),
    413: ("文件过大", "上传的文件太大。"),
    429: ("请求过于频繁", "请稍后再试。"),
    500: (
        "服务器出错",
        "服务器暂时无法完成请求，我们已记录此问题。请稍后重试，已保存的内容不会丢失。",
    ),
    503: ("服务暂不可用", "系统暂时不可用，请稍后重试。"),
}
CSRF_FAILED = (
    "页面已过期",
    "页面打开时间过长或浏览器清除了记录，这次提交没有保存。请重新打开页面后再提交，之前已保存的内容不会丢失。",
)


def _is_api(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/")


RETRY_AFTER_S = 5


def _client_fault(exc: Exception) -> int | None:
    """The status for errors caused by the request itself, raised below the handlers: a form
    field that is not UTF-8 (Litestar's multipart parser), holds a NUL byte (PostgreSQL) or is
    longer than its column (PostgreSQL), a NUL in a file path, a path id beyond any column's range
    (SQLite: OverflowError; PostgreSQL: int4 out of range) — and 503 when the database is
    unreachable."""
    if isinstance(exc, (UnicodeDecodeError, *UNSTORABLE_TEXT)):
        return 400
    if isinstance(exc, ValueError) and "null byte" in str(exc):
        return 404  # a NUL in a static file's path (os.stat: "embedded null byte")
    if is_out_of_range(exc):
        return 404
    if isinstance(exc, DATABASE_UNAVAILABLE):
        return 503
    return None


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Map any exception to a response; unexpected ones are logged and shown as a plain 500."""
    fault = None if isinstance(exc, HTTPException) else _client_fault(exc)
    if fault == 503:
        log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
    if fault is not None:
        status = fault
        detail = ""
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        detail = exc.detail if status < 500 else ""
    else:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        status = HTTP_500_INTERNAL_SERVER_ERROR
        detail = ""
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    if _is_api(request):
        title = MESSAGES.get(status, ("错误", ""))[0]
        return Response(
            {"status": status, "error": title, "detail": detail or title},
            status_code=status,
            headers=headers,
        )
    if isinstance(exc, PasswordChangeRequired) and not _is_api(request):
        return Redirect(PASSWORD_PATH, status_code=303)
    if isinstance(exc, NotAuthorizedException) and request.method == "GET":
        return Redirect(f"/login?next={quote(request.url.path)}", status_code=303)
    title, text = MESSAGES.get(status, ("出错了", "请求无法完成。"))
    back = "/"
    if status == 403 and "CSRF" in str(detail):
        # A form posted without a valid CSRF cookie: the page stayed open too long, the browser
        # dropped its cookies (in-app browsers do), or it was opened in another browser. Nothing
        # was saved; the person only has to reload the page — a resident back on their own link.
        title, text, detail = CSRF_FAILED[0], CSRF_FAILED[1], ""
        if request.url.path.startswith("/s/"):
            back = request.url.path
    # Litestar's own messages are English; show ours unless a handler raised a Chinese one.
    if detail and any("\u4e00" <= ch <= "\u9fff" for ch in str(detail)):
        text = str(detail)
    user = request.scope.get("user")
    return Template(
        "error.html",
        context={"status": status, "title": title, "text": text, "user": user, "back": back},
        status_code=status,
        headers=headers,
    )
