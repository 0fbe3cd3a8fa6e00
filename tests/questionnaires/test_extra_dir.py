"""``PINGAN_QUESTIONNAIRES``: an installation's own questionnaire files beside the shipped four.
Bad files, a missing directory and an id used twice stop the platform with every problem named."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import questionnaires
from questionnaires import InstrumentError, default_instruments, shipped_instrument_paths
from survey.cli import main
from tests.conftest import EXTRA_QUESTIONNAIRES

VARIABLE, FIXTURES = EXTRA_QUESTIONNAIRES


@pytest.fixture()
def extra_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty extra-questionnaire directory in effect for the test (loaded instruments are
    forgotten before and after)."""
    monkeypatch.setenv(VARIABLE, str(tmp_path))
    questionnaires._defaults.cache_clear()
    yield tmp_path
    monkeypatch.undo()
    questionnaires._defaults.cache_clear()


def test_the_test_runs_directory_adds_the_rating_instrument() -> None:
    instruments = default_instruments()
    assert list(instruments)[:5] == [
        "anquangan",
        "zhixiaolv",
        "manyidu",
        "liangshuaiyidu",
        "liangshuaiyidu_web",
    ]
    rating = instruments["anquan10"]
    assert rating.item("q_anquan10").type == "rating_0_10"


def test_an_empty_directory_leaves_the_shipped_ones(extra_dir: Path) -> None:
    assert list(default_instruments()) == [
        "anquangan",
        "zhixiaolv",
        "manyidu",
        "liangshuaiyidu",
        "liangshuaiyidu_web",
    ]


def test_a_missing_directory_is_an_error(extra_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, str(extra_dir / "nope"))
    with pytest.raises(InstrumentError, match="PINGAN_QUESTIONNAIRES 指向的目录不存在"):
        default_instruments()


def test_every_problem_of_every_file_and_a_reused_id(extra_dir: Path) -> None:
    shutil.copy(shipped_instrument_paths()[0], extra_dir / "a_copy.toml")  # id anquangan again
    (extra_dir / "b_broken.toml").write_text('id = "x"\nversion = "one"\n', encoding="utf-8")
    shutil.copy(FIXTURES / "anquan10.toml", extra_dir / "c_good.toml")
    with pytest.raises(InstrumentError) as caught:
        default_instruments()
    text = [str(p) for p in caught.value.problems]
    assert any(
        t.startswith(str(extra_dir / "a_copy.toml")) and "问卷编号 anquangan 已由" in t
        for t in text
    ), text
    assert any(t.startswith(str(extra_dir / "b_broken.toml")) for t in text), text
    assert not any("c_good" in t for t in text)


def test_serve_refuses_to_start_with_a_bad_questionnaire(
    extra_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (extra_dir / "broken.toml").write_text('id = "x"\n', encoding="utf-8")
    assert main(["serve", "--port", "1"]) == 1
    captured = capsys.readouterr()
    assert "broken.toml" in captured.err and "服务未启动" in captured.err
    assert "平安测评已启动" not in captured.out


@pytest.mark.anyio
async def test_the_app_does_not_start_with_a_bad_questionnaire(extra_dir: Path) -> None:
    """Served without ``survey serve`` (``uvicorn survey.web.asgi:app``), the app's start-up
    loads the questionnaires too: a bad file fails the start, not a resident's page."""
    from survey.web.app import create_app

    (extra_dir / "broken.toml").write_text('id = "x"\n', encoding="utf-8")
    app = create_app()
    with pytest.raises(BaseException) as caught:  # Litestar's lifespan wraps it in a group
        async with app.lifespan():
            pass
    errors = [caught.value]
    while isinstance(errors[-1], BaseExceptionGroup):
        errors.append(errors[-1].exceptions[0])
    assert isinstance(errors[-1], InstrumentError) and "broken.toml" in str(errors[-1])
