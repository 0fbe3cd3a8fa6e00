"""Backup and restore: the whole database, or one wave.

* Whole database: PostgreSQL through ``pg_dump -Fc`` / ``pg_restore`` (custom format, no owner);
  SQLite through the ``sqlite3`` online backup API (a consistent copy even while the app writes,
  WAL included). Restoring the whole database replaces it: stop the app first.
* One wave: a portable JSON document (gzip) holding every row that descends from the wave
  (frames, samples, invitations, contacts, responses, CATI campaigns and cases, results …), the
  rows those reference (its programme) and the reference data the results need (registry units,
  stations, departments, population counts, users). It restores into any migrated database of
  either engine — empty, or holding the same reference rows — with the original ids, in one
  write transaction: it is stored whole or not at all.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from piccolo.columns import Date, ForeignKey, Timestamp, Timestamptz
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

from survey.db import write_transaction
from survey.db.tables import AuditLog, Programme, Wave, WebSession
from survey.db.testing import all_tables
from survey.settings import Settings, get_settings

WAVE_BACKUP_FORMAT = "pingan-wave-backup"
# 2: the link between a sampled element and its invitation is ``invitation.sampled_element``
# (version 1 stored ``sampled_element.invitation``; read_wave_backup turns it around).
WAVE_BACKUP_VERSION = 2
# Never part of a wave backup: login sessions are ephemeral; the audit log is not wave data.
_EXCLUDED: frozenset[str] = frozenset({WebSession._meta.tablename, AuditLog._meta.tablename})
_CHUNK = 400  # rows per INSERT (well under SQLite's 32,766 bound variables)
_TOOL_TIMEOUT_S = 1800


class BackupError(RuntimeError):
    """A backup or restore that cannot run; the message says why (Chinese, one line)."""


@dataclass(frozen=True, slots=True)
class WaveBackupSummary:
    """What a wave backup holds or a restore wrote: rows per table name."""

    wave_id: int
    rows: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def describe(self) -> str:
        parts = ", ".join(f"{name} {n}" for name, n in sorted(self.rows.items()) if n)
        return f"测评期 {self.wave_id}: 共 {self.total} 行（{parts}）"


# --------------------------------------------------------------------------- whole database


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for version in ("17", "16", "15", "14"):
        candidate = Path(f"/usr/lib/postgresql/{version}/bin/{name}")
        if candidate.exists():
            return str(candidate)
    raise BackupError(f"找不到 {name}：请安装 PostgreSQL 客户端工具")


def _run_tool(args: Sequence[str]) -> None:
    try:
        done = subprocess.run(
            list(args), capture_output=True, text=True, timeout=_TOOL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BackupError(f"{Path(args[0]).name} 超时（{_TOOL_TIMEOUT_S} 秒）") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["未知错误"])[-1]
        raise BackupError(f"{Path(args[0]).name} 失败: {last}")


def backup_database(target: Path, settings: Settings | None = None) -> Path:
    """Write a full copy of the configured database to ``target`` (PostgreSQL: custom-format
    dump; SQLite: a database file) and return the path."""
    settings = settings or get_settings()
    target = Path(target)
    if target.parent and not target.parent.exists():
        raise BackupError(f"目录不存在: {target.parent}")
    if settings.is_postgres:
        _run_tool(
            [
                _pg_tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--file={target}",
                f"--dbname={settings.database_url}",
            ]
        )
        return target
    source = settings.sqlite_path
    if not source.exists():
        raise BackupError(f"数据库文件不存在: {source}")
    partial = target.with_name(target.name + ".partial")
    src = sqlite3.connect(str(source), timeout=30)
    try:
        dst = sqlite3.connect(str(partial))
        try:
            src.backup(dst)  # online backup: a consistent snapshot, WAL content included
        finally:
            dst.close()
    finally:
        src.close()
    os.replace(partial, target)  # the target is either the old file or the complete copy
    return target


def restore_database(source: Path, settings: Settings | None = None) -> None:
    """Replace the configured database with the copy in ``source`` (made by
    :func:`backup_database`). The app must be stopped; on PostgreSQL the restore runs in one
    transaction, on SQLite the file is swapped atomically."""
    settings = settings or get_settings()
    source = Path(source)
    if not source.exists():
        raise BackupError(f"备份文件不存在: {source}")
    if settings.is_postgres:
        with source.open("rb") as fh:
            if fh.read(5) != b"PGDMP":
                raise BackupError(f"{source} 不是 pg_dump 自定义格式的备份")
        _run_tool(
            [
                _pg_tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={settings.database_url}",
                str(source),
            ]
        )
        return
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            check = src.execute("PRAGMA integrity_check").fetchone()
        finally:
            src.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{source} 不是有效的 SQLite 数据库: {exc}") from exc
    if not check or check[0] != "ok":
        raise BackupError(f"{source} 未通过完整性检查: {check}")
    target = settings.sqlite_path
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", dir=str(target.parent.resolve()))
    os.close(fd)
    src = sqlite3.connect(str(source))
    try:
        dst = sqlite3.connect(tmp_name)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")
        finally:
            dst.close()
    finally:
        src.close()
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    os.replace(tmp_name, target)


# --------------------------------------------------------------------------- one wave


def _fk_targets(table: type[Table]) -> list[tuple[str, type[Table]]]:
    out: list[tuple[str, type[Table]]] = []
    for column in table._meta.foreign_key_columns:
        assert isinstance(column, ForeignKey)
        out.append((column._meta.name, column._foreign_key_meta.resolved_references))
    return out


def _table_roles() -> tuple[list[type[Table]], list[type[Table]]]:
    """(tables that descend from ``Wave`` through foreign keys, reference tables kept whole),
    both parents first. ``Wave`` and ``Programme`` are neither: only the wave's rows go in."""
    tables = [t for t in all_tables() if t._meta.tablename not in _EXCLUDED]
    descendants: list[type[Table]] = []
    names = {Wave._meta.tablename}
    for table in tables:  # parents first, so one pass finds every descendant
        if table in (Wave, Programme):
            continue
        if any(target._meta.tablename in names for _, target in _fk_targets(table)):
            descendants.append(table)
            names.add(table._meta.tablename)
    reference = [t for t in tables if t not in descendants and t not in (Wave, Programme)]
    return descendants, reference


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _decode_row(table: type[Table], row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    columns = {c._meta.name: c for c in table._meta.columns}
    for name, value in row.items():
        column = columns.get(name)
        if column is None:
            raise BackupError(f"备份中的列 {table._meta.tablename}.{name} 在当前数据库中不存在")
        if value is not None and isinstance(column, Timestamptz | Timestamp):
            value = datetime.fromisoformat(value)
        elif value is not None and isinstance(column, Date):
            value = date.fromisoformat(value)
        out[name] = value
    return out


async def _select_in(table: type[Table], column: str, ids: Iterable[int]) -> list[dict[str, Any]]:
    wanted = sorted(set(ids))
    rows: list[dict[str, Any]] = []
    for start in range(0, len(wanted), _CHUNK):
        part = wanted[start : start + _CHUNK]
        rows.extend(await table.select().where(table._meta.get_column_by_name(column).is_in(part)))
    return rows


async def collect_wave(wave_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every row a restore of wave ``wave_id`` needs, by table name (values as stored)."""
    wave_rows = await Wave.select().where(Wave.id == wave_id)
    if not wave_rows:
        raise BackupError(f"测评期 {wave_id} 不存在")
    descendants, reference = _table_roles()
    picked: dict[type[Table], dict[int, dict[str, Any]]] = {Wave: {wave_id: wave_rows[0]}}
    for table in descendants:
        found: dict[int, dict[str, Any]] = {}
        for column, target in _fk_targets(table):
            parent_ids = picked.get(target)
            if (target in descendants or target is Wave) and parent_ids:
                for row in await _select_in(table, column, parent_ids):
                    found[row["id"]] = row
        picked[table] = found
    programme_ids = {int(wave_rows[0]["programme"])}
    picked[Programme] = {r["id"]: r for r in await _select_in(Programme, "id", programme_ids)}
    # A descendant row may point at a row of another wave's tree (rare); bring those along so
    # every foreign key of the backup resolves.
    changed = True
    while changed:
        changed = False
        for table in list(picked):
            for column, target in _fk_targets(table):
                if target in reference:
                    continue
                have = picked.setdefault(target, {})
                missing = {
                    int(r[column])
                    for r in picked[table].values()
                    if r.get(column) is not None and int(r[column]) not in have
                }
                if missing:
                    for row in await _select_in(target, "id", missing):
                        have[row["id"]] = row
                    changed = True
    out: dict[str, list[dict[str, Any]]] = {}
    for table in reference:
        out[table._meta.tablename] = list(await table.select().order_by(table._meta.primary_key))
    for table, rows in picked.items():
        out[table._meta.tablename] = [rows[k] for k in sorted(rows)]
    return out


async def backup_wave(wave_id: int, target: Path) -> WaveBackupSummary:
    """Write wave ``wave_id`` (and what it references) to ``target`` as gzip'd JSON."""
    tables = await collect_wave(wave_id)
    document = {
        "format": WAVE_BACKUP_FORMAT,
        "version": WAVE_BACKUP_VERSION,
        "wave_id": wave_id,
        "created_at": datetime.now().astimezone().isoformat(),
        "tables": {
            name: [{k: _encode(v) for k, v in row.items()} for row in rows]
            for name, rows in tables.items()
        },
    }
    target = Path(target)
    partial = target.with_name(target.name + ".partial")
    with gzip.open(partial, "wt", encoding="utf-8") as fh:
        json.dump(document, fh, ensure_ascii=False)
    os.replace(partial, target)
    return WaveBackupSummary(wave_id, {name: len(rows) for name, rows in tables.items()})


def read_wave_backup(source: Path) -> dict[str, Any]:
    """The parsed wave backup document in ``source``, checked for format and version."""
    source = Path(source)
    if not source.exists():
        raise BackupError(f"备份文件不存在: {source}")
    try:
        with gzip.open(source, "rt", encoding="utf-8") as fh:
            document = json.load(fh)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"{source} 不是测评期备份文件（gzip JSON）: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != WAVE_BACKUP_FORMAT:
        raise BackupError(f"{source} 不是测评期备份文件")
    if document.get("version") not in (1, WAVE_BACKUP_VERSION):
        raise BackupError(f"{source} 的备份版本 {document.get('version')} 不受支持")
    if not isinstance(document.get("tables"), dict) or not isinstance(document.get("wave_id"), int):
        raise BackupError(f"{source} 缺少 tables 或 wave_id")
    if document["version"] == 1:
        _link_invitations_to_elements(document["tables"])
        document["version"] = WAVE_BACKUP_VERSION
    return document


def _link_invitations_to_elements(tables: dict[str, Any]) -> None:
    """Version 1 → 2: each element's ``invitation`` becomes its invitation's
    ``sampled_element`` (the schema change of 2026-12-04)."""
    element_of: dict[Any, Any] = {}
    for row in tables.get("sampled_element", []):
        invitation = row.pop("invitation", None)
        if invitation is not None:
            element_of[invitation] = row["id"]
    for row in tables.get("invitation", []):
        row["sampled_element"] = element_of.get(row["id"])


def _self_fk_order(table: type[Table], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a self-referencing table ordered so every parent precedes its children."""
    self_cols = [c for c, target in _fk_targets(table) if target is table]
    if not self_cols:
        return rows
    col = self_cols[0]
    by_id = {r["id"]: r for r in rows}
    done: set[int] = set()
    ordered: list[dict[str, Any]] = []

    def visit(row: dict[str, Any]) -> None:
        stack = [row]
        while stack:
            current = stack[-1]
            parent = current.get(col)
            if parent in by_id and parent not in done and by_id[parent] not in stack:
                stack.append(by_id[parent])
                continue
            stack.pop()
            if current["id"] not in done:
                done.add(current["id"])
                ordered.append(current)

    for r in rows:
        visit(r)
    return ordered


def _comparable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _encode(v) for k, v in row.items()}


async def restore_wave(source: Path) -> WaveBackupSummary:
    """Insert the wave in ``source`` into the configured (migrated) database, keeping its ids.

    Reference rows already present must be identical to the backup's; any row of the wave's own
    tables already present is an error (restore into an empty database or one without this
    wave). Everything is written in one transaction."""
    document = read_wave_backup(source)
    wave_id = int(document["wave_id"])
    by_name = {t._meta.tablename: t for t in all_tables()}
    _, reference = _table_roles()
    # The programme is shared by its waves: a second wave of it finds it already there.
    reference_names = {t._meta.tablename for t in reference} | {Programme._meta.tablename}
    unknown = sorted(set(document["tables"]) - set(by_name))
    if unknown:
        raise BackupError(f"备份中的表在当前数据库中不存在: {', '.join(unknown)}")
    written: dict[str, int] = {}
    async with write_transaction():
        for table in all_tables():
            name = table._meta.tablename
            raw_rows = document["tables"].get(name)
            if not raw_rows:
                continue
            rows = [_decode_row(table, r) for r in raw_rows]
            existing = await _select_in(table, "id", [r["id"] for r in rows])
            existing_by_id = {r["id"]: r for r in existing}
            if name in reference_names:
                for row in rows:
                    have = existing_by_id.get(row["id"])
                    if have is not None and _comparable(have) != _comparable(row):
                        raise BackupError(
                            f"表 {name} 中 id={row['id']} 的行与备份不同：请恢复到空数据库"
                        )
                rows = [r for r in rows if r["id"] not in existing_by_id]
            elif existing_by_id:
                first = min(existing_by_id)
                raise BackupError(
                    f"表 {name} 中已有 id={first} 的行（测评期 {wave_id} 已存在？）：请恢复到空数据库"
                )
            rows = _self_fk_order(table, rows)
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start : start + _CHUNK]
                await table.insert(*[table(**r) for r in chunk])
            written[name] = len(rows)
        await _reset_sequences(list(by_name.values()))
    return WaveBackupSummary(wave_id, written)


async def _reset_sequences(tables: Sequence[type[Table]]) -> None:
    """After inserting explicit ids, move PostgreSQL's serial sequences past them (SQLite's
    INTEGER PRIMARY KEY already continues after the largest id)."""
    engine = engine_finder()
    if not isinstance(engine, PostgresEngine):
        return
    for table in tables:
        name = table._meta.tablename
        await table.raw(
            f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
            f'COALESCE((SELECT MAX("id") FROM "{name}"), 0) + 1, false)'
        )
