"""``survey questionnaire …``: check instrument files, list the shipped ones, import an XLSForm."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:  # the loader and the model are imported by the handlers that run them
    from questionnaires.model import Problem


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``questionnaire`` command and its ``check`` and ``list`` actions."""
    parser = subparsers.add_parser(
        "questionnaire",
        help="问卷文件：检查、列出、从 XLSForm 导入",
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
    xlsform = actions.add_parser(
        "import-xlsform",
        help="把 XLSForm（ODK/KoboToolbox 的 .xlsx）转换为问卷 TOML",
        description="把 XLSForm 转换为本平台的问卷 TOML（可转换的范围见 docs/xlsform.md）。"
        "不支持的列、题型或表达式逐条列出（工作表、行、列），此时不写文件、退出码为 1；"
        "转换结果再按 questionnaire check 的规则检查。",
    )
    xlsform.add_argument("form", metavar="FORM.xlsx", help="XLSForm 文件")
    xlsform.add_argument(
        "-o", "--output", required=True, metavar="FILE.toml", help="输出的问卷文件"
    )
    xlsform.add_argument("--force", action="store_true", help="输出文件已存在时覆盖")
    xlsform.set_defaults(func=_import_xlsform)


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
    from survey.cli_errors import CommandError

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
    from questionnaires.loader import load_instrument
    from questionnaires.model import InstrumentError

    return check_files_command(args.files, load_instrument, InstrumentError)


def _import_xlsform(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from questionnaires.from_xlsform import XlsformError, convert_xlsform
    from questionnaires.loader import load_instrument_text
    from questionnaires.model import InstrumentError
    from survey.cli_errors import CommandError

    source, target = Path(args.form), Path(args.output)
    if not source.is_file():
        raise CommandError(f"找不到文件 {source}")
    if target.exists() and not args.force:
        raise CommandError(f"{target} 已存在；要覆盖请加 --force")
    try:
        conversion = convert_xlsform(source.read_bytes(), source.name)
    except XlsformError as exc:
        for problem in exc.problems:
            print(problem)
        raise CommandError(
            f"{source.name} 有 {len(exc.problems)} 处无法转换（见上），未写文件"
        ) from None
    for notice in conversion.notices:
        print(f"提示: {notice}", file=sys.stderr)
    try:
        instrument = load_instrument_text(conversion.toml, target.name)
    except InstrumentError as exc:
        # Point each problem at the workbook row of its question, not at the unwritten TOML.
        for found in exc.problems:
            where = conversion.locate(found.item)
            if where:
                print(f"{source.name}: {where}: {found.item}: {found.message}")
            else:
                print(f"{source.name}: {found.item + ': ' if found.item else ''}{found.message}")
        raise CommandError(f"转换结果有 {len(exc.problems)} 个问题（见上），未写文件") from None
    target.write_text(conversion.toml, encoding="utf-8")
    print(f"OK {instrument.id} v{instrument.version} {instrument.short_hash} → {target}")
    return 0


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
