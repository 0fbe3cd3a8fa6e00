"""The background drawer of reports (``python -m survey.results.draw_ahead``), started by
``survey.results.report.draw_ahead`` when a wave's stored results get a new revision.

It works through the requests waiting in the cache folder's ``draw-ahead/`` (files
``<database>-w<wave>``), one drawer per database at a time (``draw-ahead/<database>.lock``,
taken with ``flock``: a second drawer waits, then finds little or nothing left to do). For each
requested wave it draws the whole-programme report — PDF, then HTML — of the wave and of the
programme's later computed waves (their changes from the previous wave, ladder and trends read
the recomputed one; every wave of the programme has a new revision, but an earlier wave's report
shows the same figures and is drawn again only when someone asks). Each report is drawn by
``render_report`` under the report's own lock, so that a person who asks meanwhile waits for
this drawing instead of making a second one, and a report already on disk is not drawn again.
Before it exits it looks for requests once more (one made while it released its lock).

Every report drawn or failed is a line in ``draw-ahead.log`` in the cache folder (kept under
1 MB: the older half goes to ``draw-ahead.log.1``); a failed drawing only means that the next
person who asks draws the report.
"""

from __future__ import annotations

import asyncio
import datetime
import fcntl
import os
import time
import traceback
from pathlib import Path

from survey.results.report import (
    DRAWN,
    ReportError,
    draw_ahead_folder,
    open_drawer_lock,
    open_log,
    render_report,
    waiting_requests,
)

LOG_LIMIT = 1_000_000


def _log(folder: Path, line: str) -> None:
    log = folder.parent / "draw-ahead.log"
    try:
        if log.exists() and log.stat().st_size > LOG_LIMIT:
            log.replace(log.with_name(log.name + ".1"))
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        with open_log(folder.parent) as out:
            out.write(f"{now} UTC [{os.getpid()}] {line}\n".encode())
    except OSError:
        pass


def take_requests(folder: Path) -> list[int]:
    """The waves asked for (their request files removed), in the order asked."""
    found = []
    for request in waiting_requests(folder):
        try:
            stamp = request.stat().st_mtime
            request.unlink()
            found.append((stamp, int(request.name.rsplit("-w", 1)[1])))
        except (OSError, ValueError):
            continue
    return [wave for _stamp, wave in sorted(found)]


async def _waves_to_draw(requested: list[int]) -> list[int]:
    """Each requested wave, then its programme's later waves that have results."""
    from survey.db.tables import Wave
    from survey.results.tables import ResultRun

    out: list[int] = []
    for wave_id in requested:
        wave = await Wave.select(Wave.programme, Wave.month).where(Wave.id == wave_id).first()
        if wave is None:
            continue
        later = await (
            Wave.select(Wave.id)
            .where(
                (Wave.programme == wave["programme"])
                & (Wave.month > wave["month"])
                & Wave.id.is_in(ResultRun.select(ResultRun.wave))
            )
            .order_by(Wave.month)
        )
        for w in [wave_id, *(int(r["id"]) for r in later)]:
            if w not in out:
                out.append(w)
    return out


async def draw(folder: Path, requested: list[int]) -> None:
    """Draw the reports of ``requested`` (see the module doc), each failure logged."""
    from survey.db import close_pool, start_pool

    await start_pool()
    try:
        for wave_id in await _waves_to_draw(requested):
            for fmt in ("pdf", "html"):
                start, drawn = time.perf_counter(), DRAWN[fmt]
                try:
                    await render_report(wave_id, fmt)
                except ReportError as exc:  # no results (any more), no PDF backend
                    _log(folder, f"wave {wave_id} {fmt} not drawn: {exc}")
                    continue
                except Exception:
                    _log(folder, f"wave {wave_id} {fmt} failed:\n{traceback.format_exc()}")
                    continue
                took = time.perf_counter() - start
                done = "drawn" if DRAWN[fmt] > drawn else "already on disk"
                _log(folder, f"wave {wave_id} {fmt} {done} ({took:.1f} s)")
    finally:
        await close_pool()


def main() -> int:
    folder = draw_ahead_folder()
    if folder is None:
        return 0
    fd = open_drawer_lock(folder)
    while True:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another drawer at work: wait, then do what is left
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # who is drawing (for a person to see)
        try:
            while requested := take_requests(folder):
                try:
                    asyncio.run(draw(folder, requested))
                except Exception:
                    _log(folder, f"waves {requested} failed:\n{traceback.format_exc()}")
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        if not waiting_requests(folder):
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
