"""The one check of what a results download may ask for (``survey.results.formats``): its
messages, and the vocabularies the report and the exports actually produce."""

from __future__ import annotations

import pytest

from survey.results import formats
from survey.results.formats import (
    FormatError,
    label_mode,
    microdata_format,
    report_format,
    results_export,
)


@pytest.mark.parametrize(
    ("check", "args", "message"),
    [
        (report_format, ("docx",), "报告格式只有 pdf 和 html"),
        (report_format, ("PDF",), "报告格式只有 pdf 和 html"),
        (results_export, ("sav",), "导出格式只有 json、csv 和 xlsx"),
        (results_export, ("csv", "bogus"), "结果表只有 results、weighting、flags 和 modes"),
        (microdata_format, ("json",), "微观数据只能导出为 csv、xlsx、sav（SPSS）或 dta（Stata）"),
        (label_mode, ("all",), "--labels 只能是 codes、text、both"),
    ],
)
def test_refusals_say_what_there_is(check: object, args: tuple[str, ...], message: str) -> None:
    assert callable(check)
    with pytest.raises(FormatError) as caught:
        check(*args)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)  # the exports' callers catch ValueError


def test_accepted_values_pass_through() -> None:
    assert report_format("html") == "html"
    assert results_export("xlsx", "modes") == ("xlsx", "modes")
    assert microdata_format("dta") == "dta"
    assert label_mode("text") == "text"
    assert formats.EXPORT_FORMATS == ("json", "csv", "xlsx", "sav", "dta")


def test_vocabularies_are_what_the_report_and_exports_make() -> None:
    from survey.results.report import MEDIA

    assert set(formats.REPORT_FORMATS) == set(MEDIA)
