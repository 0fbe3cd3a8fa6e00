"""The command line imports only what a command runs (issue 17): building the parser must not
pull in scipy.stats, matplotlib, WeasyPrint, Litestar or Piccolo — checked on ``sys.modules`` in a
fresh interpreter, not by timing — and every command module is wired in by an explicit import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("scipy.stats", "matplotlib", "weasyprint", "litestar", "piccolo", "pyarrow")

PROBE = """
import json, sys
import survey.cli
parser = survey.cli.build_parser()
{extra}
print(json.dumps(sorted(sys.modules)))
"""


def loaded_after(extra: str = "") -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(extra=extra)],
        check=True,
        capture_output=True,
        text=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_building_the_parser_imports_nothing_heavy() -> None:
    modules = loaded_after("parser.format_help()")
    assert heavy_in(modules) == []
    assert "survey.estimation.cli" in modules  # the probe really built the whole parser


@pytest.mark.parametrize(
    "argv",
    [
        ["policy", "list"],
        ["cati", "outcomes"],
        ["questionnaire", "list"],
    ],
)
def test_light_commands_stay_light(argv: list[str]) -> None:
    modules = loaded_after(
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert survey.cli.main({argv!r}) == 0"
    )
    assert heavy_in(modules) == []


def test_the_probe_sees_a_heavy_import() -> None:
    # the checks above can fail: the ranking ladder (used by `results compute`) needs scipy.stats
    assert "scipy.stats" in heavy_in(loaded_after("import survey.ranking.ladder"))


def test_every_command_module_is_wired_explicitly() -> None:
    import survey.cli

    parser = survey.cli.build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    for expected in ("migrate", "estimate", "questionnaire", "policy", "invitations", "sample"):
        assert expected in commands
    for expected in ("cati", "results", "report", "backup", "wave", "serve"):
        assert expected in commands
    assert all(hasattr(m, "register") for m in survey.cli.COMMAND_MODULES)
