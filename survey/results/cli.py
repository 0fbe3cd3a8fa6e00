"""Sub-commands: ``results compute|export``, ``report`` and ``responses import``."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any


def _run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coro_fn())  # type: ignore[arg-type]


def _user() -> str:
    return os.environ.get("USER", "cli")


def _write(content: bytes, default_name: str, output: str | None) -> str:
    target = Path(output or default_name)
    target.write_bytes(content)
    return str(target)


def cmd_compute(args: argparse.Namespace) -> int:
    from survey.cli import CommandError
    from survey.db.migrate import migrate_forwards
    from survey.results.compute import ComputeError, compute_wave, resolve_wave

    async def go() -> str:
        await migrate_forwards()
        wave = await resolve_wave(args.wave)
        summary = await compute_wave(
            wave.id, username=_user(), include_non_probability=args.include_non_probability
        )
        return summary.describe()

    try:
        print(f"计算完成。{_run(go)}")
    except ComputeError as exc:
        raise CommandError(str(exc)) from exc
    return 0


def cmd_revise(args: argparse.Namespace) -> int:
    from survey.cli import CommandError
    from survey.db.migrate import migrate_forwards
    from survey.results.compute import ComputeError, resolve_wave
    from survey.results.revisions import revise_wave

    async def go() -> str:
        await migrate_forwards()
        wave = await resolve_wave(args.wave)
        summary = await revise_wave(
            wave.id,
            reason=args.reason,
            username=_user(),
            include_non_probability=args.include_non_probability,
        )
        return summary.describe()

    try:
        print(_run(go))
    except ComputeError as exc:
        raise CommandError(str(exc)) from exc
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from survey.cli import CommandError
    from survey.db.migrate import migrate_forwards
    from survey.results.compute import ComputeError, resolve_wave
    from survey.results.export import export_microdata, export_results

    if args.microdata and args.format == "json":
        raise CommandError("微观数据只能导出为 csv 或 xlsx")

    async def go() -> tuple[bytes, str, str]:
        await migrate_forwards()
        wave = await resolve_wave(args.wave)
        if args.microdata:
            return await export_microdata(wave.id, args.format)
        return await export_results(wave.id, args.format, table=args.table)

    try:
        content, _media, name = _run(go)
    except ComputeError as exc:
        raise CommandError(str(exc)) from exc
    print(f"已写入 {_write(content, name, args.output)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from survey.cli import CommandError
    from survey.db.migrate import migrate_forwards
    from survey.results.compute import ComputeError, resolve_wave
    from survey.results.report import ReportError, render_report

    async def go() -> tuple[bytes, str, str]:
        await migrate_forwards()
        wave = await resolve_wave(args.wave)
        return await render_report(wave.id, args.format)

    try:
        content, _media, name = _run(go)
    except (ComputeError, ReportError) as exc:
        raise CommandError(str(exc)) from exc
    print(f"已写入 {_write(content, name, args.output)}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from survey.cli import CommandError
    from survey.db.migrate import migrate_forwards
    from survey.results.compute import ComputeError, resolve_wave
    from survey.results.importing import import_responses
    from survey.tabular import ImportRejected

    async def go() -> str:
        await migrate_forwards()
        wave = await resolve_wave(args.wave)
        summary = await import_responses(
            wave.id, args.file, args.instrument, args.mapping, username=_user()
        )
        return summary.describe()

    try:
        print(_run(go))
    except (ComputeError, ImportRejected) as exc:
        raise CommandError(str(exc)) from exc
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    results = subparsers.add_parser(
        "results", help="计算、更正、导出测评结果 (compute / revise / export)"
    )
    sub = results.add_subparsers(dest="results_command", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("compute", help="计算一个测评期的各项指标、排名与预警")
    p.add_argument("wave", help="测评期：编号、YYYY-MM 或 方案代码/YYYY-MM")
    p.add_argument(
        "--include-non-probability",
        action="store_true",
        help="把非概率样本（开放链接）也计入（默认不计入）",
    )
    p.set_defaults(func=cmd_compute)
    p = sub.add_parser(
        "revise",
        help="更正已发布的测评期：重新计算为新的更正版本（须说明原因，再用 wave publish 发布）",
        description="已发布的结果不能重新计算；更正会计算出新的版本（第 2、3… 版），"
        "发布前委员会仍看到现行版本，发布后看到标注「更正」的新版本，旧版本仍可查阅。",
    )
    p.add_argument("wave", help="测评期：编号、YYYY-MM 或 方案代码/YYYY-MM")
    p.add_argument("--reason", required=True, help="更正原因（必填，记入审计日志并向委员会显示）")
    p.add_argument(
        "--include-non-probability",
        action="store_true",
        help="把非概率样本（开放链接）也计入（默认不计入）",
    )
    p.set_defaults(func=cmd_revise)
    p = sub.add_parser("export", help="导出指标结果（json/csv/xlsx）或加权微观数据（csv/xlsx）")
    p.add_argument("wave", help="测评期：编号、YYYY-MM 或 方案代码/YYYY-MM")
    p.add_argument("--format", choices=("json", "csv", "xlsx"), default="csv")
    p.add_argument("--microdata", action="store_true", help="导出加权微观数据（含设计变量）")
    p.add_argument(
        "--table",
        choices=("results", "weighting", "flags"),
        default="results",
        help="CSV 导出哪张表：指标结果、加权诊断或数据质量提示（xlsx 总是包含全部）",
    )
    p.add_argument("--output", "-o", help="输出文件（默认按测评期命名，写到当前目录）")
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("report", help="生成月度通报（pdf 或 html）")
    p.add_argument("wave", help="测评期：编号、YYYY-MM 或 方案代码/YYYY-MM")
    p.add_argument("--format", choices=("pdf", "html"), default="pdf")
    p.add_argument("--output", "-o", help="输出文件（默认按测评期命名，写到当前目录）")
    p.set_defaults(func=cmd_report)

    if "responses" in subparsers.choices:
        return  # another area owns ``responses``; its parser must add ``import``
    responses = subparsers.add_parser("responses", help="问卷数据：导入第三方测评机构的数据文件")
    sub = responses.add_subparsers(dest="responses_command", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("import", help="把 CSV/XLSX 数据文件导入测评期（整文件校验，全部或全不）")
    p.add_argument("wave", help="测评期：编号、YYYY-MM 或 方案代码/YYYY-MM")
    p.add_argument("file", help="数据文件（.csv 或 .xlsx）")
    p.add_argument("--instrument", required=True, help="问卷 id，如 liangshuaiyidu")
    p.add_argument("--mapping", help="列对照文件（TOML）；省略时列名即题目 id 与字段名")
    p.set_defaults(func=cmd_import)
