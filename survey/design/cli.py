"""``survey sample …``: import frames and number blocks, design, draw, release and verify samples.

WAVE is a wave id, a month ``2026-11`` (when only one programme has that month) or
``PROGRAMME_CODE/2026-11``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from survey.design.choices import ALLOCATIONS, METHODS, MODES

if TYPE_CHECKING:
    from survey.design.service import DesignPlan, DesignSpec

T = TypeVar("T")


def _run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a service call after migrating; expected failures become one-line command errors."""
    from survey.cli_errors import CommandError
    from survey.db.migrate import migrate_forwards
    from survey.design.regions import DesignError
    from survey.tabular import ImportRejected

    async def go() -> T:
        await migrate_forwards()
        return await make()

    try:
        import asyncio

        return asyncio.run(go())
    except (DesignError, ImportRejected) as exc:
        raise CommandError(str(exc)) from exc


def _user() -> str:
    return os.environ.get("USER", "cli")


def _shares(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"批次比例应为逗号分隔的数，例如 0.7,0.3：{text}") from exc


async def _spec(args: argparse.Namespace, wave_id: int) -> DesignSpec:
    from survey.design.queries import latest_frame_id
    from survey.design.regions import DesignError
    from survey.design.service import DesignSpec
    from survey.tabular import read_table

    frame_id = args.frame if args.frame is not None else await latest_frame_id(wave_id)
    do_not_call: tuple[str, ...] = ()
    if args.do_not_call:
        table = read_table(args.do_not_call)
        if "phone" not in table.header:
            raise DesignError(f"{args.do_not_call}: 缺少列「phone」")
        do_not_call = tuple(cells["phone"] for _, cells in table.rows if cells["phone"])
    return DesignSpec(
        frame_id=frame_id,
        mode=args.mode,
        method=args.method,
        allocation=args.allocation,
        total=args.total,
        margin=args.margin,
        p=args.p,
        confidence=args.confidence,
        deff=args.deff,
        response_rate=args.response_rate,
        min_per_stratum=args.min,
        max_per_stratum=args.max,
        batch_shares=args.batches,
        landline_share=args.landline_share,
        exclude_last_waves=args.exclude_waves,
        do_not_call=do_not_call,
    )


def _pad(text: str, width: int) -> str:
    """Left-align ``text`` in ``width`` terminal columns (a Chinese character takes two)."""
    used = sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)
    return text + " " * max(width - used, 1)


def _plan_table(plan: DesignPlan) -> str:
    right = [("最低", 7), ("发放", 7), ("目标完成", 9), ("预期误差", 9)]
    header = _pad("层", 18) + _pad("名称", 12) + f"{'N_h':>9}"
    lines = [header + "".join(" " * (w - 2 * len(t)) + t for t, w in right)]
    for s in plan.strata:
        margin = f"±{s.margin * 100:.1f}" if s.margin is not None else "—"
        lines.append(
            f"{s.stratum:<17} {_pad(s.name, 12)}{s.population:>9}{s.minimum or '—':>7}{s.size:>7}"
            f"{s.target:>9}{margin:>9}"
        )
    lines.append(f"合计: 发放 {plan.total}，目标完成 {plan.target_total}")
    return "\n".join(lines)


def cmd_frame(args: argparse.Namespace) -> int:
    from survey.design.frames import import_frame_file
    from survey.design.queries import resolve_wave

    async def go() -> str:
        wave_id = await resolve_wave(args.wave)
        summary = await import_frame_file(
            wave_id, args.file, kind=args.kind, stratify_by=args.strata, username=_user()
        )
        return summary.describe()

    print(_run(go))
    return 0


def cmd_blocks(args: argparse.Namespace) -> int:
    from survey.design.frames import import_blocks_file
    from survey.design.queries import resolve_wave

    async def go() -> str:
        wave_id = await resolve_wave(args.wave)
        return (await import_blocks_file(wave_id, args.file, username=_user())).describe()

    print(_run(go))
    return 0


def cmd_design(args: argparse.Namespace) -> int:
    from survey.design.queries import resolve_wave
    from survey.design.service import plan_design, save_targets

    async def go() -> str:
        wave_id = await resolve_wave(args.wave)
        plan = await plan_design(wave_id, await _spec(args, wave_id))
        if not args.dry_run:
            await save_targets(plan, username=_user())
        saved = "（仅预览，未保存）" if args.dry_run else "（各层目标已保存）"
        return f"{plan.wave.label} 抽样设计{saved}\n{_plan_table(plan)}"

    print(_run(go))
    return 0


def cmd_draw(args: argparse.Namespace) -> int:
    from survey.design.queries import resolve_wave
    from survey.design.service import draw_sample

    async def go() -> str:
        wave_id = await resolve_wave(args.wave)
        spec = await _spec(args, wave_id)
        return (await draw_sample(wave_id, spec, seed=args.seed, username=_user())).describe()

    print(_run(go))
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from survey.design.queries import resolve_sample, resolve_wave
    from survey.release import release_batches

    async def go() -> str:
        wave_id = await resolve_wave(args.wave)
        sample_id = await resolve_sample(wave_id, args.sample)
        result = await release_batches(sample_id, args.batches, username=_user())
        return result.describe()

    print(_run(go))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from survey.cli_errors import CommandError
    from survey.design.queries import resolve_sample, resolve_wave
    from survey.design.service import Verification, verify_sample

    async def go() -> Verification:
        wave_id = await resolve_wave(args.wave)
        return await verify_sample(await resolve_sample(wave_id, args.sample))

    result = _run(go)
    if not result.consistent:
        raise CommandError(result.describe())
    print(result.describe())
    return 0


def _design_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("wave", help="测评期：编号、月份 2026-11 或 方案代码/2026-11")
    p.add_argument("--frame", type=int, help="抽样框或号段表编号（默认：该测评期最新导入的）")
    p.add_argument(
        "--mode", choices=sorted(MODES), default="phone", help="web=短信邀请网页，phone=电话"
    )
    p.add_argument("--method", choices=sorted(METHODS), default="srswor", help="抽样方法")
    p.add_argument(
        "--allocation", choices=sorted(ALLOCATIONS), default="proportional", help="样本分配方法"
    )
    p.add_argument("--total", type=int, help="发放样本总量（省略：各层最低样本量之和）")
    p.add_argument("--margin", type=float, help="每层目标误差，如 0.08 表示 ±8 个百分点")
    p.add_argument("--p", type=float, default=0.9, help="预期比例（默认 0.9）")
    p.add_argument("--confidence", type=float, default=0.95, help="置信水平（默认 0.95）")
    p.add_argument("--deff", type=float, default=1.0, help="设计效应（默认 1）")
    p.add_argument("--response-rate", type=float, default=1.0, help="预期应答率（默认 1）")
    p.add_argument("--min", type=int, default=0, help="每层最低发放量")
    p.add_argument("--max", type=int, help="每层最高发放量")
    p.add_argument("--batches", type=_shares, default=(0.7, 0.3), help="批次比例（默认 0.7,0.3）")
    p.add_argument(
        "--landline-share", type=float, default=0.25, help="号段抽样中固话比例（默认 0.25）"
    )
    p.add_argument(
        "--exclude-waves", type=int, default=3, help="排除最近几期已抽过的号码（默认 3）"
    )
    p.add_argument("--do-not-call", metavar="FILE", help="勿扰号码名单（含 phone 列的 CSV/XLSX）")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    sample = subparsers.add_parser(
        "sample", help="抽样设计：导入抽样框与号段、设计、抽样、释放批次"
    )
    sub = sample.add_subparsers(dest="sample_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("frame", help="导入抽样框（住户或电话号码名单，CSV/XLSX）")
    p.add_argument("wave", help="测评期")
    p.add_argument("file", help="抽样框文件（.csv 或 .xlsx）")
    p.add_argument("--kind", choices=("phone", "household"), default="phone", help="名单类型")
    p.add_argument(
        "--strata",
        choices=("street", "station", "community", "column"),
        default="street",
        help="分层方式（默认按街道；column = 文件中的 stratum 列）",
    )
    p.set_defaults(func=cmd_frame)

    p = sub.add_parser("blocks", help="导入号段表（prefix, carrier, district）")
    p.add_argument("wave", help="测评期")
    p.add_argument("file", help="号段文件（.csv 或 .xlsx）")
    p.set_defaults(func=cmd_blocks)

    p = sub.add_parser("design", help="计算各层样本量并保存各层目标")
    _design_options(p)
    p.add_argument("--dry-run", action="store_true", help="只显示，不保存目标")
    p.set_defaults(func=cmd_design)

    p = sub.add_parser("draw", help="按设计抽取样本（保存参数、种子与抽样框指纹）")
    _design_options(p)
    p.add_argument("--seed", type=int, help="随机种子（省略则随机生成并记录）")
    p.set_defaults(func=cmd_draw)

    p = sub.add_parser("release", help="释放下一批（或到第 K 批）并生成邀请或电话任务")
    p.add_argument("wave", help="测评期")
    p.add_argument("--sample", type=int, help="样本编号（测评期只有一个样本时可省略）")
    p.add_argument("--batches", type=int, help="释放到第 K 批（默认：下一批）")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("verify", help="按保存的参数与种子重抽，检查样本可复现")
    p.add_argument("wave", help="测评期")
    p.add_argument("--sample", type=int, help="样本编号（测评期只有一个样本时可省略）")
    p.set_defaults(func=cmd_verify)
