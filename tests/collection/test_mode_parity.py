"""One interview engine: the same answers given on the residents' web pages and to a pollster on
the phone are stored the same — answers, weighting codes, community and instrument identity."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest

from questionnaires import default_instruments
from survey.cati.cases import add_cases
from survey.cati.interview import save_screen, unit_choices
from survey.cati.queue import next_case
from survey.cati.tables import Campaign
from survey.collection.tables import Response
from survey.db import write_transaction
from survey.db.tables import AppUser, Unit
from tests.collection._support import demo_wave_id, invite, post

pytestmark = pytest.mark.anyio

NOW = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)


def _screens(street: str, community: str) -> list[tuple[str, dict[str, list[str]]]]:
    """The phone's screens of 公众安全感 with one resident's answers (不太安全, so the reasons
    page is asked; two reasons; a woman aged 45–59)."""
    return [
        ("screening", {"s_age": ["1"], "s_resident": ["1"]}),
        ("unit", {"street": [street], "community": [community]}),
        ("security", {"q_anquan": ["4"]}),
        ("security_reasons", {"q_bu_anquan_yuanyin": ["1", "3"]}),
        ("about_you", {"d_sex": ["2"], "d_age_group": ["3"], "d_education": ["4"],
                       "d_occupation": ["2"]}),
    ]  # fmt: skip


async def _phone_case() -> tuple[int, int, int]:
    """A telephone campaign of 公众安全感 in the demo wave, a pollster and the case they hold:
    (campaign, pollster, case) ids."""
    async with write_transaction():
        campaign = await Campaign.insert(
            Campaign(
                wave=await demo_wave_id(),
                name="电话访问",
                instrument_id="anquangan",
                calling_windows="00:00-24:00",
            )
        ).returning(Campaign.id)
        pollster = await AppUser.insert(
            AppUser(username="caller", display_name="访问员", password_hash="x", roles="pollster")
        ).returning(AppUser.id)
    campaign_id, pollster_id = int(campaign[0]["id"]), int(pollster[0]["id"])
    await add_cases(campaign_id, ["13800138000"], now=NOW)
    case_id = (await next_case(campaign_id, pollster_id, NOW)).case_id
    assert case_id is not None
    return campaign_id, pollster_id, case_id


async def _by_web(client: httpx.AsyncClient, screens: list[tuple[str, Any]]) -> None:
    [token] = await invite("anquangan")
    web: list[tuple[str, Any]] = [("intro", {})]
    for page, form in screens:
        if page == "unit":  # one level per screen on the phone-sized pages
            web += [("unit:street", {"street": form["street"]})]
            web += [("unit:community", {"community": form["community"]})]
        else:
            web.append((page, form))
    for screen, fields in web:
        response = await post(client, token, screen, fields)
        assert response.status_code == 303, (screen, response.status_code)
        assert "f=flash-" not in response.headers["location"], screen  # not re-shown


async def test_phone_and_web_store_the_same_interview(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    campaign_id, pollster_id, case_id = await _phone_case()
    street = next(u for u in await unit_choices(campaign_id) if u.communities)
    community = street.communities[0][0]
    screens = _screens(street.code, community)
    await _by_web(client, screens)
    for page, form in screens:
        result = await save_screen(case_id, pollster_id, page, form, now=NOW)
        assert not result.errors, (page, result.errors)
    assert result.completed

    rows = await Response.select().order_by(Response.id)
    assert [(r["mode"], r["status"]) for r in rows] == [
        ("web", "completed"),
        ("phone", "completed"),
    ]
    # Written out by hand: the answers as given, multiple choice as a list of codes.
    expected = {
        "s_age": 1, "s_resident": 1, "street": street.code, "community": community,
        "q_anquan": 4, "q_bu_anquan_yuanyin": [1, 3],
        "d_sex": 2, "d_age_group": 3, "d_education": 4, "d_occupation": 2,
    }  # fmt: skip
    unit = await Unit.select(Unit.id).where(Unit.code == community).first()
    assert unit is not None
    shipped = default_instruments()["anquangan"]
    for row in rows:
        assert json.loads(row["answers"]) == expected, row["mode"]
        # 女 → "F"; the third of four age bands → the third weighting group, 45–59.
        assert (row["sex"], row["age_group"]) == ("F", "45-59"), row["mode"]
        assert row["community"] == unit["id"], row["mode"]
        assert (row["instrument_id"], row["instrument_version"], row["instrument_hash"]) == (
            "anquangan", str(shipped.version), shipped.content_hash
        )  # fmt: skip
