"""The ``survey`` command line: one entry point, one sub-command per task.

Each area of the platform registers its own sub-commands through a small
``register(subparsers)`` function, so this module only wires them together.
Errors exit non-zero with one clear line on stderr.

The command modules are imported here by name (a misspelt one fails at once) and must stay
light at their top level — argparse, the standard library and small constant modules only —
with every heavy import (numpy, scipy, the database, the web app, the report engine) inside the
handler that needs it: ``survey --help`` and every command pay only for what they run
(``tests/foundation/test_cli_imports.py`` checks it). A new area adds one import and one entry
in ``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

import questionnaires.cli
import survey.cati.cli
import survey.collection.cli
import survey.commands
import survey.design.cli
import survey.estimation.cli
import survey.lifecycle.cli
import survey.programmes.cli
import survey.programmes.policy_cli
import survey.results.cli
from survey.cli_errors import CommandError

# Modules that contribute sub-commands; each exposes ``register(subparsers)`` which adds its
# parsers and sets ``func`` (a callable taking the parsed namespace and returning an exit code).
COMMAND_MODULES: tuple[ModuleType, ...] = (
    survey.commands,
    survey.estimation.cli,
    questionnaires.cli,
    survey.programmes.policy_cli,
    survey.collection.cli,
    survey.design.cli,
    survey.cati.cli,
    survey.results.cli,
    survey.lifecycle.cli,
    survey.programmes.cli,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="survey",
        description="平安测评 — 两率一度 survey platform: design, collect, estimate, rank, report.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        code = int(func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except CommandError as exc:
        print(f"错误: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``survey user list | head``): stop quietly, as Unix tools do,
        # and keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        from survey.db import unreachable_message  # only now: the parser imports no driver

        message = unreachable_message(exc)
        if message is None:
            raise
        print(f"错误: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # CommandError lives in survey.cli_errors, so ``python -m survey.cli`` (this file as
    # ``__main__``) catches the one the areas raise.
    sys.exit(main())
