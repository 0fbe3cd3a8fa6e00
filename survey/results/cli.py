"""Sub-commands: ``results compute|export``, ``report`` and ``responses import``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from survey.results.formats import (
    EXPORT_FORMATS,
    LABEL_MODES,
    REPORT_FORMATS,
    RESULT_FORMATS,
    RESULT_TABLES,
    FormatError,
    microdata_format,
    results_export,
)


def _run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    import asyncio

    return asyncio.run(coro_fn())  # type: ignore[arg-type]


def _user() -> str:
    return os.environ.get("USER", "cli")


def _answer(go: Callable[[], Awaitable[str | list[str]]], *refusals: type[Exception]) -> int:
    """Bring the database up to date, run ``go`` and print the line or lines it returns; a
    ``ComputeError`` (or one of ``refusals``) is one line on stderr and exit 1."""
    from survey.cli_errors import CommandError
    from survey.db.migrate import migrate_forwards
    from survey.results.waves import ComputeError

    async def run() -> str | list[str]:
        await migrate_forwards()
        return await go()

    refused: tuple[type[Exception], ...] = (ComputeError, *refusals)
    try:
        out = _run(run)
    except refused as exc:
        raise CommandError(str(exc)) from exc
    print(out if isinstance(out, str) else "\n".join(out))
    return 0


def _write(content: bytes, default_name: str, output: str | None) -> str:
    target = Path(output or default_name)
    target.write_bytes(content)
    return str(target)


def cmd_compute(args: argparse.Namespace) -> int:
    from survey.results.compute import compute_wave, resolve_wave

    async def go() -> str:
        wave = await resolve_wave(args.wave)
        summary = await compute_wave(
            wave.id, username=_user(), include_non_probability=args.include_non_probability
        )
        return f"计算完成。{summary.describe()}"

    return _answer(go)


def cmd_review(args: argparse.Namespace) -> int:
    from survey.cli_errors import CommandError
    from survey.results.compute import ComputeError, resolve_wave
    from survey.results.records import REVIEW_NAMES as names
    from survey.results.review import decide, reviews_for_wave

    deciding = [args.unit, args.outcome, args.reason]
    if any(x is not None for x in deciding) and not all(x is not None for x in deciding):
        raise CommandError("复核一项处理须同时给出 --unit、--outcome 和 --reason（--index 可选）")

    async def go() -> list[str]:
        wave = await resolve_wave(args.wave)
        if args.unit is not None:
            pending = [p for p in await reviews_for_wave(wave.id) if p.unit_code == args.unit]
            index = args.index or (pending[0].index_id if len(pending) == 1 else None)
            if index is None:
                raise ComputeError(
                    f"单位 {args.unit} 有 {len(pending)} 项可复核的处理，请用 --index 指明指标"
                )
            p = await decide(
                wave.id, args.unit, index_id=index, outcome=args.outcome,
                reason=args.reason, username=_user(),
            )  # fmt: skip
            return [
                f"已记录：{p.unit_name} {p.index_name}{p.name} → {names[p.review]}（{p.review_note}）"
            ]
        lines = []
        for p in await reviews_for_wave(wave.id):
            who = f"；{p.review_by}：{p.review_note}" if p.review_by else ""
            chance = f"P(后k位) {p.p_bottom_k:.0%}；" if p.p_bottom_k is not None else ""
            lines.append(
                f"{p.unit_code}\t{p.unit_name}\t{p.index_id}\t{p.name}\t{names.get(p.review, p.review)}"
                f"\t{chance}{p.note}{who}"
            )
        return lines or [f"{wave.month} 没有提请复核或待复核的处理"]

    return _answer(go)


def cmd_exclude(args: argparse.Namespace) -> int:
    from survey.cli_errors import CommandError
    from survey.results.compute import ComputeError, resolve_wave
    from survey.results.exclusions import (
        exclude_responses,
        exclusions_for_wave,
        flags_for_wave,
        lift_exclusion,
    )

    if (args.ids or args.flag is not None) and args.reason is None:
        raise CommandError("排除或恢复问卷须写明 --reason")

    async def go() -> list[str]:
        wave = await resolve_wave(args.wave)
        flags = await flags_for_wave(wave.id)
        ids = list(args.ids)
        if args.flag is not None:
            if not 1 <= args.flag <= len(flags):
                raise ComputeError(f"没有第 {args.flag} 条数据质量提示（共 {len(flags)} 条）")
            chosen = flags[args.flag - 1]
            if not chosen.open_ids:
                raise ComputeError(f"第 {args.flag} 条提示没有可排除的问卷")
            ids.extend(chosen.open_ids)
        if ids:
            act = lift_exclusion if args.restore else exclude_responses
            done = await act(wave.id, ids, reason=args.reason, username=_user())
            return [done.describe("恢复计入" if args.restore else "排除")]
        lines = [f"{wave.month} 的数据质量提示："]
        for number, f in enumerate(flags, start=1):
            batch = f"（可排除 {len(f.open_ids)} 份问卷）" if f.open_ids else ""
            lines.append(f"{number}\t{f.kind_name}\t{f.subject}\t{f.message}{batch}")
        if not flags:
            lines.append("（无）")
        excluded = await exclusions_for_wave(wave.id)
        lines.append(f"已排除的问卷：{len(excluded)} 份")
        lines.extend(
            f"{e.response_id}\t{e.excluded_at:%Y-%m-%d} {e.excluded_by}：{e.reason}"
            for e in excluded
        )
        return lines

    return _answer(go)


def _appeal_line(a: Any) -> str:
    state = (
        f"{a.outcome}{('为' + a.to_level_name) if a.to_level else ''}（{a.decided_by}：{a.reason}"
        f"{f'；更正第 {a.revision} 版' if a.revision else ''}）"
        if a.decided
        else "待决定"
    )
    return (
        f"{a.id}\t{a.month}\t{a.unit_code}\t{a.unit_name}\t{a.index_id}\t{a.level_name}\t"
        f"{a.entered_at:%Y-%m-%d} {a.entered_by}：{a.grounds}\t{state}"
    )


def cmd_appeal_add(args: argparse.Namespace) -> int:
    from survey.results.appeals import add_appeal
    from survey.results.compute import resolve_wave

    async def go() -> str:
        wave = await resolve_wave(args.wave)
        a = await add_appeal(
            wave.id, args.unit_code, grounds=args.grounds, username=_user(), index_id=args.index
        )
        return f"已登记申诉 {a.id}：{a.unit_name} {a.month} {a.level_name}（待委员会决定）"

    return _answer(go)


def cmd_appeal_decide(args: argparse.Namespace) -> int:
    from survey.results.appeals import decide_appeal

    async def go() -> str:
        a = await decide_appeal(
            args.id, outcome=args.outcome, reason=args.reason, username=_user(), to_level=args.to
        )
        return "已决定：" + _appeal_line(a)

    return _answer(go)


def cmd_appeal_list(args: argparse.Namespace) -> int:
    from survey.results.appeals import list_appeals
    from survey.results.compute import resolve_wave

    async def go() -> list[str]:
        wave_id = (await resolve_wave(args.wave)).id if args.wave else None
        return [_appeal_line(a) for a in await list_appeals(wave_id)] or ["没有申诉"]

    return _answer(go)


def cmd_revise(args: argparse.Namespace) -> int:
    from survey.results.compute import resolve_wave
    from survey.results.revisions import revise_wave

    async def go() -> str:
        wave = await resolve_wave(args.wave)
        summary = await revise_wave(
            wave.id,
            reason=args.reason,
            username=_user(),
            include_non_probability=args.include_non_probability,
        )
        return summary.describe()

    return _answer(go)


def cmd_export(args: argparse.Namespace) -> int:
    from survey.cli_errors import CommandError
    from survey.db.migrate import migrate_forwards
    from survey.results.compute import ComputeError, resolve_wave
    from survey.results.export import (
        codebook_csv,
        export_results,
        export_results_codebook,
        margins_csv,
        microdata_file,
    )
    from survey.results.microdata import Microdata, load_microdata
    from survey.results.scripts import script_file

    if not args.microdata and args.format not in RESULT_FORMATS:
        raise CommandError(f"{args.format} 格式只用于微观数据，请加 --microdata")
    try:
        if args.microdata:
            microdata_format(args.format)
        else:
            results_export(args.format, args.table)
    except FormatError as exc:
        raise CommandError(str(exc)) from exc
    if args.with_script and not args.microdata:
        raise CommandError("--with-script 只用于微观数据导出，请加 --microdata")
    if args.with_script == "stata" and args.format != "dta":
        raise CommandError("Stata 脚本读 .dta 文件，请用 --format dta")
    if args.with_script == "r" and args.format == "csv" and args.labels == "text":
        raise CommandError("R 脚本需要代码列，请用 --labels both 或 codes")
    if args.with_script == "r" and args.format == "xlsx":
        raise CommandError("R 脚本读 sav、dta 或 csv 文件，请用 --format sav（或 dta、csv）")

    async def go() -> tuple[list[tuple[bytes, str, str]], Microdata | None]:
        await migrate_forwards()
        wave = await resolve_wave(args.wave)
        if not args.microdata:
            result = await export_results(
                wave.id, args.format, table=args.table, labels=args.labels
            )
            files = [result]
            if args.format == "csv" and args.table == "results":
                files.append(await export_results_codebook(args.labels))
            return files, None
        md = await load_microdata(wave.id)
        files = [microdata_file(md, args.format, args.labels)]
        if args.format == "csv":
            files.append(codebook_csv(md))
        if args.format != "xlsx" or args.with_script:
            files.append(margins_csv(md))
        return files, md

    try:
        files, md = _run(go)
    except (ComputeError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    content, _media, name = files[0]
    target = Path(args.output or name)
    written = [_write(content, name, str(target))]
    # companions beside the main file, named after it: x.sav → x-margins.csv, x-codebook.csv
    for extra, _media, extra_name in files[1:]:
        suffix = extra_name.rsplit("-", 1)[-1] if "-" in extra_name else extra_name
        written.append(_write(extra, extra_name, str(target.with_name(f"{target.stem}-{suffix}"))))
    if args.with_script and md is not None:
        margins = target.with_name(f"{target.stem}-margins.csv")
        text, script_name = script_file(md, args.with_script, target.name, margins.name)
        written.append(
            _write(text.encode("utf-8"), script_name, str(target.with_name(script_name)))
        )
    print("已写入 " + "、".join(written))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from survey.cli_errors import CommandError
    from survey.db.migrate import migrate_forwards
    from survey.results.report import ReportError, render_report
    from survey.results.waves import ComputeError, resolve_wave

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
    from survey.results.compute import resolve_wave
    from survey.results.importing import import_responses
    from survey.tabular import ImportRejected

    async def go() -> str:
        wave = await resolve_wave(args.wave)
        summary = await import_responses(
            wave.id, args.file, args.instrument, args.mapping, username=_user()
        )
        return summary.describe()

    return _answer(go, ImportRejected)


def _wave_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("wave", help="测评期：编号、YYYY-MM 或 方案代码/YYYY-MM")


def _include_non_probability(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--include-non-probability",
        action="store_true",
        help="把非概率样本（开放链接）也计入（默认不计入）",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    results = subparsers.add_parser(
        "results", help="计算、更正、导出测评结果 (compute / revise / export)"
    )
    sub = results.add_subparsers(dest="results_command", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("compute", help="计算一个测评期的各项指标、排名与预警")
    _wave_argument(p)
    _include_non_probability(p)
    p.set_defaults(func=cmd_compute)
    p = sub.add_parser(
        "revise",
        help="更正已发布的测评期：重新计算为新的更正版本（须说明原因，再用 wave publish 发布）",
        description="已发布的结果不能重新计算；更正会计算出新的版本（第 2、3… 版），"
        "发布前委员会仍看到现行版本，发布后看到标注「更正」的新版本，旧版本仍可查阅。",
    )
    _wave_argument(p)
    p.add_argument("--reason", required=True, help="更正原因（必填，记入审计日志并向委员会显示）")
    _include_non_probability(p)
    p.set_defaults(func=cmd_revise)
    p = sub.add_parser(
        "review",
        help="列出提请复核/待复核的处理，或复核一项（维持或撤销，须写理由）",
        description='办法中 review = "hold" 的处理在复核前不能发布；review = "flag" 的处理标注'
        "「提请复核」。不带 --unit 时列出本期全部可复核的处理。",
    )
    _wave_argument(p)
    p.add_argument("--unit", help="单位代码（如 990102P03）")
    p.add_argument("--index", help="指标代码（单位只有一项可复核的处理时可省略）")
    p.add_argument("--outcome", choices=("维持", "撤销"), help="复核结论")
    p.add_argument("--reason", help="复核理由（必填，记入审计日志并在通报中显示）")
    p.set_defaults(func=cmd_review)
    p = sub.add_parser(
        "exclude",
        help="查看数据质量提示；按提示或问卷编号排除问卷（须写理由，重新计算或计算更正版本）",
        description="不带编号时列出本期的数据质量提示（编号、涉及的问卷数）和已排除的问卷。"
        "排除后：未发布的测评期重新计算；已发布的测评期计算为更正版本（再用 wave publish 发布），"
        "原版本仍可查阅。方法说明注明排除的份数和理由。",
    )
    _wave_argument(p)
    p.add_argument("ids", nargs="*", type=int, help="要排除（或 --restore 恢复）的问卷编号")
    p.add_argument("--flag", type=int, help="排除第 N 条数据质量提示涉及的全部问卷")
    p.add_argument("--reason", help="理由（必填，记入审计日志和方法说明）")
    p.add_argument("--restore", action="store_true", help="恢复计入这些问卷")
    p.set_defaults(func=cmd_exclude)
    p = sub.add_parser(
        "export", help="导出指标结果（json/csv/xlsx）或加权微观数据（csv/xlsx/sav/dta）"
    )
    _wave_argument(p)
    p.add_argument("--format", choices=EXPORT_FORMATS, default="csv")
    p.add_argument(
        "--microdata",
        action="store_true",
        help="导出加权微观数据（设计变量、各级单位、基础/耙权/最终权重、全部题目与指标值）",
    )
    p.add_argument(
        "--labels",
        choices=LABEL_MODES,
        default="both",
        help="CSV/XLSX 中编码变量的写法：代码、标签文字或两者（默认，代码列旁加标签列）",
    )
    p.add_argument(
        "--with-script",
        choices=("r", "stata"),
        help="在导出文件旁写一个读入数据、声明抽样设计并复算各项公布指标的 R 或 Stata 脚本",
    )
    p.add_argument(
        "--table",
        choices=RESULT_TABLES,
        default="results",
        help="CSV 导出哪张表：指标结果、加权诊断或数据质量提示（xlsx 总是包含全部）",
    )
    p.add_argument("--output", "-o", help="输出文件（默认按测评期命名，写到当前目录）")
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("report", help="生成月度通报（pdf 或 html）")
    _wave_argument(p)
    p.add_argument("--format", choices=REPORT_FORMATS, default="pdf")
    p.add_argument("--output", "-o", help="输出文件（默认按测评期命名，写到当前目录）")
    p.set_defaults(func=cmd_report)

    appeal = subparsers.add_parser("appeal", help="申诉：登记、决定、列出对已发布处理的申诉")
    sub = appeal.add_subparsers(dest="appeal_command", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("add", help="登记一个单位对已发布处理的申诉")
    _wave_argument(p)
    p.add_argument("unit_code", help="单位代码（如 990102P06）")
    p.add_argument("--grounds", required=True, help="申诉理由（必填）")
    p.add_argument("--index", help="指标代码（单位有多项处理时必填）")
    p.set_defaults(func=cmd_appeal_add)
    p = sub.add_parser(
        "decide",
        help="委员会决定申诉：维持、撤销或变更（撤销、变更作为新的更正版本发布）",
    )
    p.add_argument("id", type=int, help="申诉编号（survey appeal list）")
    p.add_argument("--outcome", required=True, choices=("维持", "撤销", "变更"))
    p.add_argument("--reason", required=True, help="决定理由（必填）")
    p.add_argument("--to", help="变更后的处理：通报批评、黄牌警告、一票否决（或 criticism 等）")
    p.set_defaults(func=cmd_appeal_decide)
    p = sub.add_parser("list", help="列出申诉（全部或一个测评期）")
    p.add_argument("wave", nargs="?", help="测评期（省略则列出全部）")
    p.set_defaults(func=cmd_appeal_list)

    if "responses" in subparsers.choices:
        return  # another area owns ``responses``; its parser must add ``import``
    responses = subparsers.add_parser("responses", help="问卷数据：导入第三方测评机构的数据文件")
    sub = responses.add_subparsers(dest="responses_command", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("import", help="把 CSV/XLSX 数据文件导入测评期（整文件校验，全部或全不）")
    _wave_argument(p)
    p.add_argument("file", help="数据文件（.csv 或 .xlsx）")
    p.add_argument("--instrument", required=True, help="问卷 id，如 liangshuaiyidu")
    p.add_argument("--mapping", help="列对照文件（TOML）；省略时列名即题目 id 与字段名")
    p.set_defaults(func=cmd_import)
