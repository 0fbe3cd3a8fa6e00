"""Outcome codes of call attempts, loaded from ``outcomes.toml`` (data, not code).

Each code maps to an AAPOR Standard Definitions (10th ed.) final disposition and to what happens
next: ``retry`` after ``retry_minutes``, ``appointment`` (call back at an agreed time) or
``final``. Pure: standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from questionnaires.toml_check import Lines, parse_toml
from survey.estimation.aapor import Category, DispositionError, aapor_category

Action = Literal["retry", "appointment", "final"]
NOT_ATTEMPTED = "3.11"  # AAPOR: not attempted or worked (a case never dialled)
OUTCOMES_FILE = Path(__file__).with_name("outcomes.toml")
_ACTIONS: tuple[str, ...] = ("retry", "appointment", "final")


class OutcomeError(DispositionError):
    """The outcome file is malformed; the message names the entry and field (Chinese)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One outcome code: ``code`` (identifier), Chinese ``label``, AAPOR disposition ``aapor``
    (e.g. ``"3.13"``), next ``action``, ``retry_minutes`` (for retries), shortcut ``key`` and
    whether the console shows it as a ``button``."""

    code: str
    label: str
    aapor: str
    action: Action
    retry_minutes: int = 0
    key: str = ""
    button: bool = True

    @property
    def category(self) -> Category:
        """The AAPOR rate category of this outcome's disposition."""
        return aapor_category(self.aapor)


def parse_outcomes(text: str, name: str = "outcomes.toml") -> tuple[Outcome, ...]:
    """Parse an outcome file; raises ``OutcomeError`` naming the file, line, entry and field at
    fault (read by the shared TOML checker ``questionnaires.toml_check``)."""
    data, problems = parse_toml(text, name)
    if problems:
        raise OutcomeError(str(problems[0]))
    starts = [line for line, section in Lines(text).headers if section == "outcomes"]
    entries = data.get("outcomes")
    if not isinstance(entries, list) or not entries:
        raise OutcomeError(f"{name}: 缺少 [[outcomes]] 条目")
    out: list[Outcome] = []
    seen_codes: set[str] = set()
    seen_keys: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        line = f":{starts[number - 1]}" if number <= len(starts) else ""
        where = f"{name}{line}: 第 {number} 个结果"
        code = entry.get("code")
        if not isinstance(code, str) or not code:
            raise OutcomeError(f"{where}: 字段 code 必须是非空文本")
        where = f"{where}（{code}）"
        if code in seen_codes:
            raise OutcomeError(f"{where}: code 重复")
        label, aapor, action = entry.get("label"), entry.get("aapor"), entry.get("action")
        if not isinstance(label, str) or not label:
            raise OutcomeError(f"{where}: 字段 label 必须是非空文本")
        if not isinstance(aapor, str):
            raise OutcomeError(f'{where}: 字段 aapor 必须是 AAPOR 处置代码文本，如 "3.13"')
        try:
            aapor_category(aapor)
        except DispositionError as exc:
            raise OutcomeError(f"{where}: 字段 aapor: {exc}") from exc
        if action not in _ACTIONS:
            raise OutcomeError(f"{where}: 字段 action 必须是 retry、appointment 或 final")
        minutes = entry.get("retry_minutes", 0)
        if not isinstance(minutes, int) or minutes < 0 or (action == "retry" and minutes <= 0):
            raise OutcomeError(f"{where}: 字段 retry_minutes 必须是正整数（分钟）")
        key = str(entry.get("key", "")).upper()
        if key and (len(key) != 1 or not key.isalpha() or key in seen_keys):
            raise OutcomeError(f"{where}: 字段 key 必须是未被占用的单个字母")
        seen_codes.add(code)
        if key:
            seen_keys.add(key)
        out.append(
            Outcome(code, label, aapor, action, minutes, key, bool(entry.get("button", True)))
        )
    return tuple(out)


@cache
def default_outcomes() -> tuple[Outcome, ...]:
    """The shipped outcome codes (``outcomes.toml``), loaded once."""
    return parse_outcomes(OUTCOMES_FILE.read_text(encoding="utf-8"), OUTCOMES_FILE.name)


def outcome_by_code(code: str) -> Outcome | None:
    """The shipped outcome with ``code``, or None."""
    return next((o for o in default_outcomes() if o.code == code), None)


def case_disposition(attempts: list[str] | tuple[str, ...], final: str | None = None) -> str:
    """The AAPOR disposition of a case from its attempts' dispositions (oldest first).

    A final disposition wins. Otherwise the latest attempt that proves the number reaches an
    eligible household (2.x) wins over unknown-eligibility outcomes (3.x), as AAPOR advises
    (the most informative contact counts, not merely the last ring); with no such attempt, the
    latest attempt; with no attempt at all, 3.11 (not attempted).
    """
    if final:
        return final
    for code in reversed(attempts):
        if code.startswith("2."):
            return code
    return attempts[-1] if attempts else NOT_ATTEMPTED
