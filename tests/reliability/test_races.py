"""Races the areas' own tests do not cover, on both engines: two imports of the same file at once
(registry, sampling frame, delivered responses) and a double-clicked CATI outcome button sent as
two simultaneous HTTP requests. Each must end in one consistent state: the file stored once, or
one import stored and the other refused with a clear message — never a duplicate, never a 500.

Covered elsewhere (referenced in docs/reliability.md): replayed and concurrent survey submits
(tests/collection/test_concurrency.py, tests/collection/test_survey_pages.py), a double-submitted
outcome in the service (tests/cati/test_services.py), no case handed out twice
(tests/cati/test_concurrency.py), two analysts computing one wave (tests/results/test_compute.py).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from survey.cati.tables import CallAttempt, Case
from survey.collection.tables import Response
from survey.db.tables import AuditLog, PopulationCount, Station, Unit
from survey.demo import registry_csv
from survey.design.frames import import_frame_file
from survey.design.tables import Frame, FrameRow
from survey.registry.service import import_registry_file
from survey.results.importing import import_responses
from survey.tabular import ImportRejected
from tests.helpers import csrf_token, login

pytestmark = pytest.mark.anyio

CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def _clear(outcome: BaseException) -> None:
    """A refused concurrent import must say so clearly (Chinese, naming the conflict)."""
    assert isinstance(outcome, ImportRejected), repr(outcome)
    text = str(outcome)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text) and "Traceback" not in text


async def _twice(fn: Any, *args: Any, **kwargs: Any) -> list[Any]:
    return list(
        await asyncio.gather(fn(*args, **kwargs), fn(*args, **kwargs), return_exceptions=True)
    )


async def test_two_registry_imports_of_the_same_file_at_once(db: None) -> None:
    data = registry_csv()
    outcomes = await _twice(import_registry_file, "registry.csv", data, username="admin")
    stored = [o for o in outcomes if not isinstance(o, BaseException)]
    for o in outcomes:
        if isinstance(o, BaseException):
            _clear(o)
    assert stored, outcomes
    units, stations, counts = (
        await Unit.count(),
        await Station.count(),
        await PopulationCount.count(),
    )
    # Importing the file once more is a no-op: the state is exactly "imported once".
    again = await import_registry_file("registry.csv", data, username="admin")
    assert not again.changed
    assert (units, stations, counts) == (
        await Unit.count(), await Station.count(), await PopulationCount.count()
    )  # fmt: skip
    assert await AuditLog.count().where(AuditLog.action == "import-units") == 1


async def _demo_registry_and_wave() -> int:
    from survey.db.tables import Programme, Wave

    await import_registry_file("registry.csv", registry_csv(), username="admin")
    district = await Unit.select(Unit.id).where(Unit.code == "990102").first()
    assert district is not None
    programme = await Programme.insert(
        Programme(code="p", name="p", region=district["id"], instruments='["liangshuaiyidu"]')
    ).returning(Programme.id)
    wave = await Wave.insert(
        Wave(programme=programme[0]["id"], month="2026-12", status="collecting")
    ).returning(Wave.id)
    return int(wave[0]["id"])


async def test_two_frame_imports_of_the_same_file_at_once(db: None) -> None:
    wave_id = await _demo_registry_and_wave()
    communities = await Unit.select(Unit.code).where(Unit.level == "community").output(as_list=True)
    frame = "unit,phone\n" + "".join(
        f"{code},1380000{i:04d}\n" for i, code in enumerate(communities * 3)
    )
    outcomes = await _twice(
        import_frame_file, wave_id, "frame.csv", frame.encode(), username="analyst"
    )
    for o in outcomes:
        if isinstance(o, BaseException):
            _clear(o)
    frames = await Frame.select(Frame.id).where(Frame.wave == wave_id).output(as_list=True)
    assert len(frames) == 1, f"the same frame stored {len(frames)} times: {outcomes}"
    assert await FrameRow.count() == len(communities) * 3


async def test_two_response_imports_of_the_same_file_at_once(db: None, tmp_path: Path) -> None:
    from tests.results.test_importing import _csv, _row

    wave_id = await _demo_registry_and_wave()
    community = await Unit.select(Unit.code).where(Unit.level == "community").first()
    assert community is not None
    path = _csv(tmp_path / "d.csv", [_row(f"R{i:03d}", community["code"]) for i in range(40)])
    outcomes = await _twice(import_responses, wave_id, path, "liangshuaiyidu", username="a")
    for o in outcomes:
        if isinstance(o, BaseException):
            _clear(o)
    assert any(not isinstance(o, BaseException) for o in outcomes), outcomes
    assert await Response.count().where(Response.wave == wave_id) == 40
    assert await AuditLog.count().where(AuditLog.action == "responses.import") == 1


async def test_double_clicked_outcome_button_sent_twice_at_once(
    db: None, client: httpx.AsyncClient
) -> None:
    from tests.cati.test_web import PASSWORD, _setup

    campaign_id = await _setup()
    assert (await login(client, "caller", PASSWORD)).status_code == 303
    token = await csrf_token(client)
    taken = await client.post(f"/cati/{campaign_id}/next", data={"_csrf_token": token})
    assert taken.status_code == 303
    case_url = taken.headers["location"]
    console = await client.get(case_url)
    form = {
        "_csrf_token": CSRF.search(console.text).group(1),  # type: ignore[union-attr]
        "idempotency_key": KEY.search(console.text).group(1),  # type: ignore[union-attr]
        "outcome": "no_answer",
    }
    first, second = await asyncio.gather(
        client.post(f"{case_url}/outcome", data=form),
        client.post(f"{case_url}/outcome", data=form),
    )
    assert {first.status_code, second.status_code} == {303}
    assert sorted([first.headers["location"], second.headers["location"]]) == [
        "/cati?msg=duplicate",
        "/cati?msg=recorded",
    ]
    assert await CallAttempt.count() == 1
    case_id = int(case_url.rstrip("/").split("/")[-1])
    case = await Case.select(Case.attempts, Case.held_by).where(Case.id == case_id).first()
    assert case is not None and case["attempts"] == 1 and case["held_by"] is None
