"""``survey policy …``: check policy files, list the shipped ones."""

from __future__ import annotations

import argparse

from questionnaires.cli import check_files_command
from survey.ranking.policy import PolicyError, load_policy, policies_dir


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
        "每个问题打印为 文件:行: 规则: 说明；有问题时退出码为 1。格式见 docs/policy-format.md。",
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="办法文件（.toml）")
    check.set_defaults(func=_check)
    listing = actions.add_parser("list", help="列出系统自带的办法")
    listing.set_defaults(func=_list)


def _check(args: argparse.Namespace) -> int:
    return check_files_command(args.files, load_policy, PolicyError)


def _list(args: argparse.Namespace) -> int:
    del args
    for path in sorted(policies_dir().glob("*.toml")):
        policy = load_policy(path)
        print(f"{policy.id}\tv{policy.version}\t{policy.short_hash}\t{policy.title}\t{path}")
    return 0
