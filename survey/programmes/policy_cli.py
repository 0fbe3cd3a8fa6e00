"""``survey policy …``: check policy files, list the installation's ones."""

from __future__ import annotations

import argparse
from functools import partial
from typing import TYPE_CHECKING

from questionnaires.cli import check_files_command

if TYPE_CHECKING:
    from survey.ranking.policy import KnownCodes

# asyncio and the policy loader are imported by the handlers: every command builds this parser.


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``policy`` command and its ``check`` and ``list`` actions."""
    parser = subparsers.add_parser(
        "policy",
        help="测评结果运用办法文件：检查、列出",
        description="测评结果运用办法（排名、预警、表扬、扣分规则）文件的检查与列出。",
    )
    actions = parser.add_subparsers(dest="policy_action", metavar="ACTION")
    actions.required = True
    check = actions.add_parser(
        "check",
        help="检查办法文件，列出所有问题",
        description="检查办法 TOML 文件：合格的文件打印 OK <id> v<版本> <哈希前12位>，"
        "每个问题打印为 文件:行: 规则: 说明；有问题时退出码为 1。格式见 docs/policy-format.md。"
        "thresholds 中的部门代码按本系统问卷的部门检查；加 --region 时按区划登记表中该区域的"
        "部门、派出所、街道检查。",
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="办法文件（.toml）")
    check.add_argument(
        "--region", metavar="UNIT_CODE", help="按该区/县（或市）的区划登记表检查单位代码"
    )
    check.set_defaults(func=_check)
    listing = actions.add_parser(
        "list", help="列出本系统的办法（自带的与 PINGAN_POLICIES 目录中的）"
    )
    listing.set_defaults(func=_list)


def _known_codes(region: str | None) -> KnownCodes:
    import asyncio

    from survey.programmes.service import known_threshold_codes

    if region is None:
        return asyncio.run(known_threshold_codes(None))  # the instruments' departments only

    async def go() -> KnownCodes:
        from survey.cli_errors import CommandError
        from survey.db.migrate import migrate_forwards
        from survey.db.tables import Unit

        await migrate_forwards()
        row = await Unit.select(Unit.id).where(Unit.code == region).first()
        if row is None:
            raise CommandError(f"区域「{region}」不在区划登记表中")
        return await known_threshold_codes(row["id"])

    return asyncio.run(go())


def _check(args: argparse.Namespace) -> int:
    from survey.ranking.policy import PolicyError, load_policy

    known = _known_codes(args.region)
    return check_files_command(args.files, partial(load_policy, known_codes=known), PolicyError)


def _list(args: argparse.Namespace) -> int:
    del args
    from survey.cli_errors import CommandError
    from survey.ranking.policy import PolicyError, installation_policies

    try:
        offered = installation_policies()
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem)
        raise CommandError(f"办法文件有 {len(exc.problems)} 个问题（见上）") from exc
    for policy, path in offered.values():
        print(f"{policy.id}\tv{policy.version}\t{policy.short_hash}\t{policy.title}\t{path}")
    return 0
