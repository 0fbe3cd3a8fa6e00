"""Revisions of a wave's published results: publication is final, a correction is a new revision.

* Publishing a wave (``survey.waves``: 结束 → 发布) stores its results as revision 1.
* :func:`revise_wave` — the one way to correct published results (``survey results revise``,
  the 更正 form; later appeals or exclusions call it too, after changing what the computation
  reads) — recomputes the wave from the stored answers into a **draft** revision N+1 with the
  reason and who made it. Nothing a reader sees changes yet; a second correction before
  publication replaces the draft.
* Publishing again (:func:`publish_pending_revision`, called by the wave's publish step) makes
  the draft the wave's results (``ResultRun``/``IndexResult``, what the dashboard, report and
  exports read) in one transaction; the committee then sees it marked 「更正」 with its reason
  and date.
* Every revision keeps its rows as JSON, so earlier ones stay readable (:func:`revision_view`).
The audit log records ``results.revise`` (who, why) and ``wave.publish-revision``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from survey import waves
from survey.audit import record
from survey.db import lock_row, write_transaction
from survey.db.tables import Wave
from survey.results.tables import IndexResult, ResultRevision, ResultRun
from survey.results.waves import ComputeError, wave_by_id
from survey.settings import local_time

if TYPE_CHECKING:
    from survey.results.queries import ResultRow, RunInfo

REASON_MAX = 500
_SKIP = {"id", "wave"}


@dataclass(frozen=True, slots=True)
class RevisionInfo:
    """One revision of a wave's results (``published_at`` None: a draft awaiting publication)."""

    wave_id: int
    number: int
    reason: str
    created_by: str
    created_at: dt.datetime
    published_by: str
    published_at: dt.datetime | None

    @property
    def is_correction(self) -> bool:
        return self.number > 1

    @property
    def published_local(self) -> str:
        """When it was published, in the installation's time zone (empty for a draft)."""
        return local_time(self.published_at)

    @property
    def created_local(self) -> str:
        """When it was computed, in the installation's time zone."""
        return local_time(self.created_at)

    @property
    def is_draft(self) -> bool:
        return self.published_at is None


@dataclass(frozen=True, slots=True)
class RevisionSummary:
    """What :func:`revise_wave` stored."""

    wave_id: int
    month: str
    number: int
    n_results: int
    changed: int  # results whose estimate, rank or sanctions differ from the published ones

    def describe(self) -> str:
        return (
            f"{self.month}: 已计算更正版本 第 {self.number} 版（{self.n_results} 条指标结果，"
            f"其中 {self.changed} 条与现行发布版本不同）。须重新发布后委员会才能看到"
            f"（survey wave publish {self.month}）。"
        )


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _encode(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _json_value(v) for k, v in row.items() if k not in _SKIP}


async def _published_rows(wave_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    run = await ResultRun.select().where(ResultRun.wave == wave_id).first()
    rows = await IndexResult.select().where(IndexResult.wave == wave_id).order_by(IndexResult.id)
    return (_encode(run) if run else {}), [_encode(r) for r in rows]


async def record_first_revision(wave_id: int, *, username: str, published_at: Any = None) -> None:
    """Inside the publishing transaction: store the wave's results as revision 1 (once)."""
    if await ResultRevision.exists().where(ResultRevision.wave == wave_id):
        return
    run, rows = await _published_rows(wave_id)
    await ResultRevision.insert(
        ResultRevision(
            wave=wave_id,
            number=1,
            created_by=str(run.get("computed_by", "")),
            published_by=username,
            published_at=published_at or dt.datetime.now(dt.UTC),
            run=json.dumps(run, ensure_ascii=False),
            results=json.dumps(rows, ensure_ascii=False),
        )
    )


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return (str(row["index_id"]), str(row["level"]), str(row["unit_code"]))


def _differs(a: dict[str, Any], b: dict[str, Any] | None) -> bool:
    if b is None:
        return True
    return any(a.get(k) != b.get(k) for k in ("estimate", "rank", "status", "sanctions"))


async def revise_wave(
    wave_id: int,
    *,
    reason: str,
    username: str,
    include_non_probability: bool = False,
) -> RevisionSummary:
    """Recompute a published wave into a draft correction (revision N+1) with ``reason``.

    The one way to correct published results. ``ComputeError`` (Chinese) for a wave that is not
    published, a missing or too long reason, or a computation that fails."""
    reason = reason.strip()
    if not reason:
        raise ComputeError("更正必须说明原因（--reason）")
    if len(reason) > REASON_MAX:
        raise ComputeError(f"更正原因不能超过 {REASON_MAX} 个字")
    wave = await wave_by_id(wave_id)
    try:
        waves.check("revise", wave.status, wave.month)
    except waves.WaveError as exc:
        raise ComputeError(str(exc)) from exc
    # the computation (numpy, scipy.stats) on use: readers of revisions, the report among
    # them, do not pay for its imports
    from survey.results.compute import computed_results

    run, result_rows, summary = await computed_results(
        wave, username=username, include_non_probability=include_non_probability
    )
    new_rows = [_encode(r.to_dict()) for r in result_rows]
    async with write_transaction():
        await lock_row(Wave, wave.id)
        try:
            await waves.require(wave.id, "revise")
        except waves.WaveError as exc:
            raise ComputeError(str(exc)) from exc
        # Waves published before revisions existed (or by the demo) get their revision 1 now.
        await record_first_revision(wave.id, username="")
        _run, published = await _published_rows(wave.id)
        by_key = {_key(r): r for r in published}
        changed = sum(1 for r in new_rows if _differs(r, by_key.get(_key(r))))
        await ResultRevision.delete().where(
            (ResultRevision.wave == wave.id) & ResultRevision.published_at.is_null()
        )
        numbers = await ResultRevision.select(ResultRevision.number).where(
            ResultRevision.wave == wave.id
        )
        number = max((int(r["number"]) for r in numbers), default=1) + 1
        await ResultRevision.insert(
            ResultRevision(
                wave=wave.id,
                number=number,
                reason=reason,
                created_by=username,
                run=json.dumps(_encode(run.to_dict()), ensure_ascii=False),
                results=json.dumps(new_rows, ensure_ascii=False),
            )
        )
        await record(
            username,
            "results.revise",
            f"wave={wave.id} month={wave.month} revision={number} changed={changed} "
            f"reason={reason}",
        )
    return RevisionSummary(wave.id, wave.month, number, summary.n_results, changed)


def _decode_run(wave_id: int, data: dict[str, Any]) -> ResultRun:
    values = dict(data)
    if isinstance(values.get("computed_at"), str):
        values["computed_at"] = dt.datetime.fromisoformat(values["computed_at"])
    return ResultRun(wave=wave_id, **values)


async def publish_pending_revision(wave_id: int, month: str, *, username: str) -> int | None:
    """Inside the wave's publish transaction: make the draft correction the wave's results.
    Returns its number, or None when there is no draft (a repeated publish: nothing to do)."""
    draft = (
        await ResultRevision.select()
        .where((ResultRevision.wave == wave_id) & ResultRevision.published_at.is_null())
        .first()
    )
    if draft is None:
        return None
    rows = [IndexResult(wave=wave_id, **r) for r in json.loads(draft["results"])]
    await IndexResult.delete().where(IndexResult.wave == wave_id)
    await ResultRun.delete().where(ResultRun.wave == wave_id)
    await ResultRun.insert(_decode_run(wave_id, json.loads(draft["run"])))
    for start in range(0, len(rows), 500):
        await IndexResult.insert(*rows[start : start + 500])
    await ResultRevision.update(
        {
            ResultRevision.published_at: dt.datetime.now(dt.UTC),
            ResultRevision.published_by: username,
        }
    ).where(ResultRevision.id == draft["id"])
    await record(
        username,
        "wave.publish-revision",
        f"wave={wave_id} {month} revision={draft['number']} reason={draft['reason']}",
    )
    return int(draft["number"])


def _info(row: dict[str, Any]) -> RevisionInfo:
    return RevisionInfo(
        wave_id=int(row["wave"]),
        number=int(row["number"]),
        reason=str(row["reason"]),
        created_by=str(row["created_by"]),
        created_at=row["created_at"],
        published_by=str(row["published_by"]),
        published_at=row["published_at"],
    )


async def revisions_for_wave(wave_id: int) -> list[RevisionInfo]:
    """Every revision of a wave, newest first (a draft, if any, is the newest)."""
    rows = await ResultRevision.select(
        ResultRevision.wave,
        ResultRevision.number,
        ResultRevision.reason,
        ResultRevision.created_by,
        ResultRevision.created_at,
        ResultRevision.published_by,
        ResultRevision.published_at,
    ).where(ResultRevision.wave == wave_id)
    return sorted((_info(r) for r in rows), key=lambda r: -r.number)


def current_correction(revisions: list[RevisionInfo]) -> RevisionInfo | None:
    """The latest published revision when it is a correction (what readers see marked 更正)."""
    published = [r for r in revisions if not r.is_draft]
    return published[0] if published and published[0].is_correction else None


async def revision_view(
    wave_id: int, number: int
) -> tuple[RevisionInfo, RunInfo | None, list[ResultRow]] | None:
    """One stored revision: its facts, run and result rows (None if there is no such one)."""
    # the read side's records on use: the report, which only asks for the current correction,
    # does not load them (nor the programmes service and numpy behind them)
    from survey.results.queries import result_order, result_row, run_info

    row = (
        await ResultRevision.select()
        .where((ResultRevision.wave == wave_id) & (ResultRevision.number == number))
        .first()
    )
    if row is None:
        return None
    month = str((await wave_by_id(wave_id)).month)
    results = [
        result_row({**r, "wave_id": wave_id, "month": month}) for r in json.loads(row["results"])
    ]
    run_data = json.loads(row["run"])
    run = (
        run_info(wave_id, {**run_data, "computed_at": run_data.get("computed_at", "")})
        if run_data
        else None
    )
    return _info(row), run, sorted(results, key=result_order)


async def pending_revisions(wave_ids: list[int]) -> dict[int, int]:
    """Wave id → number of its draft correction awaiting publication, for ``wave_ids``."""
    rows = await ResultRevision.select(ResultRevision.wave, ResultRevision.number).where(
        ResultRevision.wave.is_in(wave_ids or [-1]) & ResultRevision.published_at.is_null()
    )
    return {int(r["wave"]): int(r["number"]) for r in rows}
