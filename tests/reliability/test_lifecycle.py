"""Data lifecycle: backup and restore (one wave, the whole database) and the phone-number purge.

The restore tests recompute the wave's results with the results service in the restored
database and require them to equal the results computed before the backup: the backup must hold
everything the computation reads, with the same ids and values.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from survey.audit import entries
from survey.cati.tables import Campaign, Case
from survey.collection.tables import Contact, Response
from survey.db import testing
from survey.db.tables import Wave
from survey.design.tables import Frame, FrameRow, Sample, SampledElement
from survey.lifecycle.backup import BackupError, backup_wave, read_wave_backup, restore_wave
from survey.lifecycle.retention import (
    PURGED_CASE_PREFIX,
    RetentionError,
    purge_due,
    purge_wave_contacts,
)
from survey.results.compute import compute_wave
from survey.results.tables import IndexResult, ResultRun
from survey.settings import get_settings
from tests.conftest import REPO

pytestmark = pytest.mark.anyio

# Wave 2 (2026-08) is the demo's first results wave: no earlier wave feeds its rankings, so a
# restore of this wave alone must reproduce its results exactly.
FIRST_RESULTS_WAVE = 2
# Columns that legitimately differ between two computations (row ids, timestamps).
_VOLATILE = {"id", "computed_at"}


async def _results(wave_id: int) -> list[dict[str, Any]]:
    rows = await IndexResult.select().where(IndexResult.wave == wave_id)
    cleaned = [{k: v for k, v in r.items() if k not in _VOLATILE} for r in rows]
    return sorted(cleaned, key=lambda r: (r["index_id"], r["level"], r["unit_code"]))


async def _unpublish(wave_id: int) -> None:
    """The demo's results waves are published, and published results are never computed again
    (survey.waves): these tests recompute a closed wave instead."""
    await Wave.update({Wave.status: "closed"}).where(Wave.id == wave_id)


async def _answers(wave_id: int) -> list[tuple[Any, ...]]:
    rows = await Response.select(
        Response.id, Response.status, Response.answers, Response.design_weight
    ).where(Response.wave == wave_id)
    return sorted((r["id"], r["status"], r["answers"], r["design_weight"]) for r in rows)


async def test_wave_backup_restores_into_an_empty_database_and_recomputes_the_same_results(
    demo_city: None, tmp_path: Path
) -> None:
    await _unpublish(FIRST_RESULTS_WAVE)
    await compute_wave(FIRST_RESULTS_WAVE, username="analyst")
    before = await _results(FIRST_RESULTS_WAVE)
    answers_before = await _answers(FIRST_RESULTS_WAVE)
    assert len(before) > 10 and len(answers_before) >= 500

    target = tmp_path / "wave.json.gz"
    summary = await backup_wave(FIRST_RESULTS_WAVE, target)
    assert summary.rows["response"] == len(answers_before)
    document = read_wave_backup(target)
    # Only this wave's rows: no other wave, no login sessions, no audit log.
    assert [w["id"] for w in document["tables"]["wave"]] == [FIRST_RESULTS_WAVE]
    assert "web_session" not in document["tables"] and "audit_log" not in document["tables"]
    assert {r["wave"] for r in document["tables"]["response"]} == {FIRST_RESULTS_WAVE}

    await testing.empty_all_tables()
    assert await Wave.count() == 0
    restored = await restore_wave(target)
    assert restored.rows["response"] == len(answers_before)
    assert await _answers(FIRST_RESULTS_WAVE) == answers_before

    await IndexResult.delete().where(IndexResult.wave == FIRST_RESULTS_WAVE)
    await ResultRun.delete().where(ResultRun.wave == FIRST_RESULTS_WAVE)
    await compute_wave(FIRST_RESULTS_WAVE, username="analyst")
    assert await _results(FIRST_RESULTS_WAVE) == before

    # A second restore finds the wave there and is refused whole: nothing half-written.
    count = await Response.count()
    with pytest.raises(BackupError, match="请恢复到空数据库"):
        await restore_wave(target)
    assert await Response.count() == count
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(BackupError, match="不是测评期备份文件"):
        read_wave_backup(bad)
    with pytest.raises(BackupError, match="测评期 999 不存在"):
        await backup_wave(999, tmp_path / "none.json.gz")

    # New rows after a restore get fresh ids (sequences moved past the restored ids).
    new_wave = await Wave.insert(Wave(programme=document["tables"]["wave"][0]["programme"],
                                      month="2030-01"))  # fmt: skip
    assert new_wave[0]["id"] > FIRST_RESULTS_WAVE


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "survey"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _rows_sqlite(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(str(path))
    try:
        return list(con.execute(sql).fetchall())
    finally:
        con.close()


_RESULT_SQL = (
    "SELECT index_id, level, unit_code, estimate, se, ci_lower, ci_upper, rank, status, "
    "p_bottom_k, sanctions FROM index_result WHERE wave = {w} ORDER BY index_id, level, unit_code"
)


async def _result_tuples(wave_id: int) -> list[tuple[Any, ...]]:
    rows = await IndexResult.raw(_RESULT_SQL.format(w=int(wave_id)))
    return [tuple(r.values()) for r in rows]


def _pg_url(db_name: str) -> str:
    base = get_settings().database_url.rsplit("/", 1)[0]
    return f"{base}/{db_name}"


def _pg_admin(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
         "-qc", sql],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def _pg_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    out = subprocess.run(
        ["psql", url, "-At", "-F", "\t", "-c", sql],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return [tuple(line.split("\t")) for line in out.stdout.splitlines()]


async def test_whole_database_backup_restores_into_an_empty_database_with_the_same_results(
    demo_city: None, tmp_path: Path, db_engine_name: str
) -> None:
    """``survey backup`` / ``survey restore --yes`` (pg_dump/pg_restore or the sqlite3 backup
    API) into a new, empty database; ``survey results compute`` there gives the same results."""
    wave = 4  # 2026-10: its rankings read the two earlier waves, which the full backup has
    await _unpublish(wave)
    await compute_wave(wave, username="analyst")
    env = dict(os.environ)
    backup = tmp_path / ("full.dump" if db_engine_name == "postgres" else "full.sqlite")
    done = _cli(env, "backup", str(backup))
    assert done.returncode == 0, done.stderr
    if db_engine_name == "postgres":
        name = f"pingan_restore_{uuid.uuid4().hex[:8]}"
        _pg_admin(f'CREATE DATABASE "{name}"')
        try:
            target_env = {**env, "PINGAN_DATABASE_URL": _pg_url(name)}
            refused = _cli(target_env, "restore", str(backup))
            assert refused.returncode == 1 and "--yes" in refused.stderr
            done = _cli(target_env, "restore", str(backup), "--yes")
            assert done.returncode == 0, done.stderr
            sql = "DELETE FROM index_result WHERE wave = 4; DELETE FROM result_run WHERE wave = 4"
            _pg_rows(_pg_url(name), sql)
            done = _cli(target_env, "results", "compute", str(wave))
            assert done.returncode == 0, done.stderr
            restored = _pg_rows(_pg_url(name), _RESULT_SQL.format(w=wave))
            original = [
                tuple("" if v is None else str(v) for v in row)
                for row in _pg_rows(get_settings().database_url, _RESULT_SQL.format(w=wave))
            ]
            assert restored == original and len(original) > 10
        finally:
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    target = tmp_path / "restored.sqlite"
    target_env = {**env, "PINGAN_DATABASE_URL": f"sqlite:///{target}"}
    done = _cli(target_env, "restore", str(backup), "--yes")
    assert done.returncode == 0, done.stderr
    con = sqlite3.connect(str(target))
    con.execute("DELETE FROM index_result WHERE wave = 4")
    con.execute("DELETE FROM result_run WHERE wave = 4")
    con.commit()
    con.close()
    done = _cli(target_env, "results", "compute", str(wave))
    assert done.returncode == 0, done.stderr
    restored_rows = _rows_sqlite(target, _RESULT_SQL.format(w=wave))
    original_rows = await _result_tuples(wave)
    assert restored_rows == original_rows and len(original_rows) > 10
    assert _rows_sqlite(target, "PRAGMA journal_mode") == [("wal",)]


async def _phones(wave_id: int) -> dict[str, list[str]]:
    """Every stored resident's number of the wave (number-block lists hold carriers' prefixes)."""
    frames = (
        await Frame.select(Frame.id)
        .where((Frame.wave == wave_id) & (Frame.kind != "blocks"))
        .output(as_list=True)
    )
    samples = await Sample.select(Sample.id).where(Sample.wave == wave_id).output(as_list=True)
    campaigns = (
        await Campaign.select(Campaign.id).where(Campaign.wave == wave_id).output(as_list=True)
    )
    return {
        "contact": await Contact.select(Contact.phone).where(Contact.wave == wave_id).output(
            as_list=True
        ),
        "frame": await FrameRow.select(FrameRow.phone).where(
            FrameRow.frame.is_in(frames or [-1])
        ).output(as_list=True),
        "sampled": await SampledElement.select(SampledElement.phone).where(
            SampledElement.sample.is_in(samples or [-1])
        ).output(as_list=True),
        "case": await Case.select(Case.phone).where(
            Case.campaign.is_in(campaigns or [-1])
        ).output(as_list=True),
    }  # fmt: skip


async def test_purge_blanks_every_phone_number_of_a_closed_wave_and_keeps_answers_and_results(
    demo_city: None,
) -> None:
    wave_id = 1  # the demo's collecting wave: it has contacts, a phone frame, a sample, CATI cases
    before = await _phones(wave_id)
    assert all(any(before[k]) for k in ("contact", "sampled", "case")), before
    answers_before = await _answers(wave_id)
    other_wave_phones = await _phones(FIRST_RESULTS_WAVE)
    await _unpublish(FIRST_RESULTS_WAVE)
    await compute_wave(FIRST_RESULTS_WAVE, username="analyst")
    results_before = await _results(FIRST_RESULTS_WAVE)

    with pytest.raises(RetentionError, match="尚未结束"):
        await purge_wave_contacts(wave_id, retention_days=0)
    await Wave.update({Wave.status: "closed", Wave.closes_on: date(2026, 11, 30)}).where(
        Wave.id == wave_id
    )
    with pytest.raises(RetentionError, match="保留期内"):
        await purge_wave_contacts(wave_id, retention_days=30, today=date(2026, 12, 29))
    assert await _phones(wave_id) == before  # refused: nothing changed

    dry = await purge_wave_contacts(
        wave_id, retention_days=30, today=date(2026, 12, 30), dry_run=True
    )
    assert await _phones(wave_id) == before
    summary = await purge_wave_contacts(
        wave_id, retention_days=30, today=date(2026, 12, 30), username="admin"
    )
    assert summary.total == dry.total == sum(sum(1 for p in v if p) for v in before.values())
    after = await _phones(wave_id)
    assert {k: len(v) for k, v in after.items()} == {k: len(v) for k, v in before.items()}
    assert not any(p for k, v in after.items() if k != "case" for p in v)
    assert all(p.startswith(PURGED_CASE_PREFIX) for p in after["case"])
    assert not any(re.search(r"1[3-9]\d{9}", p) for v in after.values() for p in v)
    assert not any(p in after["case"] for p in before["case"])
    blocks = await FrameRow.select(FrameRow.phone).where(
        FrameRow.frame.is_in(
            await Frame.select(Frame.id).where(Frame.kind == "blocks").output(as_list=True)
        )
    )
    assert blocks and all(re.fullmatch(r"1[3-9]\d{5}|0\d{2,3}-\d{4}", b["phone"]) for b in blocks)
    assert await Contact.count().where((Contact.wave == wave_id) & (Contact.token != "")) == 0
    assert await _answers(wave_id) == answers_before
    assert await _results(FIRST_RESULTS_WAVE) == results_before
    assert await _phones(FIRST_RESULTS_WAVE) == other_wave_phones
    log = await entries("contacts.purge")
    assert len(log) == 1 and log[0].username == "admin" and f"wave={wave_id}" in log[0].detail

    # Purging again is harmless; purge_due finds only closed waves past retention.
    again = await purge_wave_contacts(wave_id, retention_days=0, today=date(2027, 1, 1))
    assert again.total == 0
    due = await purge_due(retention_days=30, today=date(2026, 12, 30), dry_run=True)
    assert wave_id in {s.wave_id for s in due}
    # The command line: one line per wave, nothing left to delete in this one.
    args = ("purge-contacts", "--wave", str(wave_id), "--days", "0", "--dry-run")
    early = _cli(dict(os.environ), *args, "--today", "2026-11-29")  # before the closing date
    assert early.returncode == 1 and "仍在保留期内" in early.stderr
    done = _cli(dict(os.environ), *args, "--today", "2027-01-01")
    assert done.returncode == 0, done.stderr
    assert "将删除 0 个电话号码" in done.stdout


def test_purge_cli_reports_bad_settings_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PINGAN_CONTACT_RETENTION_DAYS": "abc"}
    env["PINGAN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.sqlite'}"
    done = _cli(env, "purge-contacts", "--dry-run")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "PINGAN_CONTACT_RETENTION_DAYS" in done.stderr
    done = _cli(env, "restore", str(tmp_path / "missing.dump"), "--yes")
    assert done.returncode == 1 and "备份文件不存在" in done.stderr
    assert json.dumps(done.stderr)  # one printable line, no traceback
    assert "Traceback" not in done.stderr


def test_a_version_1_wave_backup_is_read_with_the_invitation_link_turned_around(
    tmp_path: Path,
) -> None:
    """Backups written before 2026-12-04 hold ``sampled_element.invitation``; read now, each
    invitation gets ``sampled_element`` instead (what the migrated schema has)."""
    import gzip

    old = {
        "format": "pingan-wave-backup",
        "version": 1,
        "wave_id": 3,
        "tables": {
            "sampled_element": [
                {"id": 1, "sample": 5, "invitation": 7},
                {"id": 2, "sample": 5, "invitation": None},
                {"id": 4, "sample": 5, "invitation": 8},
            ],
            "invitation": [{"id": 7, "wave": 3}, {"id": 8, "wave": 3}, {"id": 9, "wave": 3}],
        },
    }
    source = tmp_path / "v1.json.gz"
    with gzip.open(source, "wt", encoding="utf-8") as fh:
        json.dump(old, fh)
    document = read_wave_backup(source)
    assert document["version"] == 2
    assert document["tables"]["sampled_element"] == [
        {"id": 1, "sample": 5},
        {"id": 2, "sample": 5},
        {"id": 4, "sample": 5},
    ]
    assert [(r["id"], r["sampled_element"]) for r in document["tables"]["invitation"]] == [
        (7, 1),
        (8, 4),
        (9, None),
    ]
    old["version"] = 0
    with gzip.open(source, "wt", encoding="utf-8") as fh:
        json.dump(old, fh)
    with pytest.raises(BackupError, match="备份版本 0 不受支持"):
        read_wave_backup(source)
