"""Small database set-ups for the CATI tests (no argon2, no registry import: fast)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from survey.cati.tables import Campaign
from survey.db import write_transaction
from survey.db.tables import AppUser, Programme, Unit, Wave
from survey.design.tables import StratumTarget

UTC = dt.UTC


@dataclass(frozen=True)
class World:
    wave_id: int
    campaign_id: int
    users: dict[str, int]


async def make_world(
    *,
    windows: str = "09:00-12:00,14:00-21:00",
    timezone: str = "Asia/Shanghai",
    weekdays: str = "",
    max_attempts: int = 5,
    targets: dict[str, int] | None = None,
    pollsters: tuple[str, ...] = ("p1", "p2"),
    hold_minutes: int = 30,
) -> World:
    """A district, programme, wave, campaign, stratum targets and pollster users."""
    async with write_transaction():
        unit = await Unit.insert(Unit(code="T01", name="测试区", level="district")).returning(
            Unit.id
        )
        programme = await Programme.insert(
            Programme(code="t", name="测试方案", region=unit[0]["id"])
        ).returning(Programme.id)
        wave = await Wave.insert(
            Wave(programme=programme[0]["id"], month="2026-11", status="collecting")
        ).returning(Wave.id)
        wave_id = int(wave[0]["id"])
        campaign = await Campaign.insert(
            Campaign(
                wave=wave_id,
                name="测试电话访问",
                calling_windows=windows,
                timezone=timezone,
                excluded_weekdays=weekdays,
                max_attempts=max_attempts,
                hold_minutes=hold_minutes,
            )
        ).returning(Campaign.id)
        for stratum, target in (targets or {}).items():
            await StratumTarget.insert(StratumTarget(wave=wave_id, stratum=stratum, target=target))
        users: dict[str, int] = {}
        for name in pollsters:
            row = await AppUser.insert(
                AppUser(username=name, display_name=name, password_hash="x", roles="pollster")
            ).returning(AppUser.id)
            users[name] = int(row[0]["id"])
    return World(wave_id, int(campaign[0]["id"]), users)


async def add_street_and_community() -> tuple[str, str]:
    """A street and a community under the test district (code T01): their codes."""
    async with write_transaction():
        district = await Unit.select(Unit.id).where(Unit.code == "T01").first()
        assert district is not None
        street = await Unit.insert(
            Unit(code="T01001", name="甲街道", level="street", parent=district["id"])
        ).returning(Unit.id)
        await Unit.insert(
            Unit(code="T01001001", name="乙社区", level="community", parent=street[0]["id"])
        )
    return "T01001", "T01001001"
