"""``survey invitations …``: create invitations for a wave and export / send the SMS file."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def _run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        from survey.db.migrate import migrate_forwards

        await migrate_forwards()
        return await coro_fn()

    import asyncio

    return asyncio.run(main())


async def resolve_wave(text: str) -> int:
    """A wave id from ``ID``, ``YYYY-MM`` or ``PROGRAMME_CODE/YYYY-MM``; CommandError if none."""
    from survey.cli import CommandError
    from survey.waves import WaveError
    from survey.waves import resolve_wave as resolve

    try:
        return await resolve(text)
    except WaveError as exc:
        raise CommandError(str(exc)) from exc


def _expiry(text: str | None) -> datetime.datetime | None:
    from survey.cli import CommandError

    if not text:
        return None
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"--expires “{text}” 不是日期（应为 YYYY-MM-DD）") from exc
    from survey.collection.invitations import CHINA_TIME

    # Valid through the whole given day (China Standard Time, UTC+8).
    return datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), CHINA_TIME)


def cmd_create(args: argparse.Namespace) -> int:
    from survey.cli import CommandError
    from survey.collection.invitations import (
        InvitationError,
        create_invitations,
        read_phone_file,
    )
    from survey.programmes.service import instrument_of_wave

    async def go() -> Any:
        wave_id = await resolve_wave(args.wave)
        phones = read_phone_file(args.phones)
        instrument = args.instrument
        if not instrument:
            instrument = await instrument_of_wave(wave_id, "web")
        return await create_invitations(
            wave_id, phones, instrument, _expiry(args.expires), stratum=args.stratum or ""
        )

    try:
        summary = _run(go)
    except InvitationError as exc:
        raise CommandError(str(exc)) from exc
    print(f"已创建 {len(summary.created)} 个邀请；跳过已邀请的号码 {len(summary.skipped)} 个。")
    print("用 `survey invitations export-sms` 导出短信文件。")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from survey.cli import CommandError
    from survey.collection.invitations import InvitationError
    from survey.collection.sms import export_sms_csv

    base_url = args.base_url or os.environ.get("PINGAN_PUBLIC_URL", DEFAULT_BASE_URL)

    async def go() -> str:
        return await export_sms_csv(await resolve_wave(args.wave), base_url)

    try:
        text = _run(go)
    except InvitationError as exc:
        raise CommandError(str(exc)) from exc
    rows = text.count("\n") - 1
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"已导出 {rows} 条短信到 {args.output}。")
    else:
        sys.stdout.write(text)
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    from survey.cli import CommandError
    from survey.collection.invitations import InvitationError
    from survey.collection.sms import FileGateway, send_invitations

    base_url = args.base_url or os.environ.get("PINGAN_PUBLIC_URL", DEFAULT_BASE_URL)

    async def go() -> int:
        return await send_invitations(
            await resolve_wave(args.wave), base_url, FileGateway(args.gateway_file)
        )

    try:
        count = _run(go)
    except InvitationError as exc:
        raise CommandError(str(exc)) from exc
    print(f"已交给短信网关（文件 {args.gateway_file}）{count} 条。")
    return 0


def cmd_open_link(args: argparse.Namespace) -> int:
    from survey.cli import CommandError
    from survey.collection.invitations import (
        InvitationError,
        create_open_link,
    )
    from survey.programmes.service import instrument_of_wave

    base_url = args.base_url or os.environ.get("PINGAN_PUBLIC_URL", DEFAULT_BASE_URL)

    async def go() -> str:
        wave_id = await resolve_wave(args.wave)
        instrument = args.instrument
        if not instrument:
            instrument = await instrument_of_wave(wave_id, "web")
        return await create_open_link(wave_id, instrument, _expiry(args.expires))

    try:
        token = _run(go)
    except InvitationError as exc:
        raise CommandError(str(exc)) from exc
    print(f"公开链接（非概率样本，默认不计入正式指标）: {base_url.rstrip('/')}/s/{token}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("invitations", help="问卷邀请：生成一次性链接、导出短信")
    sub = p.add_subparsers(dest="invitations_command", metavar="ACTION")
    sub.required = True
    wave_help = "测评期编号，或 方案代码/年-月（如 nancheng-lsyd/2026-11）"
    base_help = "链接的网址前缀（默认 PINGAN_PUBLIC_URL 或 http://127.0.0.1:8000）"

    c = sub.add_parser("create", help="为号码文件中的每个手机号生成一次性邀请")
    c.add_argument("wave", help=wave_help)
    c.add_argument("--phones", required=True, help="号码文件（每行一个手机号，或 CSV 第一列）")
    c.add_argument("--instrument", help="问卷 id（默认：测评方案的网页自填问卷；不能用电话问卷）")
    c.add_argument("--expires", help="链接有效期至（YYYY-MM-DD，默认测评期结束日或 30 天）")
    c.add_argument("--stratum", help="层（可选）")
    c.set_defaults(func=cmd_create)

    e = sub.add_parser("export-sms", help="导出短信文件（CSV: phone,invitation_id,link,text）")
    e.add_argument("wave", help=wave_help)
    e.add_argument("--base-url", help=base_help)
    e.add_argument("--output", "-o", help="输出文件（默认打印到屏幕）")
    e.set_defaults(func=cmd_export)

    o = sub.add_parser("open-link", help="公开链接（二维码，非概率样本，默认不计入正式指标）")
    o.add_argument("wave", help=wave_help)
    o.add_argument("--instrument", help="问卷 id（默认：测评方案的网页自填问卷；不能用电话问卷）")
    o.add_argument("--expires", help="有效期至（YYYY-MM-DD）")
    o.add_argument("--base-url", help=base_help)
    o.set_defaults(func=cmd_open_link)

    s = sub.add_parser(
        "send", help="经短信网关发送（文件网关：追加到 CSV 文件），发送后删除明文链接令牌"
    )
    s.add_argument("wave", help=wave_help)
    s.add_argument("--gateway-file", required=True, help="文件网关写入的 CSV 文件")
    s.add_argument("--base-url", help=base_help)
    s.set_defaults(func=cmd_send)
