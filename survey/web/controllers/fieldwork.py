"""Web fieldwork (网络调查进度): per street or station the invitations released, opened,
started, completed and screened out, completes against targets with a forecast, AAPOR rates of
the web invitations; reminders and the switch of non-responders to the telephone campaign.

Thin: check the role and district, call ``survey.collection.fieldwork`` / ``reminders`` /
``survey.cati.mixed_mode``, render."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from survey.cati.cases import CatiError
from survey.cati.mixed_mode import to_phone
from survey.collection import fieldwork
from survey.collection.reminders import MemoryGateway, ReminderError, send_reminders
from survey.estimation.aapor import RATE_NAMES
from survey.waves import visible_wave
from survey.web.auth import current_user, requires

READERS = ("admin", "analyst", "supervisor")
MANAGERS = ("admin", "supervisor")
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def _number(form: Any, name: str, default: float) -> float:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return default
    try:
        number = float(text)
    except ValueError as exc:
        raise ReminderError(f"“{text}”不是数字") from exc
    if number < 0:
        raise ReminderError("天数和次数不能为负数")
    return number


class FieldworkController(Controller):
    path = "/fieldwork"

    @get("", guards=[requires(*READERS)], name="fieldwork-index")
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        user = current_user(request)
        return Template(
            "fieldwork/index.html",
            context={"user": user, "waves": await fieldwork.web_waves(user.district_id)},
        )

    async def _check(self, request: Request[Any, Any, Any], wave_id: int) -> None:
        user = current_user(request)
        if await visible_wave(wave_id, user.district_id) is None:
            raise NotFoundException("没有找到该测评期")

    async def _page(
        self, request: Request[Any, Any, Any], wave_id: int, message: str = "", error: str = ""
    ) -> Template:
        await self._check(request, wave_id)
        user = current_user(request)
        view = await fieldwork.fieldwork(wave_id)
        return Template(
            "fieldwork/wave.html",
            context={
                "user": user,
                "view": view,
                "rate_names": RATE_NAMES,
                "can_manage": user.has_any(MANAGERS),
                "message": message,
                "error": error,
            },
            status_code=422 if error else 200,
        )

    @get("/{wave_id:int}", guards=[requires(*READERS)], name="fieldwork-wave")
    async def show(self, request: Request[Any, Any, Any], wave_id: FromPath[int]) -> Template:
        return await self._page(request, wave_id)

    @post("/{wave_id:int}/remind", guards=[requires(*MANAGERS)], status_code=200)
    async def remind(
        self, request: Request[Any, Any, Any], wave_id: FromPath[int]
    ) -> Response[bytes] | Template:
        """The reminder SMS file (``phone,text``, as the file gateway writes it), recorded as
        sent reminders."""
        await self._check(request, wave_id)
        form = await request.form()
        try:
            after_days = _number(form, "after_days", 3)
            max_reminders = int(_number(form, "max_reminders", 2))
            gateway = MemoryGateway()
            count = await send_reminders(
                wave_id,
                os.environ.get("PINGAN_PUBLIC_URL", DEFAULT_BASE_URL),
                gateway,
                after_days=after_days,
                max_reminders=max_reminders,
            )
        except ReminderError as exc:
            return await self._page(request, wave_id, error=str(exc))
        if not count:
            return await self._page(request, wave_id, message="目前没有需要提醒的邀请。")
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
        return Response(
            gateway.csv_text().encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="reminders-{stamp}.csv"'},
        )

    @post("/{wave_id:int}/to-phone", guards=[requires(*MANAGERS)], status_code=200)
    async def switch(self, request: Request[Any, Any, Any], wave_id: FromPath[int]) -> Template:
        await self._check(request, wave_id)
        form = await request.form()
        strata = (
            [s for s in form.getall("strata") if isinstance(s, str) and s]
            if "strata" in form
            else []
        )
        try:
            after_days = _number(form, "after_days", 7)
            summary = await to_phone(
                wave_id,
                after_days=after_days,
                strata=strata or None,
                username=current_user(request).username,
            )
        except (ReminderError, CatiError) as exc:
            return await self._page(request, wave_id, error=str(exc))
        return await self._page(
            request,
            wave_id,
            message=f"已转为电话访问 {summary.switched} 个邀请（网络链接已关闭）；"
            f"跳过 {summary.skipped} 个。",
        )


ROUTES: list[Any] = [FieldworkController]
