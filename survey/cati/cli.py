"""``survey cati …``: add cases from a sample or a number file, list outcome codes, print the
AAPOR response rates of a campaign."""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from survey.cati.cases import CaseInput

CAMPAIGN_HELP = "呼叫任务编号，或测评期（2027-01、方案代码/2027-01）：该期的电话访问任务"
RATE_LABELS = ("RR1", "RR2", "RR3", "RR4", "RR5", "RR6", "COOP1", "COOP2", "COOP3", "COOP4",
               "REF1", "REF2", "REF3", "CON1", "CON2", "CON3")  # fmt: skip


def _error(message: str) -> Exception:
    from survey.cli_errors import CommandError

    return CommandError(message)


def read_numbers(path: Path) -> list[CaseInput]:
    """Numbers from a file: one per line, or a CSV with a header containing ``phone`` and
    optionally ``stratum``, ``design_weight``, ``batch``. Errors name the line and column."""
    from survey.cati.cases import CaseInput

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(f"无法读取 {path}：{exc}") from exc
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise _error(f"{path}: 文件为空")
    if "phone" not in lines[0]:
        return [CaseInput(line.strip()) for line in lines]
    rows: list[CaseInput] = []
    for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            weight = float(row.get("design_weight") or 1.0)
        except ValueError as exc:
            raise _error(f"{path} 第 {number} 行, 列 design_weight: 不是数字") from exc
        batch_text = (row.get("batch") or "1").strip()
        if not batch_text.isdigit():
            raise _error(f"{path} 第 {number} 行, 列 batch: 应为正整数")
        rows.append(
            CaseInput((row.get("phone") or "").strip(), (row.get("stratum") or "").strip(),
                      weight, int(batch_text))
        )  # fmt: skip
    return rows


def cmd_add_sample(args: argparse.Namespace) -> int:
    from survey.cati.cases import CatiError, add_cases_from_sample

    try:
        import asyncio

        created = asyncio.run(add_cases_from_sample(args.sample))
    except CatiError as exc:
        raise _error(str(exc)) from exc
    print(f"已加入 {created} 个号码（样本 {args.sample} 中已开放、尚无个案的号码）。")
    return 0


def cmd_add_numbers(args: argparse.Namespace) -> int:
    from survey.cati.cases import CatiError, add_cases, campaign_of

    rows = read_numbers(Path(args.file))
    try:
        import asyncio

        async def go() -> int:
            return await add_cases(await campaign_of(args.campaign), rows)

        created = asyncio.run(go())
    except CatiError as exc:
        raise _error(f"{args.file}: {exc}") from exc
    print(f"已加入 {created} 个号码（共 {len(rows)} 行，已有的号码跳过）。")
    return 0


def cmd_outcomes(args: argparse.Namespace) -> int:
    from survey.cati.outcomes import default_outcomes

    print("代码\tAAPOR\t下一步\t快捷键\t名称")
    for o in default_outcomes():
        step = {"retry": f"{o.retry_minutes} 分钟后重拨", "appointment": "预约回访"}.get(
            o.action, "结案"
        )
        print(f"{o.code}\t{o.aapor}\t{step}\t{o.key or '-'}\t{o.label}")
    return 0


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def cmd_rates(args: argparse.Namespace) -> int:
    from survey.cati.cases import CatiError
    from survey.cati.reporting import campaign_rates

    if args.e is not None and not 0 <= args.e <= 1:
        raise _error("--e 应在 0 到 1 之间")
    from survey.cati.cases import campaign_of
    from survey.cati.queue import campaign_rules

    async def go() -> Any:
        campaign = await campaign_of(args.campaign)
        await campaign_rules(campaign)  # CatiError when there is no such campaign
        return await campaign_rates(campaign, args.e)

    try:
        import asyncio

        report = asyncio.run(go())
    except CatiError as exc:
        raise _error(str(exc)) from exc
    groups: list[tuple[str, Any]] = [("总体", report.overall)]
    if args.by == "stratum":
        groups += list(report.by_stratum.items())
    elif args.by == "interviewer":
        groups += list(report.by_interviewer.items())
    un = report.overall[0]
    estimated = "由已判定个案估计" if un.e_estimated else "人工设定"
    print(f"号码 {report.cases} 个；e = {un.e if un.e is None else round(un.e, 4)}（{estimated}）")
    print("\t".join(["分组", "加权", *RATE_LABELS]))
    for name, (unweighted, weighted) in groups:
        for label, rates in (("否", unweighted), ("是", weighted)):
            values = rates.as_dict()
            print("\t".join([name or "—", label, *(_fmt(values[k.lower()]) for k in RATE_LABELS)]))
    return 0


def register(subparsers: Any) -> None:
    """Add ``survey cati`` and its sub-commands."""
    parser = subparsers.add_parser("cati", help="电话访问（CATI）：号码、结果代码、应答率")
    sub = parser.add_subparsers(dest="cati_command", metavar="SUBCOMMAND")
    sub.required = True
    p = sub.add_parser("add-sample", help="把样本中已开放的号码加入该测评期的电话访问任务")
    p.add_argument("sample", type=int, help="样本编号")
    p.set_defaults(func=cmd_add_sample)
    p = sub.add_parser("add-numbers", help="从文件加入号码（每行一个，或含 phone 列的 CSV）")
    p.add_argument("campaign", help=CAMPAIGN_HELP)
    p.add_argument("file", help="号码文件")
    p.set_defaults(func=cmd_add_numbers)
    p = sub.add_parser("outcomes", help="列出拨打结果代码及其 AAPOR 处置代码")
    p.set_defaults(func=cmd_outcomes)
    p = sub.add_parser("rates", help="呼叫任务的 AAPOR 应答率（RR1–6、COOP1–4、REF1–3、CON1–3）")
    p.add_argument("campaign", help=CAMPAIGN_HELP)
    p.add_argument("--e", type=float, default=None, help="未知资格号码中合格的比例（默认估计）")
    p.add_argument("--by", choices=("stratum", "interviewer"), default=None, help="分组")
    p.set_defaults(func=cmd_rates)
