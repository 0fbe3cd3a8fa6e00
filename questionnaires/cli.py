"""``survey questionnaire …``: check instrument files, list the shipped ones."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Protocol, cast

from questionnaires.loader import load_instrument
from questionnaires.model import InstrumentError, Problem


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``questionnaire`` command and its ``check`` and ``list`` actions."""
    parser = subparsers.add_parser(
        "questionnaire",
        help="问卷文件：检查、列出",
        description="问卷（测评工具）文件的检查与列出。",
    )
    actions = parser.add_subparsers(dest="questionnaire_action", metavar="ACTION")
    actions.required = True
    check = actions.add_parser(
        "check",
        help="检查问卷文件，列出所有问题",
        description="检查问卷 TOML 文件：合格的文件打印 OK <id> v<版本> <哈希前12位>，"
        "每个问题打印为 文件:行: 题目: 说明；有问题时退出码为 1。",
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="问卷文件（.toml）")
    check.set_defaults(func=_check)
    listing = actions.add_parser(
        "list", help="列出本系统的问卷（自带的与 PINGAN_QUESTIONNAIRES 目录中的）"
    )
    listing.set_defaults(func=_list)


class _Loaded(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def short_hash(self) -> str: ...


class _ProblemsError(Protocol):
    problems: list[Problem]


def check_files_command(
    paths: Sequence[str], load: Callable[[str], _Loaded], error: type[Exception]
) -> int:
    """Load each file with ``load``: print ``OK <id> v<version> <hash>`` or each of its problems;
    raise ``CommandError`` (exit 1) when any file has problems. Shared by every data-file check."""
    from survey.cli import CommandError

    bad_files = 0
    n_problems = 0
    for path in paths:
        try:
            loaded = load(path)
        except error as exc:
            problems = cast(_ProblemsError, exc).problems
            bad_files += 1
            n_problems += len(problems)
            for problem in problems:
                print(problem)
            continue
        print(f"OK {loaded.id} v{loaded.version} {loaded.short_hash}")
    if bad_files:
        raise CommandError(f"{bad_files} 个文件共有 {n_problems} 个问题（见上）")
    return 0


def _check(args: argparse.Namespace) -> int:
    return check_files_command(args.files, load_instrument, InstrumentError)


def _list(args: argparse.Namespace) -> int:
    from questionnaires import default_instrument_paths, default_instruments

    for path, instrument in zip(
        default_instrument_paths(), default_instruments().values(), strict=True
    ):
        print(
            f"{instrument.id}\tv{instrument.version}\t{instrument.short_hash}\t"
            f"{instrument.title}\t{path}"
        )
    return 0
