"""``survey programme …``: create, list, show a 测评方案 and change its policy."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any


def _run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    import asyncio  # here, not at the top: every command builds this module's parser

    from survey.db.migrate import migrate_forwards

    async def go() -> Any:
        await migrate_forwards()
        return await coro_fn()

    return asyncio.run(go())


def _fail(exc: Exception) -> Exception:
    """Print a rejected policy's problems (one per line) and return the one-line error."""
    from survey.cli_errors import CommandError

    for problem in getattr(exc, "problems", []):
        print(problem, file=sys.stderr)
    return CommandError(str(exc))


def cmd_programme(args: argparse.Namespace) -> int:
    from survey.programmes import service

    user = os.environ.get("USER", "cli")
    try:
        if args.programme_action == "create":
            text, name = service.read_policy_source(args.policy)
            _run(
                lambda: service.create_programme(
                    args.code,
                    args.name,
                    args.region,
                    policy_text=text,
                    policy_name=name,
                    web_instrument=args.web_instrument,
                    phone_instrument=args.phone_instrument,
                    username=user,
                )
            )
            detail = _run(lambda: service.programme_detail(args.code))
            print(f"已创建测评方案 {args.code}（{detail.info.name}）。")
            _print_info(detail.info)
        elif args.programme_action == "set-policy":
            text, name = service.read_policy_source(args.file)
            info, changed = _run(lambda: service.set_policy(args.code, text, name, username=user))
            if changed:
                print(f"测评方案 {args.code} 的办法已更新为{info.describe()}。")
                print("已计算的测评期保留计算时使用的办法；之后计算的测评期使用新办法。")
            else:
                print(f"测评方案 {args.code} 已在使用该办法（{info.describe()}），未改变。")
        elif args.programme_action == "list":
            programmes = _run(service.list_programmes)
            if not programmes:
                print("还没有测评方案；用 survey programme create 创建。")
            for p in programmes:
                policy = f"{p.policy.policy_id} v{p.policy.version}" if p.policy else "-"
                print(
                    f"{p.code}\t{p.name}\t{p.region_name}（{p.region_code}）\t"
                    f"网页: {p.web_instrument}\t电话: {p.phone_instrument}\t办法: {policy}"
                )
        else:  # show
            from survey.results.policies import with_computed_policies

            async def show() -> Any:
                return await with_computed_policies(await service.programme_detail(args.code))

            detail = _run(show)
            if args.policy_number:
                print(_run(lambda: service.policy_text(args.code, args.policy_number)), end="")
                return 0
            info = detail.info
            print(f"{info.code}  {info.name}")
            _print_info(info)
            print("办法版本:")
            for v in detail.versions:
                when = v.created_at.strftime("%Y-%m-%d %H:%M") if v.created_at else ""
                print(f"  {v.describe()}  {v.source_name}  {v.created_by} {when}")
            print("测评期:")
            if not detail.waves:
                print("  （无）")
            for w in detail.waves:
                from survey.waves import STATUS_NAMES

                used = (
                    f"按 {w.policy_id} v{w.policy_version}（{w.policy_hash[:12]}）计算"
                    if w.policy_hash
                    else "尚未计算"
                )
                print(f"  {w.month}  {STATUS_NAMES.get(w.status, w.status)}  {used}")
    except service.ProgrammeError as exc:
        raise _fail(exc) from exc
    return 0


def _print_info(info: Any) -> None:
    print(f"  区域: {info.region_name}（{info.region_code}）")
    print(f"  网页自填问卷: {info.web_instrument}")
    print(f"  电话访问问卷: {info.phone_instrument}")
    if info.policy is not None:
        print(f"  当前办法: {info.policy.describe()}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``programme create|list|show|set-policy``."""
    parser = subparsers.add_parser(
        "programme",
        help="测评方案: 创建、列出、查看、更换办法",
        description="测评方案 = 区域 + 网页问卷 + 电话问卷 + 测评结果运用办法（排名与预警规则）。"
        "设置新区县的步骤见 docs/new-district.md。",
    )
    actions = parser.add_subparsers(dest="programme_action", metavar="ACTION")
    actions.required = True
    a = actions.add_parser("create", help="创建测评方案")
    a.add_argument(
        "code", metavar="CODE", help="方案代码（小写字母、数字、连字符），如 beicheng-lsyd"
    )
    a.add_argument("--region", required=True, metavar="UNIT_CODE", help="区/县（或市）的区划代码")
    a.add_argument("--name", required=True, help="方案名称，如 北城区两率一度月度测评")
    a.add_argument(
        "--policy",
        metavar="FILE.toml",
        help="办法文件路径或本系统办法的 id（默认: 系统自带的默认办法 default）",
    )
    a.add_argument(
        "--web-instrument", metavar="ID", help="网页自填问卷 id（默认 liangshuaiyidu_web）"
    )
    a.add_argument(
        "--phone-instrument", metavar="ID", help="电话访问问卷 id（默认 liangshuaiyidu）"
    )
    a.set_defaults(func=cmd_programme)
    a = actions.add_parser("list", help="列出测评方案")
    a.set_defaults(func=cmd_programme)
    a = actions.add_parser("show", help="查看测评方案、办法的各个版本与各测评期使用的办法")
    a.add_argument("code", metavar="CODE")
    a.add_argument("--policy-number", type=int, metavar="N", help="打印第 N 版办法文件的全文")
    a.set_defaults(func=cmd_programme)
    a = actions.add_parser(
        "set-policy",
        help="更换测评方案的办法（新版本；已计算的测评期不受影响）",
        description="检查并保存新的办法文件为该方案的下一版。文件有问题时列出所有问题，不保存。",
    )
    a.add_argument("code", metavar="CODE")
    a.add_argument("file", metavar="FILE.toml", help="办法文件路径或本系统办法的 id")
    a.set_defaults(func=cmd_programme)
