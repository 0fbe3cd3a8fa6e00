"""What the residents' survey pages show: the context of ``templates/survey/page.html`` and its
words, built from the screens that ``survey.collection.respondent`` decides on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from questionnaires.model import SCREENING_PAGE, Item
from survey.collection.respondent import INTRO, Screen

ViewKind = Literal["intro", "questions", "unit", "ineligible", "done", "problem"]

PROBLEMS: dict[str, tuple[int, str, str]] = {
    "unknown": (
        404,
        "链接无效",
        "没有找到这个调查链接。请检查短信中的链接是否完整（可以直接点击短信里的链接打开）。",
    ),
    "expired": (410, "链接已过期", "本次调查已经结束，这个链接已失效。感谢您的关注！"),
    "revoked": (410, "链接已停用", "这个调查链接已停用。如有疑问，请联系发送短信的单位。"),
    "closed": (410, "调查已结束", "本期调查已经结束，感谢您的关注！"),
    "phone": (
        410,
        "本调查已改为电话访问",
        "本调查已改为电话访问，工作人员将致电邀请您参加。感谢您的支持！",
    ),
    "changed": (
        503,
        "问卷正在更新",
        "问卷内容正在更新，暂时无法作答，请稍后再打开这个链接。已保存的回答不会丢失。",
    ),
}

#: Why a screen is shown again, above its questions (``Screen.notices``).
NOTICES: dict[str, str] = {
    "stale": "页面已过期或内容不完整，请在本页重新作答后继续",
    "mismatch": "提交的内容与本页题目不符，请检查后重新提交",
    "incomplete": "还有题目没有回答，请补充后再提交",
}


@dataclass(frozen=True, slots=True)
class OptionView:
    """One choice as rendered: ``value`` is the form value, ``checked`` the current state."""

    value: str
    label: str
    checked: bool
    extra: bool = False  # don't-know / refused: shown apart from the scale


@dataclass(frozen=True, slots=True)
class ItemView:
    """One question on a screen. ``input`` is ``radio``, ``checkbox``, ``rating`` or ``text``."""

    id: str
    input: str
    text: str
    note: str
    required: bool
    options: tuple[OptionView, ...] = ()
    text_value: str = ""
    max_length: int | None = None
    error: str = ""
    searchable: bool = False


@dataclass(frozen=True, slots=True)
class SurveyView:
    """The context of ``templates/survey/page.html`` (one dataclass for every kind of screen).

    ``kind``: ``intro`` (consent), ``questions`` (screening or a page), ``unit`` (pick a street
    or community), ``ineligible`` (screening failed; ask another adult or end), ``done``
    (thank-you / already completed), ``problem`` (unknown, expired or closed link).
    ``step``/``steps`` drive the progress bar (0 = no bar); ``errors`` lists every error of
    the screen (each also shown at its item).
    """

    kind: ViewKind
    title: str
    heading: str
    text: str = ""
    action: str = ""
    screen: str = ""
    items: tuple[ItemView, ...] = ()
    errors: tuple[str, ...] = ()
    step: int = 0
    steps: int = 0
    can_go_back: bool = False
    final: bool = False
    status_code: int = 200


def problem_view(key: str) -> SurveyView:
    """The page of a link that cannot be used (``PROBLEMS`` key)."""
    status, heading, text = PROBLEMS[key]
    return SurveyView("problem", heading, heading, text, status_code=status)


def view_from(data: dict[str, Any]) -> SurveyView:
    """A view stored as a dict (Post/Redirect/Get flash) as the dataclass again."""
    items = tuple(
        ItemView(**{**i, "options": tuple(OptionView(**o) for o in i["options"])})
        for i in data["items"]
    )
    return SurveyView(**{**data, "items": items, "errors": tuple(data["errors"])})


def _item_view(item: Item, value: Any, raw: Sequence[str] | None, error: str) -> ItemView:
    if raw is not None:  # re-shown after an error: show exactly what was posted
        chosen = {str(v) for v in raw}
        text_value = raw[0] if raw else ""
    elif isinstance(value, list | tuple):
        chosen = {str(v) for v in value}
        text_value = ""
    else:
        chosen = {str(value)} if value is not None else set()
        text_value = value if isinstance(value, str) else ""
    if item.type == "text":
        return ItemView(
            item.id, "text", item.text, item.note, item.required, text_value=text_value,
            max_length=item.max_length, error=error,
        )  # fmt: skip
    options: list[OptionView] = []
    if item.type == "rating_0_10":
        options.extend(OptionView(str(v), str(v), str(v) in chosen) for v in range(11))
    options.extend(
        OptionView(
            str(o.code), o.label, str(o.code) in chosen,
            extra=item.type == "rating_0_10" or not o.substantive,
        )
        for o in item.options
    )  # fmt: skip
    kind = {"multiple": "checkbox", "rating_0_10": "rating"}.get(item.type, "radio")
    return ItemView(item.id, kind, item.text, item.note, item.required, tuple(options), error=error)


def _short(text: str, limit: int = 14) -> str:
    """A question's text shortened for the error summary, with a separator ('' if none)."""
    text = text.rstrip("？?。：:")
    if not text:
        return ""
    return (text if len(text) <= limit else text[: limit - 1] + "…") + "："


def survey_view(screen: Screen, token: str) -> SurveyView:
    """The page of ``screen`` for the link ``token``."""
    if screen.kind == "problem":
        return problem_view(screen.problem)
    instrument = screen.instrument
    assert instrument is not None
    action = f"/s/{token}"
    if screen.kind == "done":
        if screen.screened_out:
            text = instrument.screening.message("end") or "感谢您的配合！"
            return SurveyView("done", "感谢您的配合", "感谢您的配合", text)
        return SurveyView(
            "done", "感谢参与", "您已完成本次调查", f"您的回答已经提交。{instrument.outro}"
        )
    if screen.kind == "ineligible":
        return SurveyView(
            "ineligible", instrument.title, "请家中其他成年人回答", screen.message,
            action=action, screen=SCREENING_PAGE,
        )  # fmt: skip
    if screen.kind == "intro":
        return SurveyView(
            "intro", instrument.title, instrument.title, instrument.intro,
            action=action, screen=INTRO,
        )  # fmt: skip
    screens = list(screen.screens)
    errors: Mapping[str, str] = screen.errors
    general = tuple(NOTICES[n] for n in screen.notices)
    step, steps = (screens.index(screen.screen), len(screens) - 1) if screen.screen in screens else (0, 0)  # fmt: skip
    common: dict[str, Any] = {
        "action": action,
        "screen": screen.screen,
        "step": step,
        "steps": steps,
        "can_go_back": step > 1,
        "final": screen.screen == screens[-1],
        "status_code": 422 if (errors or general) else 200,
    }
    raw = screen.raw
    level = screen.level
    if screen.kind == "unit" and level is not None:
        current = raw[level.id][0] if raw and raw.get(level.id) else screen.answers.get(level.id)
        view = ItemView(
            level.id, "radio", level.prompt, "", level.required,
            tuple(OptionView(code, name, code == current) for code, name in screen.choices),
            error=errors.get(level.id, ""), searchable=len(screen.choices) > 8,
        )  # fmt: skip
        messages = general + tuple(errors.values())  # one question: no need to name it
        return SurveyView(
            "unit", instrument.title, "您居住的地方", items=(view,), errors=messages, **common
        )
    views = tuple(
        _item_view(
            it, screen.answers.get(it.id), raw.get(it.id, []) if raw is not None else None,
            errors.get(it.id, ""),
        )
        for it in screen.items
    )  # fmt: skip
    if screen.screen == SCREENING_PAGE:
        heading = "参加条件"
    else:
        heading = next(
            (p.title for p in instrument.pages if p.id == screen.screen), instrument.title
        )
    texts = {it.id: it.text for it in screen.items}
    messages = general + tuple(
        f"{_short(texts.get(key, ''))}{message}" for key, message in errors.items()
    )
    return SurveyView(
        "questions", instrument.title, heading, items=views, errors=messages, **common
    )
