"""The life of a wave (测评期): creation and the status steps 设计 → 采集 → 结束 → 发布.

Rules (checked in one write transaction that re-reads the wave, so two clicks cannot both act):

* a wave is created in ``design`` for a programme and a month (``YYYY-MM``), once per month;
* ``design → collecting`` opens collection (invitation links and the CATI queue work only then);
* ``collecting → closed`` ends collection; ``closed → collecting`` reopens it before publication;
* ``closed → published`` needs computed results (a ``ResultRun`` of the wave); a published wave is
  final: nothing moves it back, so what a committee has read never changes under it. Publishing
  stores the results as revision 1 (``survey.results.revisions``);
* ``published → published`` publishes a pending correction (更正, made by ``survey results
  revise``): its results replace the published ones, the earlier revisions stay readable.

Besides the steps, what each status allows (``ACTIVITIES``, checked by the services with
:func:`check` / :func:`require`): interviews (web answers, telephone calls and outcomes) only
while collecting — closing pauses the wave's telephone campaigns, reopening resumes them;
computing results while collecting or closed, never once published; a correction (revise) only
once published. The full table is in ``docs/lifecycle.md``.

Each step writes an audit row (``wave.create``, ``wave.open``, ``wave.close``, ``wave.reopen``,
``wave.publish``, ``wave.publish-revision``). The steps themselves are taken by
``survey.results.publishing.set_status``: publishing needs the results, and the results depend
on the waves, not the other way round.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from survey.audit import record
from survey.db import is_postgres, write_transaction
from survey.db.tables import Programme, Unit, Wave

STATUS_NAMES: dict[str, str] = {
    "design": "设计",
    "collecting": "采集",
    "closed": "结束",
    "published": "发布",
}
# (from, to) → (audit action, what the step is called in messages).
TRANSITIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("design", "collecting"): ("wave.open", "开始采集"),
    ("collecting", "closed"): ("wave.close", "结束采集"),
    ("closed", "collecting"): ("wave.reopen", "重新开放采集"),
    ("closed", "published"): ("wave.publish", "发布结果"),
}
# What a wave allows in each status besides the steps above: activity → (statuses, name).
ACTIVITIES: dict[str, tuple[frozenset[str], str]] = {
    "interview": (frozenset({"collecting"}), "访问（网上作答、电话访问）"),
    "compute": (frozenset({"collecting", "closed"}), "计算结果"),
    "revise": (frozenset({"published"}), "更正已发布的结果"),
}
# The refusal for an activity in a status it does not allow: what is wrong and what to do.
_REFUSALS: dict[tuple[str, str], str] = {
    ("interview", "design"): "测评期 {month} 尚未开始采集，不能访问",
    ("interview", "closed"): (
        "测评期 {month} 已结束采集，电话访问已暂停，不能再记录访问结果或答案；"
        "如需继续，请先重新开放采集"
    ),
    ("interview", "published"): "测评期 {month} 已发布，不能再访问",
    ("compute", "design"): "测评期 {month} 尚未开始采集，没有可计算的回答",
    ("compute", "published"): (
        "测评期 {month} 已发布，发布的结果不能重新计算；如需更正，请作为更正版本重新计算"
        "（survey results revise {month} --reason 原因，或结果页的「更正」），再重新发布"
    ),
    ("revise", "design"): "测评期 {month} 尚未发布，不需要更正：请直接计算结果",
    ("revise", "collecting"): "测评期 {month} 尚未发布，不需要更正：请直接计算结果",
    ("revise", "closed"): "测评期 {month} 尚未发布，不需要更正：请直接计算结果",
}
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class WaveError(Exception):
    """A wave step that is not allowed; the message says why (Chinese)."""


@dataclass(frozen=True, slots=True)
class WaveStep:
    """The outcome of a status step."""

    wave_id: int
    month: str
    old_status: str
    new_status: str
    revision: int | None = None  # a correction published by this step (published → published)


@dataclass(frozen=True)
class WaveRef:
    """A wave with its programme and the programme's region: what every area names a wave by."""

    id: int
    month: str
    status: str
    programme_id: int
    programme_code: str
    programme_name: str
    region_id: int
    region_code: str
    region_name: str
    policy: str
    instruments: tuple[str, ...]

    @property
    def status_name(self) -> str:
        """The status in words (``STATUS_NAMES``)."""
        return STATUS_NAMES.get(self.status, self.status)

    @property
    def label(self) -> str:
        return f"{self.programme_name} {self.month}"

    @property
    def steps(self) -> tuple[tuple[str, str], ...]:
        """The steps the wave may take now: (next status, name of the step)."""
        return tuple(next_steps(self.status))


_REF_COLUMNS = (
    Wave.id,
    Wave.month,
    Wave.status,
    Wave.programme.id.as_alias("programme_id"),
    Wave.programme.code.as_alias("programme_code"),
    Wave.programme.name.as_alias("programme_name"),
    Wave.programme.region.id.as_alias("region_id"),  # type: ignore[union-attr]
    Wave.programme.region.code.as_alias("region_code"),  # type: ignore[union-attr]
    Wave.programme.region.name.as_alias("region_name"),  # type: ignore[union-attr]
    Wave.programme.policy.as_alias("policy"),
    Wave.programme.instruments.as_alias("instruments"),
)


def _ref(r: dict[str, object]) -> WaveRef:
    return WaveRef(
        id=int(str(r["id"])),
        month=str(r["month"]),
        status=str(r["status"]),
        programme_id=int(str(r["programme_id"])),
        programme_code=str(r["programme_code"]),
        programme_name=str(r["programme_name"]),
        region_id=int(str(r["region_id"])),
        region_code=str(r["region_code"]),
        region_name=str(r["region_name"]),
        policy=str(r["policy"] or ""),
        instruments=tuple(json.loads(str(r["instruments"] or "[]"))),
    )


async def wave_ref(wave_id: int) -> WaveRef | None:
    """Wave ``wave_id`` with its programme and region; None when there is no such wave."""
    row = await Wave.select(*_REF_COLUMNS).where(Wave.id == wave_id).first()
    return None if row is None else _ref(row)


async def visible_regions(district_id: int | None, *, city_above: bool = False) -> set[int] | None:
    """The programme regions whose waves a user limited to ``district_id`` sees: every region
    (None) for an unlimited user, else their district — and, with ``city_above`` (reading
    results), the city above it, whose programme ranks its districts."""
    if district_id is None:
        return None
    regions = {district_id}
    if city_above:
        parent = await Unit.select(Unit.parent).where(Unit.id == district_id).first()
        if parent is not None and parent["parent"] is not None:
            regions.add(int(parent["parent"]))
    return regions


async def visible_wave(
    wave_id: int, district_id: int | None, *, city_above: bool = False
) -> WaveRef | None:
    """Wave ``wave_id`` if a user limited to ``district_id`` sees it (``waves_for``'s rule),
    else None: an unknown wave and another district's look alike."""
    wave = await wave_ref(wave_id)
    regions = await visible_regions(district_id, city_above=city_above)
    if wave is None or (regions is not None and wave.region_id not in regions):
        return None
    return wave


async def waves_for(district_id: int | None, *, city_above: bool = False) -> list[WaveRef]:
    """The waves a user limited to ``district_id`` (None: not limited) sees, newest first
    (``visible_regions``: managing, their district's programmes; ``city_above``, reading
    results, also the city's)."""
    regions = await visible_regions(district_id, city_above=city_above)
    query = Wave.select(*_REF_COLUMNS).order_by(Wave.month, ascending=False).order_by(Wave.id)
    if regions is not None:
        query = query.where(Wave.programme.region.is_in(sorted(regions)))
    return [_ref(r) for r in await query]


async def resolve_wave(text: str) -> int:
    """A wave id from ``12`` (its id), ``2026-11`` (when one programme only has that month) or
    ``nancheng-lsyd/2026-11`` (programme code and month). ``WaveError`` naming the problem."""
    text = text.strip()
    if text.isdigit():
        if not await Wave.exists().where(Wave.id == int(text)):
            raise WaveError(f"测评期 {text} 不存在")
        return int(text)
    code, _, month = text.rpartition("/")
    query = Wave.select(Wave.id).where(Wave.month == month)
    if code:
        query = query.where(Wave.programme.code == code)
    rows = await query
    if not rows:
        raise WaveError(
            f"没有找到测评期「{text}」（写测评期编号、YYYY-MM 或 方案代码/YYYY-MM，"
            "如 nancheng-lsyd/2026-11）"
        )
    if len(rows) > 1:
        raise WaveError(f"「{text}」对应多个测评期，请写成 方案代码/{month} 或使用编号")
    return int(rows[0]["id"])


def check(activity: str, status: str, month: str) -> None:
    """Raise ``WaveError`` (saying what to do) when a wave in ``status`` does not allow
    ``activity`` (a key of ``ACTIVITIES``)."""
    allowed, _name = ACTIVITIES[activity]
    if status not in allowed:
        text = _REFUSALS.get((activity, status), "测评期 {month} 当前状态不允许此操作")
        raise WaveError(text.format(month=month))


async def require(wave_id: int, activity: str) -> str:
    """Inside a write transaction: check that wave ``wave_id`` now allows ``activity``; returns
    its month. On PostgreSQL the wave row is read ``FOR SHARE``, so a concurrent status step
    (which updates the row) waits for this transaction, and this one sees a step committed
    before it — the check cannot be overtaken by a close or a publication."""
    lock = " FOR SHARE" if is_postgres() else ""
    rows = await Wave.raw(f"SELECT status, month FROM wave WHERE id = {{}}{lock}", wave_id)
    if not rows:
        raise WaveError(f"测评期 {wave_id} 不存在")
    check(activity, str(rows[0]["status"]), str(rows[0]["month"]))
    return str(rows[0]["month"])


def next_steps(status: str) -> list[tuple[str, str]]:
    """The statuses a wave in ``status`` may move to, with the name of each step."""
    return [(to, name) for (frm, to), (_, name) in TRANSITIONS.items() if frm == status]


async def create_wave(
    programme_code: str,
    month: str,
    *,
    opens_on: dt.date | None = None,
    closes_on: dt.date | None = None,
    username: str = "",
) -> int:
    """Create the wave of ``programme_code`` for ``month`` (``YYYY-MM``) in status ``design``.

    Returns its id. Raises ``WaveError`` for an unknown programme, a malformed month, dates in the
    wrong order or a month that already has a wave."""
    if not _MONTH.match(month):
        raise WaveError(f"月份「{month}」格式应为 YYYY-MM，例如 2026-12")
    if opens_on and closes_on and closes_on < opens_on:
        raise WaveError(f"结束日期 {closes_on} 早于开始日期 {opens_on}")
    async with write_transaction():
        programme = (
            await Programme.select(Programme.id).where(Programme.code == programme_code).first()
        )
        if programme is None:
            raise WaveError(f"没有测评方案「{programme_code}」")
        if await Wave.exists().where((Wave.programme == programme["id"]) & (Wave.month == month)):
            raise WaveError(f"测评方案「{programme_code}」已有 {month} 的测评期")
        rows = await Wave.insert(
            Wave(
                programme=programme["id"],
                month=month,
                status="design",
                opens_on=opens_on,
                closes_on=closes_on,
            )
        ).returning(Wave.id)
        wave_id = int(rows[0]["id"])
        await record(username, "wave.create", f"wave={wave_id} {programme_code}/{month}")
    return wave_id
