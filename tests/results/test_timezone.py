"""Times shown to people are in the installation's time zone (PINGAN_TIMEZONE, default
Asia/Shanghai, UTC+8 without daylight saving); stored times are UTC."""

from __future__ import annotations

import datetime

import pytest

from survey.results.report import render_html
from survey.settings import installation_timezone, local_time

NOON_UTC = datetime.datetime(2026, 10, 31, 16, 30, tzinfo=datetime.UTC)


def test_default_is_beijing_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PINGAN_TIMEZONE", raising=False)
    assert installation_timezone().key == "Asia/Shanghai"
    # 16:30 UTC on 31 October is 00:30 on 1 November in Beijing.
    assert local_time(NOON_UTC) == "2026-11-01 00:30"
    assert local_time("2026-10-31 16:30:00") == "2026-11-01 00:30"  # naive stored text = UTC
    assert local_time(None) == ""


def test_other_zone_and_bad_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINGAN_TIMEZONE", "Asia/Urumqi")  # UTC+6
    assert local_time(NOON_UTC) == "2026-10-31 22:30"
    monkeypatch.setenv("PINGAN_TIMEZONE", "Mars/Base")
    with pytest.raises(ValueError, match="PINGAN_TIMEZONE 无法识别"):
        local_time(NOON_UTC)


def test_report_header_is_in_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PINGAN_TIMEZONE", raising=False)

    class _Empty:
        def __getattr__(self, name: str) -> object:
            raise AttributeError(name)

    from survey.results import report as report_module

    seen: dict[str, str] = {}

    class _Template:
        def render(self, **kwargs: object) -> str:
            seen["generated"] = str(kwargs["generated"])
            return ""

    monkeypatch.setattr(report_module._env(), "get_template", lambda name: _Template())
    render_html(_Empty(), generated=NOON_UTC)  # type: ignore[arg-type]
    assert seen["generated"] == "2026-11-01 00:30（Asia/Shanghai）"
