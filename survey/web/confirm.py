"""Confirmation pages for state changes (结束采集, 重新开放, 发布, 计算, 更正): a GET page that
says what will happen, with the one POST form that does it — works without JavaScript."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.response import Template

from survey.accounts import CurrentUser


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The context of ``templates/confirm.html``."""

    title: str  # the step, e.g. 结束采集
    subject: str  # what it applies to, e.g. 测评期 2026-11（南城区两率一度月度测评）
    text: str  # what will happen, in plain words
    action: str  # the POST target
    fields: tuple[tuple[str, str], ...]
    button: str
    back: str
    danger: bool = False


def confirmation_page(user: CurrentUser, confirm: Confirmation) -> Template:
    return Template(
        "confirm.html",
        context={"user": user, "confirm": confirm},
        headers={"Cache-Control": "no-store"},
    )
