"""Sub-commands ``survey backup``, ``survey restore`` and ``survey purge-contacts``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def go() -> T:
        return await coro_fn()

    import asyncio

    return asyncio.run(go())


def _user() -> str:
    return os.environ.get("USER", "cli")


def cmd_backup(args: argparse.Namespace) -> int:
    from survey.audit import record
    from survey.cli_errors import CommandError
    from survey.db.migrate import prepare_engine
    from survey.lifecycle.backup import BackupError, backup_database, backup_wave

    target = Path(args.output)
    try:
        if args.wave is None:
            backup_database(target)
            print(f"已备份整个数据库到 {target}")
            return 0

        async def go() -> str:
            await prepare_engine()
            summary = await backup_wave(args.wave, target)
            await record(_user(), "backup.wave", f"wave={args.wave} file={target.name}")
            return summary.describe()

        print(f"已备份到 {target}。{_run(go)}")
    except BackupError as exc:
        raise CommandError(str(exc)) from exc
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from survey.audit import record
    from survey.cli_errors import CommandError
    from survey.db.migrate import migrate_forwards
    from survey.lifecycle.backup import BackupError, restore_database, restore_wave

    source = Path(args.file)
    try:
        if not args.wave:
            if not args.yes:
                raise CommandError("恢复整个数据库会覆盖现有数据：请先停止服务，并加 --yes 确认")
            restore_database(source)
            print(f"已从 {source} 恢复整个数据库")
            return 0

        async def go() -> str:
            await migrate_forwards()
            summary = await restore_wave(source)
            await record(_user(), "restore.wave", f"wave={summary.wave_id} file={source.name}")
            return summary.describe()

        print(f"已恢复。{_run(go)}")
    except BackupError as exc:
        raise CommandError(str(exc)) from exc
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from survey.cli_errors import CommandError
    from survey.db.migrate import prepare_engine
    from survey.lifecycle.retention import (
        RetentionError,
        purge_due,
        purge_wave_contacts,
        retention_days_from_env,
    )

    try:
        days = retention_days_from_env() if args.days is None else args.days
        if days < 0:
            raise RetentionError("--days 应为非负整数")
        today = date.fromisoformat(args.today) if args.today else date.today()

        async def go() -> list[str]:
            await prepare_engine()
            if args.wave is not None:
                one = await purge_wave_contacts(
                    args.wave, retention_days=days, today=today, username=_user(),
                    dry_run=args.dry_run,
                )  # fmt: skip
                return [one.describe()]
            return [
                s.describe()
                for s in await purge_due(
                    retention_days=days, today=today, username=_user(), dry_run=args.dry_run
                )
            ]

        lines = _run(go)
    except (RetentionError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    print("\n".join(lines) if lines else f"没有超过保留期（{days} 天）的已结束测评期")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "backup",
        help="备份整个数据库（PostgreSQL: pg_dump；SQLite: 文件）或一个测评期（--wave）",
    )
    p.add_argument("output", help="备份文件路径")
    p.add_argument("--wave", type=int, default=None, help="只备份这个测评期（id），gzip JSON")
    p.set_defaults(func=cmd_backup)

    p = subparsers.add_parser("restore", help="从备份恢复（整个数据库或 --wave 的测评期备份）")
    p.add_argument("file", help="备份文件路径")
    p.add_argument("--wave", action="store_true", help="文件是测评期备份：插入到当前数据库")
    p.add_argument("--yes", action="store_true", help="确认覆盖整个数据库（先停止服务）")
    p.set_defaults(func=cmd_restore)

    p = subparsers.add_parser(
        "purge-contacts",
        help="删除已结束且超过保留期的测评期中的居民电话号码（答案与结果保留）",
    )
    p.add_argument("--wave", type=int, default=None, help="只处理这个测评期（id）")
    p.add_argument(
        "--days",
        type=int,
        default=None,
        help="结束后保留的天数（默认 PINGAN_CONTACT_RETENTION_DAYS，未设为 30）",
    )
    p.add_argument("--today", default=None, help="以这一天为今天（YYYY-MM-DD，用于演练）")
    p.add_argument("--dry-run", action="store_true", help="只统计，不删除")
    p.set_defaults(func=cmd_purge)
