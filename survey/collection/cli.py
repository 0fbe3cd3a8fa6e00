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
    from survey.cli_errors import CommandError
    from survey.waves import WaveError
    from survey.waves import resolve_wave as resolve

    try:
        return await resolve(text)
    except WaveError as exc:
        raise CommandError(str(exc)) from exc


def _expiry(text: str | None) -> datetime.datetime | None:
    from survey.cli_errors import CommandError

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
    from survey.cli_errors import CommandError
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
    from survey.cli_errors import CommandError
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
    from survey.cli_errors import CommandError
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
    from survey.cli_errors import CommandError
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


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def cmd_rates(args: argparse.Namespace) -> int:
    import csv
    import json

    from survey.cli_errors import CommandError
    from survey.collection.dispositions import counts_as_rows, web_rates
    from survey.estimation.aapor import RATE_NAMES

    if args.e is not None and not 0.0 <= args.e <= 1.0:
        raise CommandError(f"--e 应在 0 到 1 之间，收到 {args.e}")

    async def go() -> Any:
        return await web_rates(await resolve_wave(args.wave), args.e)

    report = _run(go)
    groups: list[tuple[str, Any]] = [("overall", report.overall)]
    if args.by == "stratum":
        groups += list(report.by_stratum.items())
    if args.format == "json":
        out = {
            "invitations": report.invitations,
            "e": report.overall[0].e,
            "e_estimated": report.overall[0].e_estimated,
            "groups": [
                {
                    "group": name,
                    "unweighted": pair[0].as_dict(),
                    "weighted": pair[1].as_dict(),
                }
                for name, pair in groups
            ],
            "dispositions": counts_as_rows(report.counts),
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    if args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(("group", "weighting", "e", *RATE_NAMES))
        for name, pair in groups:
            for label, rates in (("unweighted", pair[0]), ("weighted", pair[1])):
                values = rates.as_dict()
                writer.writerow(
                    (
                        name,
                        label,
                        rates.e,
                        *("" if values[r] is None else values[r] for r in RATE_NAMES),
                    )
                )
        return 0
    un = report.overall[0]
    e_text = "—" if un.e is None else f"{un.e:.3f}"
    print(
        f"网络邀请 {report.invitations} 个；e = {e_text}（由已判定邀请估计）"
        if un.e_estimated
        else f"网络邀请 {report.invitations} 个；e = {e_text}（人工设定）"
    )
    print("组\t加权\t" + "\t".join(r.upper() for r in RATE_NAMES))
    for name, pair in groups:
        for label, rates in (("否", pair[0]), ("是", pair[1])):
            values = rates.as_dict()
            print(
                f"{'总体' if name == 'overall' else name or '—'}\t{label}\t"
                + "\t".join(_pct(values[r]) for r in RATE_NAMES)
            )
    return 0


def cmd_remind(args: argparse.Namespace) -> int:
    from survey.cli_errors import CommandError
    from survey.collection.invitations import InvitationError
    from survey.collection.reminders import ReminderError, send_reminders
    from survey.collection.sms import FileGateway

    base_url = args.base_url or os.environ.get("PINGAN_PUBLIC_URL", DEFAULT_BASE_URL)

    async def go() -> int:
        return await send_reminders(
            await resolve_wave(args.wave),
            base_url,
            FileGateway(args.gateway_file),
            after_days=args.after_days,
            max_reminders=args.max_reminders,
        )

    try:
        count = _run(go)
    except (InvitationError, ReminderError) as exc:
        raise CommandError(str(exc)) from exc
    print(f"已交给短信网关（文件 {args.gateway_file}）提醒短信 {count} 条。")
    return 0


def cmd_to_phone(args: argparse.Namespace) -> int:
    from survey.cati.cases import CatiError
    from survey.cati.mixed_mode import to_phone
    from survey.cli_errors import CommandError

    strata = [s.strip() for s in (args.strata or "").split(",") if s.strip()]

    async def go() -> Any:
        return await to_phone(
            await resolve_wave(args.wave),
            after_days=args.after_days,
            strata=strata or None,
            username=os.environ.get("USER", "cli"),
        )

    try:
        summary = _run(go)
    except CatiError as exc:
        raise CommandError(str(exc)) from exc
    print(
        f"已转为电话访问 {summary.switched} 个邀请（网络链接已关闭）；"
        f"跳过 {summary.skipped} 个（已完成或号码已在电话任务中）。"
    )
    return 0


def cmd_delivery(args: argparse.Namespace) -> int:
    from survey.cli_errors import CommandError
    from survey.collection.dispositions import DeliveryReportError, record_delivery_reports

    async def go() -> tuple[int, int]:
        return await record_delivery_reports(await resolve_wave(args.wave), args.file)

    try:
        recorded, unknown = _run(go)
    except DeliveryReportError as exc:
        raise CommandError(str(exc)) from exc
    print(f"已记录送达回执 {recorded} 条；本测评期中找不到的号码 {unknown} 个。")
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

    r = sub.add_parser("rates", help="网络邀请的 AAPOR 应答率（RR1–6、COOP1–4、REF1–3、CON1–3）")
    r.add_argument("wave", help=wave_help)
    r.add_argument("--by", choices=("stratum",), help="另按层列出")
    r.add_argument("--format", choices=("text", "json", "csv"), default="text")
    r.add_argument("--e", type=float, help="e（未知资格中估计合格的比例；默认由已判定邀请估计）")
    r.set_defaults(func=cmd_rates)

    m = sub.add_parser("remind", help="提醒短信：未完成、未拒绝、未过期的邀请（同一链接）")
    m.add_argument("wave", help=wave_help)
    m.add_argument("--after-days", type=float, default=3, help="距上一条短信至少天数（默认 3）")
    m.add_argument("--max-reminders", type=int, default=2, help="每个邀请最多提醒次数（默认 2）")
    m.add_argument("--gateway-file", required=True, help="文件网关写入的 CSV 文件")
    m.add_argument("--base-url", help=base_help)
    m.set_defaults(func=cmd_remind)

    t = sub.add_parser("to-phone", help="N 天后仍未完成的网络邀请转为电话访问（关闭网络链接）")
    t.add_argument("wave", help=wave_help)
    t.add_argument("--after-days", type=float, default=7, help="首次发送后天数（默认 7）")
    t.add_argument("--strata", help="只转这些层（逗号分隔，默认全部）")
    t.set_defaults(func=cmd_to_phone)

    d = sub.add_parser("delivery", help="导入短信网关的送达回执（CSV: phone,status[,time]）")
    d.add_argument("wave", help=wave_help)
    d.add_argument("file", help="回执文件（status: delivered|failed）")
    d.set_defaults(func=cmd_delivery)
